"""Experimental conditions and their integer labels.

A condition is a compound at a concentration in µM, written ``<compound>@<concentration>``
(e.g. ``nocodazole@0.3``), or a treatment without a dose written by its name alone: the
control (``DMSO`` by default; ``untreated``, ``mock``, ``PBS``, ... when a screen names it so).
``DMSO`` is always spelled in capitals and has no dose (a vehicle's percentage is dropped).

A :class:`ConditionTable` maps conditions to the labels ``0 .. K-1`` the model is conditioned
on, in a stable order: the control first, then the other conditions alphabetically
(case-insensitive), each compound by increasing dose. It names its control (saved with the
model); label ``K`` (``table.null_label``) means "no condition", for classifier-free guidance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from phendiff.errors import PhendiffError

#: The control's name when nobody names another (``phendiff train --control``).
CONTROL = "DMSO"


def _format_concentration(value: float) -> str:
    # shortest round-trippable decimal: 0.3 -> "0.3", 1.0 -> "1", 1e-05 -> "1e-05"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Condition:
    """A compound at a concentration (µM); concentration 0 is a condition without a dose,
    named by the compound alone (``Condition("untreated")``, ``Condition("DMSO")``)."""

    compound: str
    concentration: float = 0.0

    def __post_init__(self) -> None:
        compound = str(self.compound).strip()
        if not compound or "@" in compound or "/" in compound or "\\" in compound:
            raise PhendiffError(
                f"condition compound {self.compound!r} is not valid; expected a non-empty name "
                "without '@' or path separators, e.g. 'nocodazole'"
            )
        concentration = float(self.concentration)
        if not math.isfinite(concentration) or concentration < 0:
            raise PhendiffError(
                f"concentration {self.concentration!r} for {compound!r} is not valid; "
                "expected a finite number >= 0 in µM, e.g. 'nocodazole@0.3'"
            )
        if compound.upper() == CONTROL:
            compound, concentration = CONTROL, 0.0
        object.__setattr__(self, "compound", compound)
        object.__setattr__(self, "concentration", concentration)

    @property
    def dosed(self) -> bool:
        """Whether the condition has a concentration (the control has none)."""
        return self.concentration != 0

    @property
    def name(self) -> str:
        """``<compound>@<concentration>``, or the compound alone without a dose (``DMSO``);
        parses back with :meth:`parse`."""
        if not self.dosed:
            return self.compound
        return f"{self.compound}@{_format_concentration(self.concentration)}"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse ``<compound>@<concentration µM>`` or a name without a dose (``DMSO``).

        >>> Condition.parse("nocodazole@0.3")
        Condition(compound='nocodazole', concentration=0.3)
        >>> Condition.parse("untreated").dosed
        False
        """
        text = str(text).strip()
        compound, sep, dose = text.partition("@")
        if not sep:
            return cls(compound)
        try:
            concentration = float(dose)
        except ValueError:
            raise PhendiffError(
                f"condition {text!r} has a malformed concentration {dose!r}; expected a number "
                "in µM after '@', e.g. 'nocodazole@0.3'"
            ) from None
        return cls(compound, concentration)

    def sort_key(self, control: Condition | str | None = None) -> tuple:
        """Table order: ``control`` first (without one: the conditions without a dose), then
        compounds A→Z, each by increasing dose."""
        first = not self.dosed if control is None else self == _as_condition(control)
        return (not first, self.compound.lower(), self.compound, self.concentration)


def _as_condition(value: Condition | str) -> Condition:
    return value if isinstance(value, Condition) else Condition.parse(value)


@dataclass(frozen=True)
class ConditionTable:
    """Conditions in label order. ``table.label(c)`` and ``table[i]`` are inverse maps.

    ``control`` is the untreated reference the others are compared with (one of
    ``conditions``), or None for a table without one (a model of treated images only).
    """

    conditions: tuple[Condition, ...]
    control: Condition | None = None

    def __post_init__(self) -> None:
        if not self.conditions:
            raise PhendiffError("no conditions found; expected at least one condition")
        if len(set(self.conditions)) != len(self.conditions):
            raise PhendiffError(f"duplicate conditions in {[c.name for c in self.conditions]}")
        if self.control is not None and self.control not in self.conditions:
            raise PhendiffError(
                f"control {self.control.name!r} is not among the conditions {', '.join(self.names)}"
            )

    @classmethod
    def from_conditions(
        cls, conditions: Iterable[Condition], control: str | None = None
    ) -> ConditionTable:
        """Build the table in canonical order (the control, then compounds A→Z by dose).

        ``control`` names the control (case-insensitive); None means ``DMSO`` when it is
        among the conditions. A named control that is not among them is an error, and so is
        leaving it unnamed when the conditions have no ``DMSO`` but other undosed ones
        (``untreated``): which of them is the control cannot be guessed. Every other
        condition needs a dose (a folder ``nocodazole`` is a mistake, not a treatment).
        """
        found = set(conditions)
        if not found:
            raise PhendiffError("no conditions found; expected at least one condition")
        names = ", ".join(c.name for c in sorted(found, key=Condition.sort_key))
        if control is None:
            chosen = Condition(CONTROL) if Condition(CONTROL) in found else None
            undosed = sorted(c.name for c in found if not c.dosed)
            if chosen is None and undosed:
                raise PhendiffError(
                    f"no {CONTROL} among the conditions ({names}); name the control with "
                    f"--control, e.g. --control {undosed[0]}"
                )
        else:
            chosen = _find(found, control)
            if chosen is None:
                raise PhendiffError(
                    f"control {control!r} is not among the conditions ({names}); pass "
                    "--control with one of them"
                )
        others = sorted(c.name for c in found if not c.dosed and c != chosen)
        if others:
            raise PhendiffError(
                f"conditions without a dose other than the control "
                f"({chosen.name if chosen else 'none'}): {', '.join(others)}; expected "
                f"'<compound>@<concentration in µM>', e.g. '{others[0]}@0.3' — give their "
                "doses, drop them with --compounds, or name the control with --control"
            )
        order = sorted(found, key=lambda c: c.sort_key(chosen))
        return cls(tuple(order), chosen)

    def __len__(self) -> int:
        return len(self.conditions)

    def __iter__(self):
        return iter(self.conditions)

    def __getitem__(self, label: int) -> Condition:
        return self.conditions[label]

    @property
    def null_label(self) -> int:
        """The "no condition" label ``K`` used for classifier-free guidance."""
        return len(self.conditions)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.conditions]

    @property
    def control_name(self) -> str | None:
        """The control's name, or None for a table without a control."""
        return None if self.control is None else self.control.name

    @property
    def compounds(self) -> list[str]:
        """Treatment compounds (not the control), in table order."""
        return list(dict.fromkeys(c.compound for c in self.conditions if c != self.control))

    def find(self, condition: Condition | str) -> Condition:
        """The table's condition named ``condition`` (compound case-insensitive)."""
        found = _find(self.conditions, condition)
        if found is None:
            name = condition.name if isinstance(condition, Condition) else str(condition).strip()
            raise PhendiffError(
                f"condition {name!r} is not known to this model; known conditions: "
                f"{', '.join(self.names)}"
            )
        return found

    def label(self, condition: Condition | str) -> int:
        return self.conditions.index(self.find(condition))

    def resolve(self, spec: str) -> list[Condition]:
        """Conditions named by ``spec``: a condition name, ``<compound>@all`` (dose series) or
        ``all`` (every condition of the model, the control first)."""
        if spec.strip().lower() == "all":
            return list(self.conditions)
        compound, sep, dose = spec.strip().partition("@")
        if sep and dose.strip().lower() == "all":
            series = [c for c in self.conditions if c.compound.lower() == compound.lower()]
            if not series:
                raise PhendiffError(
                    f"compound {compound!r} in {spec!r} is not known to this model; known "
                    f"compounds: {', '.join(self.compounds) or 'none'}"
                )
            return series
        return [self.find(spec)]

    def to_json(self) -> list[dict]:
        return [
            {
                "label": i,
                "name": c.name,
                "compound": c.compound,
                "concentration_uM": c.concentration,
                "control": c == self.control,
            }
            for i, c in enumerate(self.conditions)
        ]

    @classmethod
    def from_json(cls, rows: list[dict]) -> ConditionTable:
        """Read :meth:`to_json`'s rows; without ``control`` flags (models from before the
        control could be named), ``DMSO`` is the control when present."""
        try:
            ordered = sorted(rows, key=lambda r: int(r["label"]))
            if [int(r["label"]) for r in ordered] != list(range(len(ordered))):
                raise ValueError("labels are not 0..K-1")
            conditions = tuple(Condition(r["compound"], r["concentration_uM"]) for r in ordered)
            flagged = [c for c, r in zip(conditions, ordered, strict=True) if r.get("control")]
            if len(flagged) > 1:
                raise ValueError(f"{len(flagged)} conditions are marked as the control")
        except (KeyError, TypeError, ValueError) as exc:
            raise PhendiffError(
                f"condition table is malformed ({exc}); expected a list of "
                "{label, name, compound, concentration_uM, control} objects as written by "
                "phendiff"
            ) from None
        if any("control" in r for r in ordered):
            control = flagged[0] if flagged else None
        else:
            control = Condition(CONTROL) if Condition(CONTROL) in conditions else None
        return cls(conditions, control)


def _find(conditions: Iterable[Condition], wanted: Condition | str) -> Condition | None:
    """The condition of ``conditions`` equal to ``wanted``, else the one that differs only in
    the compound's case; None when there is none."""
    wanted = _as_condition(wanted)
    conditions = list(conditions)
    if wanted in conditions:
        return wanted
    same = [
        c for c in conditions
        if c.compound.lower() == wanted.compound.lower() and c.concentration == wanted.concentration
    ]  # fmt: skip
    return same[0] if len(same) == 1 else None

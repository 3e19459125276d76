"""Experimental conditions and their integer labels.

A condition is the untreated control ``DMSO`` or a compound at a concentration in µM,
written ``<compound>@<concentration>`` (e.g. ``nocodazole@0.3``). A :class:`ConditionTable`
maps conditions to the labels ``0 .. K-1`` the model is conditioned on, in a stable order:
DMSO first, then compounds alphabetically (case-insensitive), each by increasing dose.
Label ``K`` (``table.null_label``) means "no condition", for classifier-free guidance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from phendiff.errors import PhendiffError

CONTROL = "DMSO"


def _format_concentration(value: float) -> str:
    # shortest round-trippable decimal: 0.3 -> "0.3", 1.0 -> "1", 1e-05 -> "1e-05"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Condition:
    """A compound at a concentration (µM); the control is ``Condition("DMSO", 0.0)``."""

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
    def is_control(self) -> bool:
        return self.compound == CONTROL

    @property
    def name(self) -> str:
        """``DMSO`` or ``<compound>@<concentration>``; parses back with :meth:`parse`."""
        if self.is_control:
            return CONTROL
        return f"{self.compound}@{_format_concentration(self.concentration)}"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse ``DMSO`` or ``<compound>@<concentration µM>``.

        >>> Condition.parse("nocodazole@0.3")
        Condition(compound='nocodazole', concentration=0.3)
        """
        text = str(text).strip()
        if text.upper() == CONTROL:
            return cls(CONTROL)
        compound, sep, dose = text.partition("@")
        if not sep:
            raise PhendiffError(
                f"condition {text!r} is not valid; expected 'DMSO' or "
                "'<compound>@<concentration in µM>', e.g. 'nocodazole@0.3'"
            )
        try:
            concentration = float(dose)
        except ValueError:
            raise PhendiffError(
                f"condition {text!r} has a malformed concentration {dose!r}; expected a number "
                "in µM after '@', e.g. 'nocodazole@0.3'"
            ) from None
        return cls(compound, concentration)

    def sort_key(self) -> tuple:
        return (not self.is_control, self.compound.lower(), self.compound, self.concentration)


@dataclass(frozen=True)
class ConditionTable:
    """Conditions in label order. ``table.label(c)`` and ``table[i]`` are inverse maps."""

    conditions: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if not self.conditions:
            raise PhendiffError("no conditions found; expected at least one condition")
        if len(set(self.conditions)) != len(self.conditions):
            raise PhendiffError(f"duplicate conditions in {[c.name for c in self.conditions]}")

    @classmethod
    def from_conditions(cls, conditions: Iterable[Condition]) -> ConditionTable:
        """Build the table in canonical order (DMSO, then compounds A→Z by dose)."""
        return cls(tuple(sorted(set(conditions), key=Condition.sort_key)))

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
    def compounds(self) -> list[str]:
        """Treatment compounds (not the control), in table order."""
        return list(dict.fromkeys(c.compound for c in self.conditions if not c.is_control))

    def label(self, condition: Condition | str) -> int:
        if isinstance(condition, str):
            condition = Condition.parse(condition)
        try:
            return self.conditions.index(condition)
        except ValueError:
            raise PhendiffError(
                f"condition {condition.name!r} is not known to this model; known conditions: "
                f"{', '.join(self.names)}"
            ) from None

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
        return [self[self.label(spec)]]

    def to_json(self) -> list[dict]:
        return [
            {
                "label": i,
                "name": c.name,
                "compound": c.compound,
                "concentration_uM": c.concentration,
            }
            for i, c in enumerate(self.conditions)
        ]

    @classmethod
    def from_json(cls, rows: list[dict]) -> ConditionTable:
        try:
            ordered = sorted(rows, key=lambda r: int(r["label"]))
            if [int(r["label"]) for r in ordered] != list(range(len(ordered))):
                raise ValueError("labels are not 0..K-1")
            return cls(tuple(Condition(r["compound"], r["concentration_uM"]) for r in ordered))
        except (KeyError, TypeError, ValueError) as exc:
            raise PhendiffError(
                f"condition table is malformed ({exc}); expected a list of "
                "{label, name, compound, concentration_uM} objects as written by phendiff"
            ) from None

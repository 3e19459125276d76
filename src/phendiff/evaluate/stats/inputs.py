"""Input tables of the statistics: checks, canonical names and ordering, shared by all modules.

The tables are described in :mod:`phendiff.evaluate.stats`: one row per observation with
``kind``, ``condition`` and numeric feature columns. :func:`_prepare` turns one into a float64
copy with canonical condition names and NaN for non-finite values; the other helpers order
kinds (real, translated, then others) and conditions (:meth:`Condition.sort_key`) and check
that the kinds and the control are present.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from phendiff.conditions import Condition
from phendiff.errors import PhendiffError

REAL, TRANSLATED = "real", "translated"
_RESERVED = ("kind", "condition", "compound", "concentration", "n")


def _prepare(table: pd.DataFrame, features: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """A float64 copy ``kind, condition, *features`` with canonical names and NaN for inf."""
    if not isinstance(table, pd.DataFrame):
        raise PhendiffError(f"table is a {type(table).__name__}; expected a pandas DataFrame")
    features = [features] if isinstance(features, str) else list(features)
    missing = [c for c in ("kind", "condition") if c not in table.columns]
    if missing:
        raise PhendiffError(
            f"table lacks the columns {missing}; expected 'kind' and 'condition' beside the "
            f"features (columns present: {list(table.columns)[:8]})"
        )
    if not features:
        raise PhendiffError("no features given; pass the feature column names as features=")
    absent = [f for f in features if f not in table.columns]
    if absent:
        raise PhendiffError(
            f"{len(absent)} features not in the table, e.g. {absent[:3]}; expected column "
            "names of the table (phendiff.evaluate.features.feature_columns lists them)"
        )
    clash = sorted({f for f in features if f in _RESERVED} | _duplicates(features))
    if clash:
        raise PhendiffError(f"features {clash} are repeated or reserved names; pass each once")
    for f in features:
        dtype = table[f].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise PhendiffError(f"feature {f!r} has dtype {dtype}; expected numbers")
    # a copy: under copy-on-write pandas may hand back a read-only view
    values = np.array(table[features].to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
    values[~np.isfinite(values)] = np.nan  # inf is as undefined as NaN for a mean or a test
    names = {n: Condition.parse(n).name for n in table["condition"].astype(str).unique()}
    data = pd.DataFrame(values, columns=features, index=table.index)
    data.insert(0, "condition", table["condition"].astype(str).map(names).to_numpy())
    data.insert(0, "kind", table["kind"].astype(str).to_numpy())
    return data, features


def _duplicates(items: Sequence[str]) -> set[str]:
    return {x for x, count in Counter(items).items() if count > 1}


def _kind_key(kind: str) -> tuple:
    order = (REAL, TRANSLATED)
    return (order.index(kind) if kind in order else len(order), kind)


def _sorted_conditions(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=lambda n: Condition.parse(n).sort_key())


def _require_kinds(kinds: Iterable[str], what: str) -> None:
    present = sorted(set(kinds), key=_kind_key)
    if REAL not in present or TRANSLATED not in present:
        raise PhendiffError(
            f"{what} needs rows of kind 'real' and 'translated'; kinds present: {present}"
        )


def _require_control(control: str, names: Iterable[str], kind: str) -> None:
    names = _sorted_conditions(names)
    if control not in names:
        raise PhendiffError(
            f"control {control!r} has no {kind} rows; conditions present for {kind}: "
            f"{', '.join(names) or 'none'} — pass control= the control condition's name"
        )


def _with_condition_columns(frame: pd.DataFrame, at: int) -> pd.DataFrame:
    """Insert ``compound`` and ``concentration`` parsed from ``condition`` at column ``at``."""
    parsed = [Condition.parse(n) for n in frame["condition"]]
    frame.insert(at, "compound", [c.compound for c in parsed])
    frame.insert(at + 1, "concentration", np.array([c.concentration for c in parsed], float))
    return frame

"""Real vs translated: do the tests against the control reach the same conclusions?

On a table from :func:`phendiff.evaluate.stats.significance.condition_tests`,
:func:`agreement` classifies every (condition, feature) pair by its outcome on real and on
translated images (both significant in the same direction, opposite, only one, neither) and
summarises the rate of same conclusions per condition, per compound and overall;
:func:`effect_size_correlation` correlates the real and translated effect sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sstats

from phendiff.conditions import Condition
from phendiff.errors import PhendiffError
from phendiff.evaluate.stats.correlations import _is_constant
from phendiff.evaluate.stats.inputs import (
    REAL,
    TRANSLATED,
    _require_kinds,
    _with_condition_columns,
)

OUTCOMES = ("both_significant", "opposite", "only_real", "only_translated", "both_null")


def _check_tests(tests: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    if not isinstance(tests, pd.DataFrame):
        raise PhendiffError(f"tests is a {type(tests).__name__}; expected a pandas DataFrame")
    missing = [c for c in needed if c not in tests.columns]
    if missing:
        raise PhendiffError(
            f"tests lacks the columns {missing}; expected a table from condition_tests"
        )
    _require_kinds(tests["kind"].astype(str), what)
    if tests.duplicated(["kind", "condition", "feature"]).any():
        raise PhendiffError(
            "tests has repeated (kind, condition, feature) rows; expected one test each"
        )


def _pairs(tests: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Real and translated rows joined on (condition, feature), suffixed _real/_translated."""
    tests = tests.assign(
        kind=tests["kind"].astype(str),
        condition=[Condition.parse(n).name for n in tests["condition"].astype(str)],
    )
    keep = ["condition", "feature", *columns]
    real = tests.loc[tests["kind"] == REAL, keep]
    translated = tests.loc[tests["kind"] == TRANSLATED, keep]
    return real.merge(translated, on=["condition", "feature"], suffixes=("_real", "_translated"))


def _outcome(
    significant_real: bool,
    significant_translated: bool,
    direction_real: int,
    direction_translated: int,
) -> str:
    if significant_real and significant_translated:
        return "both_significant" if direction_real == direction_translated else "opposite"
    if significant_real:
        return "only_real"
    return "only_translated" if significant_translated else "both_null"


def _summarise(group: pd.DataFrame, level: str, compound: str, condition: str) -> dict:
    tested = group[group["outcome"] != "untested"]
    counts = {o: int((tested["outcome"] == o).sum()) for o in OUTCOMES}
    n = len(tested)
    same = counts["both_significant"] + counts["both_null"]
    return {
        "level": level,
        "compound": compound,
        "condition": condition,
        "n_pairs": n,
        "same_conclusion_rate": same / n if n else np.nan,
        **counts,
        "n_untested": len(group) - n,
    }


def agreement(tests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Do real and translated images lead to the same conclusion, condition by feature?

    A pair (condition, feature) has the same conclusion when neither test is significant, or
    both are, in the same direction. Pairs where either p is NaN are "untested" and left out
    of the rates.

    Parameters
    ----------
    tests : pandas.DataFrame
        A table from :func:`condition_tests` with both kinds; needs ``kind``, ``condition``,
        ``feature``, ``p``, ``significant`` and ``direction`` (``effect`` is carried along if
        present).

    Returns
    -------
    per_pair : pandas.DataFrame
        One row per (condition, feature) tested in both kinds, conditions by dose:
        ``condition``, ``compound``, ``concentration``, ``feature``, then ``p``,
        ``significant``, ``direction`` (and ``effect``) suffixed ``_real`` and
        ``_translated``, ``outcome`` (one of ``both_significant`` — same direction —,
        ``opposite``, ``only_real``, ``only_translated``, ``both_null``, ``untested``) and
        ``same_conclusion`` (nullable boolean, NA when untested).
    summary : pandas.DataFrame
        ``level`` (``"condition"``, ``"compound"`` or ``"all"``), ``compound``, ``condition``
        (``<compound>@all`` on compound rows, ``"all"`` on the overall row), ``n_pairs``
        (tested pairs), ``same_conclusion_rate``, ``both_significant``, ``opposite``,
        ``only_real``, ``only_translated``, ``both_null`` (counts) and ``n_untested``. Each
        compound's condition rows come before its compound row; the overall row is last.
    """
    _check_tests(
        tests, ["kind", "condition", "feature", "p", "significant", "direction"], "agreement"
    )
    carried = ["p", "significant", "direction"] + (["effect"] if "effect" in tests else [])
    pairs = _pairs(tests, carried)
    tested = np.isfinite(pairs["p_real"].to_numpy(float)) & np.isfinite(
        pairs["p_translated"].to_numpy(float)
    )
    outcome = [
        _outcome(bool(sr), bool(st), int(dr), int(dt)) if ok else "untested"
        for ok, sr, st, dr, dt in zip(
            tested,
            pairs["significant_real"],
            pairs["significant_translated"],
            pairs["direction_real"],
            pairs["direction_translated"],
            strict=True,
        )
    ]
    pairs["outcome"] = outcome
    pairs["same_conclusion"] = pd.array(
        [pd.NA if o == "untested" else o in ("both_significant", "both_null") for o in outcome],
        dtype="boolean",
    )
    pairs = _with_condition_columns(pairs, at=1)
    order = sorted(
        range(len(pairs)), key=lambda i: (Condition.parse(pairs["condition"].iat[i]).sort_key(), i)
    )
    pairs = pairs.iloc[order].reset_index(drop=True)

    rows = []
    for compound in dict.fromkeys(pairs["compound"]):  # already in sort-key order
        of_compound = pairs[pairs["compound"] == compound]
        for condition in dict.fromkeys(of_compound["condition"]):
            group = of_compound[of_compound["condition"] == condition]
            rows.append(_summarise(group, "condition", compound, condition))
        rows.append(_summarise(of_compound, "compound", compound, f"{compound}@all"))
    rows.append(_summarise(pairs, "all", "all", "all"))
    return pairs, pd.DataFrame(rows)


def effect_size_correlation(tests: pd.DataFrame) -> float:
    """Pearson r between real and translated Hedges' g over all (condition, feature) pairs.

    Parameters
    ----------
    tests : pandas.DataFrame
        A table from :func:`condition_tests` with both kinds (``kind``, ``condition``,
        ``feature``, ``effect``).

    Returns
    -------
    float
        r over the pairs where both effects are finite; NaN with fewer than 3 such pairs or
        when either set of effects is constant.
    """
    _check_tests(tests, ["kind", "condition", "feature", "effect"], "effect_size_correlation")
    pairs = _pairs(tests, ["effect"])
    x = pairs["effect_real"].to_numpy(np.float64)
    y = pairs["effect_translated"].to_numpy(np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or _is_constant(x) or _is_constant(y):
        return float("nan")
    return float(sstats.pearsonr(x, y).statistic)

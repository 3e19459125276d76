"""Tests against the control (PhenDiff Fig. 2b), per kind, condition and feature.

:func:`condition_tests` tests every condition against the control of the same kind (Welch's
t-test or Mann–Whitney U), reports Hedges' g as the effect size and corrects the p-values
for multiple testing with :func:`adjust_pvalues` (Benjamini–Hochberg or Bonferroni).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sstats

from phendiff.conditions import CONTROL, Condition
from phendiff.errors import PhendiffError
from phendiff.evaluate.stats.inputs import (
    _kind_key,
    _prepare,
    _require_control,
    _sorted_conditions,
    _with_condition_columns,
)

logger = logging.getLogger(__name__)

TESTS = ("welch", "mannwhitney")
CORRECTIONS = ("fdr_bh", "bonferroni", "none")


def adjust_pvalues(p: Sequence[float] | np.ndarray, method: str = "fdr_bh") -> np.ndarray:
    """Adjust p-values for multiple testing over their finite entries.

    Parameters
    ----------
    p : array_like, shape (m,)
        p-values in [0, 1]; NaN entries stay NaN and do not count as tests.
    method : {"fdr_bh", "bonferroni", "none"}, default "fdr_bh"
        ``"fdr_bh"``: Benjamini–Hochberg q-values, ``q_(i) = min_{j >= i} m p_(j) / j``
        over the sorted p-values (the step-up procedure, monotone in p), capped at 1.
        ``"bonferroni"``: ``min(1, m p)``. ``"none"``: p unchanged.

    Returns
    -------
    numpy.ndarray, shape (m,), float64

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
    [0.02, 0.04, 0.04, 0.02]
    """
    if method not in CORRECTIONS:
        raise PhendiffError(f"correction {method!r} is not known; expected one of {CORRECTIONS}")
    p = np.asarray(p, dtype=np.float64).ravel()
    finite = np.isfinite(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise PhendiffError("p-values outside [0, 1]; expected probabilities")
    out = np.full(p.shape, np.nan)
    m = int(finite.sum())
    if method == "none" or m == 0:
        out[finite] = p[finite]
    elif method == "bonferroni":
        out[finite] = np.minimum(p[finite] * m, 1.0)
    else:
        order = np.argsort(p[finite], kind="stable")
        scaled = p[finite][order] * m / np.arange(1, m + 1)
        # step-up: a p-value's q is the smallest scaled value at its rank or above
        q = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        ranked = np.empty(m)
        ranked[order] = q
        out[finite] = ranked
    return out


def _moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column count, mean and sample variance (ddof 1) of finite values; NaN if undefined.

    Written out, not nanmean/nanvar, so that empty columns give NaN without warnings.
    """
    finite = np.isfinite(values)
    n = finite.sum(axis=0)
    filled = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n
        dev = np.where(finite, values - mean, 0.0)
        var = (dev**2).sum(axis=0) / (n - 1)
    var = np.where(n >= 2, var, np.nan)
    return n, mean, var


def _hedges_g(n1, m1, v1, n2, m2, v2) -> np.ndarray:
    """Hedges' g of group 1 vs group 2: Cohen's d with the pooled SD, times J(df).

    J(df) = Γ(df/2) / (sqrt(df/2) Γ((df−1)/2)), df = n1 + n2 − 2, is the exact small-sample
    bias correction (Hedges 1981); ≈ 1 − 3 / (4 df − 1).
    """
    df = (n1 + n2 - 2).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / df)
        d = (m1 - m2) / pooled
        j = np.exp(special.gammaln(df / 2) - 0.5 * np.log(df / 2) - special.gammaln((df - 1) / 2))
    return np.where((df >= 2) & (pooled > 0), d * j, np.nan)


def _welch(n1, m1, v1, n2, m2, v2) -> tuple[np.ndarray, np.ndarray]:
    """Welch's t and its two-sided p with the Welch–Satterthwaite degrees of freedom."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = v1 / n1, v2 / n2
        t = (m1 - m2) / np.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
    ok = (n1 >= 2) & (n2 >= 2) & (a + b > 0)
    t = np.where(ok, t, np.nan)
    p = np.where(ok, 2 * sstats.t.sf(np.abs(t), np.where(ok, df, 1.0)), np.nan)
    return t, p


def _mannwhitney(values: np.ndarray, control: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann–Whitney U of the condition and its two-sided p, one feature at a time."""
    u = np.full(values.shape[1], np.nan)
    p = np.full(values.shape[1], np.nan)
    for j in range(values.shape[1]):
        x = values[:, j][np.isfinite(values[:, j])]
        y = control[:, j][np.isfinite(control[:, j])]
        # all values tied: no ranks to compare (scipy would divide by a zero variance)
        if len(x) >= 2 and len(y) >= 2 and np.ptp(np.concatenate([x, y])) > 0:
            result = sstats.mannwhitneyu(x, y, alternative="two-sided")
            u[j], p[j] = result.statistic, result.pvalue
    return u, p


def _compare(values: np.ndarray, control: np.ndarray, test: str) -> dict[str, np.ndarray]:
    """Statistics of condition rows ``(n1, F)`` vs control rows ``(n2, F)`` per feature."""
    n1, m1, v1 = _moments(values)
    n2, m2, v2 = _moments(control)
    if test == "welch":
        statistic, p = _welch(n1, m1, v1, n2, m2, v2)
    else:
        statistic, p = _mannwhitney(values, control)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(m2 != 0, (m1 - m2) / m2, np.nan)
    note = np.where(
        (n1 < 2) | (n2 < 2),
        [f"fewer than 2 values (condition {a}, control {b})" for a, b in zip(n1, n2, strict=True)],
        np.where(np.isnan(p), "no variation to test", ""),
    )
    return {
        "n_condition": n1,
        "n_control": n2,
        "statistic": statistic,
        "p": p,
        "effect": _hedges_g(n1, m1, v1, n2, m2, v2),
        "mean_condition": m1,
        "mean_control": m2,
        "mean_diff": m1 - m2,
        "relative_diff": relative,
        "note": note,
    }


def _warn_if_cells(table: pd.DataFrame) -> None:
    keys = ["kind", "condition", "image"]
    if "image" in table.columns and table.duplicated(keys).any():
        logger.warning(
            "several rows per image: cells of one image are pseudo-replicates and make "
            "p-values too small; test per-image means (features.aggregate by kind, "
            "condition, image)"
        )


def condition_tests(
    table: pd.DataFrame,
    features: Sequence[str],
    control: str = CONTROL,
    alpha: float = 0.05,
    test: str = "welch",
    correction: str = "fdr_bh",
) -> pd.DataFrame:
    """Two-sided test of every condition against the control of the same kind, per feature.

    Real conditions are tested against real control rows, translated conditions against
    translated control rows (the control's round trips), so a bias the model adds to every
    image cancels.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows (one per image, see :mod:`phendiff.evaluate.stats`) with ``kind``, ``condition`` and
        ``features``.
    features : sequence of str
        Numeric feature columns.
    control : str, default "DMSO"
        The control condition; every kind must have rows of it.
    alpha : float, default 0.05
        Significance level applied to the corrected p-values.
    test : {"welch", "mannwhitney"}, default "welch"
        Welch's unequal-variance t-test (statistic t) or the Mann–Whitney U test
        (statistic U of the condition).
    correction : {"fdr_bh", "bonferroni", "none"}, default "fdr_bh"
        Multiple-testing correction within each kind over all (condition, feature) pairs
        (:func:`adjust_pvalues`).

    Returns
    -------
    pandas.DataFrame
        One row per (kind, non-control condition, feature): ``kind``, ``condition``,
        ``compound``, ``concentration``, ``feature``, ``n_condition``, ``n_control``
        (finite values), ``statistic``, ``p``, ``q`` (corrected p), ``significant``
        (``q < alpha``), ``effect`` (Hedges' g, condition − control over the pooled SD,
        bias-corrected), ``mean_condition``, ``mean_control``, ``mean_diff`` (condition −
        control), ``relative_diff`` (``mean_diff / mean_control``), ``direction`` (sign of
        ``mean_diff`` if significant, else 0) and ``note``: ``""``, or why p is NaN (fewer
        than 2 values in a group, or no variation to test).

    Raises
    ------
    PhendiffError
        If the control has no rows of some kind (the message lists the conditions present),
        or an argument is not one of the choices.
    """
    if test not in TESTS:
        raise PhendiffError(f"test {test!r} is not known; expected one of {TESTS}")
    if correction not in CORRECTIONS:
        raise PhendiffError(
            f"correction {correction!r} is not known; expected one of {CORRECTIONS}"
        )
    if not 0 < alpha < 1:
        raise PhendiffError(f"alpha = {alpha!r}; expected a level between 0 and 1, e.g. 0.05")
    control = Condition.parse(control).name
    data, features = _prepare(table, features)
    _warn_if_cells(table)
    frames = []
    for kind in sorted(data["kind"].unique(), key=_kind_key):
        rows = data[data["kind"] == kind]
        _require_control(control, rows["condition"], kind)
        reference = rows.loc[rows["condition"] == control, features].to_numpy()
        parts = []
        for name in _sorted_conditions(rows["condition"]):
            if name == control:
                continue
            values = rows.loc[rows["condition"] == name, features].to_numpy()
            part = pd.DataFrame(_compare(values, reference, test))
            part.insert(0, "feature", features)
            part.insert(0, "condition", name)
            parts.append(part)
        if parts:
            part = pd.concat(parts, ignore_index=True)
            part.insert(0, "kind", kind)
            part["q"] = adjust_pvalues(part["p"].to_numpy(), correction)
            frames.append(part)
    columns = [
        "kind",
        "condition",
        "compound",
        "concentration",
        "feature",
        "n_condition",
        "n_control",
        "statistic",
        "p",
        "q",
        "significant",
        "effect",
        "mean_condition",
        "mean_control",
        "mean_diff",
        "relative_diff",
        "direction",
        "note",
    ]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = _with_condition_columns(pd.concat(frames, ignore_index=True), at=2)
    out["significant"] = (out["q"] < alpha).to_numpy()  # NaN q compares False
    out["direction"] = np.where(out["significant"], np.sign(out["mean_diff"]), 0).astype(int)
    return out[columns]

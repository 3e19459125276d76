"""Dose response (PhenDiff Fig. 4): do translated condition means follow the real dose curve?

:func:`condition_means` gives the mean of each feature per (kind, condition);
:func:`dose_correlations` correlates real with translated means along each compound's dose
series, the control included as dose 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sstats

from phendiff.conditions import CONTROL, Condition
from phendiff.errors import PhendiffError
from phendiff.evaluate.stats.inputs import (
    REAL,
    TRANSLATED,
    _kind_key,
    _prepare,
    _require_control,
    _require_kinds,
    _sorted_conditions,
    _with_condition_columns,
)


def condition_means(table: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Mean of each feature per (kind, condition).

    Parameters
    ----------
    table : pandas.DataFrame
        Rows ``(n_rows,)`` with ``kind``, ``condition`` and the ``features`` columns.
    features : sequence of str
        Numeric feature columns, e.g. those named ``Nuclei_*`` or ``Cells_*``.

    Returns
    -------
    pandas.DataFrame
        One row per (kind, condition): ``kind``, ``condition``, ``compound``,
        ``concentration`` (µM, 0 for the control), ``n`` (rows in the group) and the mean of
        each feature over its finite values (NaN if none). Kinds ordered real, translated,
        then others; conditions by :meth:`Condition.sort_key` (control, then compounds by
        dose).
    """
    data, features = _prepare(table, features)
    grouped = data.groupby(["kind", "condition"], sort=False)
    out = grouped[features].mean()
    out.insert(0, "n", grouped.size().astype(np.int64))
    out = _with_condition_columns(out.reset_index(), at=2)
    order = sorted(
        range(len(out)),
        key=lambda i: (
            _kind_key(out["kind"].iat[i]),
            Condition.parse(out["condition"].iat[i]).sort_key(),
        ),
    )
    return out.iloc[order].reset_index(drop=True)


def _kind_means(table, features, control: str, what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Condition means of the real and of the translated rows, indexed by condition; both
    kinds and the control in each are required (``what`` names the caller in the error)."""
    means = condition_means(table, features)
    _require_kinds(means["kind"], what)
    real = means[means["kind"] == REAL].set_index("condition")
    translated = means[means["kind"] == TRANSLATED].set_index("condition")
    _require_control(control, real.index, REAL)
    _require_control(control, translated.index, TRANSLATED)
    return real, translated


def _is_constant(x: np.ndarray) -> bool:
    # Pearson r is undefined for a constant series; scipy also warns when the spread is
    # below ~2e-12 of the mean (r then loses its precision), so call anything within 1e-10
    # of constant "constant" and never reach either warning.
    span = float(np.ptp(x))
    return span == 0.0 or span <= 1e-10 * float(np.max(np.abs(x)))


def dose_correlations(
    table: pd.DataFrame,
    features: Sequence[str],
    control: str = CONTROL,
    min_points: int = 3,
) -> pd.DataFrame:
    """Pearson r of real vs translated condition means along each compound's dose series.

    The series of a compound is the control (dose 0: every translation starts from it, so
    it anchors the curve) and the compound's concentrations present in both kinds. A point
    counts for a feature when its real and its translated mean are both finite.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with ``kind`` (``"real"`` and ``"translated"``), ``condition`` and ``features``.
    features : sequence of str
        Numeric feature columns.
    control : str, default "DMSO"
        The control condition; it must have rows of both kinds.
    min_points : int, default 3
        Fewest points (doses including the control) for which r is computed.

    Returns
    -------
    pandas.DataFrame
        One row per (compound, feature), compounds A→Z and features in the given order:
        ``compound``, ``feature``, ``r`` and ``p`` (two-sided, Pearson), ``n_points``,
        ``real_range`` and ``translated_range`` (max − min of the means over the points; a
        small ``real_range`` flags a feature the compound does not change) and ``reason``:
        ``""`` when r was computed, else ``"too few doses"`` (fewer than ``min_points``
        points) or ``"constant"`` (a series is constant within 1e-10 of its magnitude);
        r and p are then NaN.

    Raises
    ------
    PhendiffError
        If either kind is missing, or the control has no rows of a kind.
    """
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 2:
        raise PhendiffError(f"min_points = {min_points!r}; expected an integer >= 2")
    control = Condition.parse(control).name
    features = [features] if isinstance(features, str) else list(features)
    real, translated = _kind_means(table, features, control, "dose_correlations")

    shared = [n for n in real.index if n in translated.index and n != control]
    compounds = sorted(
        {Condition.parse(n).compound for n in [*real.index, *translated.index]}
        - {Condition.parse(control).compound},
        key=lambda c: (c.lower(), c),
    )
    rows = []
    for compound in compounds:
        series = [control] + _sorted_conditions(
            n for n in shared if Condition.parse(n).compound == compound
        )
        x_all = real.loc[series, features].to_numpy(np.float64)
        y_all = translated.loc[series, features].to_numpy(np.float64)
        for j, feature in enumerate(features):
            rows.append(
                {
                    "compound": compound,
                    "feature": feature,
                    **_correlate(x_all[:, j], y_all[:, j], min_points),
                }
            )
    columns = [
        "compound",
        "feature",
        "r",
        "p",
        "n_points",
        "real_range",
        "translated_range",
        "reason",
    ]
    return pd.DataFrame(rows, columns=columns)


def _correlate(x: np.ndarray, y: np.ndarray, min_points: int) -> dict:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    out = {
        "r": np.nan,
        "p": np.nan,
        "n_points": n,
        "real_range": float(np.ptp(x)) if n else np.nan,
        "translated_range": float(np.ptp(y)) if n else np.nan,
        "reason": "",
    }
    if n < min_points:
        out["reason"] = "too few doses"
    elif _is_constant(x) or _is_constant(y):
        out["reason"] = "constant"
    else:
        result = sstats.pearsonr(x, y)
        out["r"], out["p"] = float(result.statistic), float(result.pvalue)
    return out


def standardised_effects(
    table: pd.DataFrame, features: Sequence[str], control: str = CONTROL
) -> pd.DataFrame:
    """Fig. 4's points: each condition's shift from the control, real vs translated, in SDs.

    For a feature and a condition, ``real = (mean_real(condition) − mean_real(control)) / s``
    and ``translated = (mean_translated(condition) − mean_translated(control)) / s``, where
    ``s`` is the SD of the real control rows (ddof 1). Each kind is measured from its own
    control (a translated condition from the translated control: the model's round-trip
    error cancels) and both in the same unit, so a translation that reproduces an effect
    exactly puts its point on the diagonal.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with ``kind`` (``"real"`` and ``"translated"``), ``condition`` and ``features``.
    features : sequence of str
        Numeric feature columns.
    control : str, default "DMSO"

    Returns
    -------
    pandas.DataFrame
        One row per (compound, condition, feature) with both means finite and ``s > 0``:
        ``compound``, ``condition``, ``concentration``, ``feature``, ``real``,
        ``translated``; compounds A→Z, then doses ascending, then features in order.

    Examples
    --------
    >>> t = pd.DataFrame({"kind": ["real"] * 4 + ["translated"] * 4,
    ...                   "condition": ["DMSO", "DMSO", "a@1", "a@1"] * 2,
    ...                   "f": [0., 2., 4., 6., 1., 1., 3., 3.]})
    >>> standardised_effects(t, ["f"])[["real", "translated"]].round(3).values.tolist()
    [[2.828, 1.414]]
    """
    control = Condition.parse(control).name
    data, features = _prepare(table, features)
    real, translated = _kind_means(data, features, control, "standardised_effects")
    rows = data[(data["kind"] == REAL) & (data["condition"] == control)]
    spread = rows[features].std(ddof=1)
    shared = _sorted_conditions(n for n in real.index if n in translated.index and n != control)
    shared.sort(key=lambda n: (Condition.parse(n).compound.lower(), Condition.parse(n).sort_key()))
    out = []
    for name in shared:
        condition = Condition.parse(name)
        for feature in features:
            s = spread[feature]
            if not (np.isfinite(s) and s > 0):
                continue  # no spread in the control: no unit to measure a shift in
            x = (real.at[name, feature] - real.at[control, feature]) / s
            y = (translated.at[name, feature] - translated.at[control, feature]) / s
            if np.isfinite(x) and np.isfinite(y):
                out.append(
                    {
                        "compound": condition.compound,
                        "condition": name,
                        "concentration": condition.concentration,
                        "feature": feature,
                        "real": float(x),
                        "translated": float(y),
                    }
                )
    columns = ["compound", "condition", "concentration", "feature", "real", "translated"]
    return pd.DataFrame(out, columns=columns)


def effect_correlations(points: pd.DataFrame) -> pd.DataFrame:
    """Pearson r of the :func:`standardised_effects` points, per compound and over all.

    Returns
    -------
    pandas.DataFrame
        ``compound`` (``"all"`` last), ``r``, ``p``, ``n_points``; r and p are NaN below 3
        points or when either coordinate is constant.
    """
    groups = [(c, g) for c, g in points.groupby("compound", sort=True)] + [("all", points)]
    rows = []
    for compound, g in groups:
        x, y = g["real"].to_numpy(np.float64), g["translated"].to_numpy(np.float64)
        r = _correlate(x, y, 3)
        rows.append({"compound": compound, "r": r["r"], "p": r["p"], "n_points": r["n_points"]})
    return pd.DataFrame(rows, columns=["compound", "r", "p", "n_points"])


def dose_response(
    table: pd.DataFrame, features: Sequence[str], level: float = 0.95
) -> pd.DataFrame:
    """Mean of each feature per (kind, condition) with its t confidence interval.

    The interval is ``mean ± t_{(1+level)/2, n−1} · sd / √n`` over the rows of the group
    (per-image means: the row is the unit, see the package notes); NaN below 2 values.

    Returns
    -------
    pandas.DataFrame
        One row per (kind, condition, feature), ordered like :func:`condition_means`:
        ``kind``, ``condition``, ``compound``, ``concentration``, ``feature``, ``n``,
        ``mean``, ``low``, ``high``.

    Examples
    --------
    >>> t = pd.DataFrame({"kind": "real", "condition": "DMSO", "f": [1., 2., 3.]})
    >>> dose_response(t, ["f"])[["mean", "low", "high"]].round(3).values.tolist()
    [[2.0, -0.484, 4.484]]
    """
    if not 0 < level < 1:
        raise PhendiffError(f"level = {level!r}; expected a confidence level in (0, 1), e.g. 0.95")
    data, features = _prepare(table, features)
    keys = condition_means(data, features)[["kind", "condition", "compound", "concentration"]]
    grouped = data.groupby(["kind", "condition"], sort=False)
    rows = []
    for kind, name, compound, dose in keys.itertuples(index=False):
        group = grouped.get_group((kind, name))
        for feature in features:
            v = group[feature].to_numpy(np.float64)
            v = v[np.isfinite(v)]
            n = v.size
            mean = float(v.mean()) if n else np.nan
            half = np.nan
            if n >= 2:
                half = float(sstats.t.ppf((1 + level) / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
            rows.append(
                {
                    "kind": kind,
                    "condition": name,
                    "compound": compound,
                    "concentration": dose,
                    "feature": feature,
                    "n": n,
                    "mean": mean,
                    "low": mean - half,
                    "high": mean + half,
                }
            )
    columns = ["kind", "condition", "compound", "concentration", "feature", "n", "mean", "low",
               "high"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)

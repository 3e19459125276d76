"""Do translated images reproduce real phenotypes? Dose responses and tests against control.

Two questions from the PhenDiff paper, each answered on real and on translated images:

* **Dose response** (Fig. 4): do the per-condition means of a feature follow the same curve
  across a compound's concentrations? :func:`condition_means`, :func:`dose_correlations`.
* **Conclusions** (Fig. 2b): does a test of a condition against the control say the same
  thing on real and on translated images? :func:`condition_tests`, :func:`agreement`,
  :func:`effect_size_correlation`.

Input tables
------------
One row per observation with a ``condition`` column (``DMSO``, ``latrunculin@0.3``), a
``kind`` column (``"real"`` or ``"translated"``; other kinds, e.g. a copy baseline, are
accepted where real and translated are not paired) and numeric feature columns, named
explicitly by ``features``. An ``image`` column and other columns are ignored.

**The row is the unit of analysis.** Use one row per image (per-image means of per-cell
features: :func:`phendiff.evaluate.features.aggregate` with ``by=("kind", "condition",
"image")``). Cells of one image share its well, focus and staining, so they are
pseudo-replicates: testing them as independent samples makes p-values far too small.

Translated control rows are round trips of control images (inverted and regenerated under
the control), so a translated condition is tested against the translated control: both
carry the model's reconstruction error, which then cancels. Non-finite feature values are
treated as missing. Condition names are canonicalised (``dmso`` → ``DMSO``).

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({
...     "kind": ["real"] * 4 + ["translated"] * 4,
...     "condition": ["DMSO", "DMSO", "noc@1", "noc@1"] * 2,
...     "Cells_AreaShape_Area": [10., 12., 20., 22., 11., 13., 19., 23.]})
>>> means = condition_means(table, ["Cells_AreaShape_Area"])
>>> means["Cells_AreaShape_Area"].tolist()  # real DMSO, real noc@1, translated DMSO, noc@1
[11.0, 21.0, 12.0, 21.0]
>>> tests = condition_tests(table, ["Cells_AreaShape_Area"])
>>> tests[["kind", "condition", "effect"]].round(2).values.tolist()
[['real', 'noc@1', 3.99], ['translated', 'noc@1', 2.27]]
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sstats

from phendiff.conditions import CONTROL, Condition
from phendiff.errors import PhendiffError

logger = logging.getLogger(__name__)

REAL, TRANSLATED = "real", "translated"
TESTS = ("welch", "mannwhitney")
CORRECTIONS = ("fdr_bh", "bonferroni", "none")
OUTCOMES = ("both_significant", "opposite", "only_real", "only_translated", "both_null")
_RESERVED = ("kind", "condition", "compound", "concentration", "n")


# --------------------------------------------------------------------------- input checks


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


# --------------------------------------------------------------------------- dose response


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
    means = condition_means(table, features)
    features = [features] if isinstance(features, str) else list(features)
    _require_kinds(means["kind"], "dose_correlations")
    real = means[means["kind"] == REAL].set_index("condition")
    translated = means[means["kind"] == TRANSLATED].set_index("condition")
    _require_control(control, real.index, REAL)
    _require_control(control, translated.index, TRANSLATED)

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


# --------------------------------------------------------------------------- tests vs control


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
        Rows (one per image, see the module notes) with ``kind``, ``condition`` and
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


# --------------------------------------------------------------------------- real vs translated


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

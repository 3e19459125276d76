"""Statistics of real vs translated phenotypes, on data whose answer is known."""

from __future__ import annotations

import doctest
import logging
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sstats

from phendiff.errors import PhendiffError
from phendiff.evaluate import stats
from phendiff.evaluate.stats import (
    adjust_pvalues,
    agreement,
    condition_means,
    condition_tests,
    dose_correlations,
    effect_size_correlation,
)


@pytest.fixture(autouse=True)
def no_warnings():
    # every function here promises NaN and a reason, never a warning storm
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_doctests():
    # the package and its modules: doctest.testmod skips re-exported functions
    for module in (stats, stats.correlations, stats.significance, stats.conclusions, stats.inputs):
        assert doctest.testmod(module).failed == 0


# --------------------------------------------------------------------------- dose response

DOSES = [0.1, 0.3, 1.0, 3.0]
REAL_UP = np.array([1.0, 2.0, 4.5, 7.0, 12.0])  # DMSO then the four doses
NOISY_REAL = np.array([0.3, -1.2, 0.8, 2.5, 1.1])
NOISY_TRANSLATED = np.array([0.1, -0.4, 1.5, 1.9, 0.2])


def _dose_table() -> pd.DataFrame:
    """Two rows (mean ± 1) per (kind, condition), so each mean is the value set below."""
    conditions = ["DMSO"] + [f"latrunculin@{d:g}" for d in DOSES] + ["taxol@1"]
    series = {
        "real": {
            "Cells_up": [*REAL_UP, 3.0],
            "Cells_reversed": [*REAL_UP, 3.0],
            "Cells_flat": [5.0] * 5 + [5.0],
            "Nuclei_noisy": [*NOISY_REAL, 0.0],
        },
        "translated": {
            "Cells_up": [*(2.0 * REAL_UP + 3.0), 1.0],  # exact affine map: r = 1
            "Cells_reversed": [*(10.0 - 0.5 * REAL_UP), 1.0],  # decreasing map: r = -1
            "Cells_flat": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "Nuclei_noisy": [*NOISY_TRANSLATED, 0.0],
        },
    }
    rows = []
    for kind, features in series.items():
        for i, condition in enumerate(conditions):
            for sign in (-1.0, 1.0):
                values = {f: v[i] + sign for f, v in features.items()}
                rows.append({"kind": kind, "condition": condition, "image": len(rows), **values})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter


FEATURES = ["Cells_up", "Cells_reversed", "Cells_flat", "Nuclei_noisy"]


def test_condition_means_sorted_with_counts():
    table = _dose_table()
    means = condition_means(table, FEATURES)
    assert list(means.columns[:5]) == ["kind", "condition", "compound", "concentration", "n"]
    real = means[means["kind"] == "real"]
    assert real["condition"].tolist() == [
        "DMSO",
        "latrunculin@0.1",
        "latrunculin@0.3",
        "latrunculin@1",
        "latrunculin@3",
        "taxol@1",
    ]
    assert means["kind"].tolist() == ["real"] * 6 + ["translated"] * 6
    assert (means["n"] == 2).all()
    np.testing.assert_allclose(real["Cells_up"].to_numpy()[:5], REAL_UP)
    assert real["concentration"].tolist() == [0.0, 0.1, 0.3, 1.0, 3.0, 1.0]
    assert real["compound"].iloc[0] == "DMSO" and real["compound"].iloc[-1] == "taxol"


def test_dose_correlations_known_answers():
    result = dose_correlations(_dose_table(), FEATURES).set_index(["compound", "feature"])
    lat = result.loc["latrunculin"]
    assert lat.loc["Cells_up", "r"] == pytest.approx(1.0, abs=1e-12)
    assert lat.loc["Cells_reversed", "r"] == pytest.approx(-1.0, abs=1e-12)
    assert (lat["n_points"] == 5).all()  # the control anchors the series as dose 0
    assert lat.loc["Cells_up", "real_range"] == pytest.approx(11.0)
    assert lat.loc["Cells_up", "translated_range"] == pytest.approx(22.0)
    assert lat.loc["Cells_up", "reason"] == ""

    # r against an independent computation, control included
    expected = np.corrcoef(NOISY_REAL, NOISY_TRANSLATED)[0, 1]
    assert lat.loc["Nuclei_noisy", "r"] == pytest.approx(expected, rel=1e-12)
    assert 0 < lat.loc["Nuclei_noisy", "p"] < 1

    # constant real means: NaN with a reason, and the range flags it
    assert math.isnan(lat.loc["Cells_flat", "r"]) and math.isnan(lat.loc["Cells_flat", "p"])
    assert lat.loc["Cells_flat", "reason"] == "constant"
    assert lat.loc["Cells_flat", "real_range"] == 0.0

    # taxol has one dose: control + 1 point < 3
    taxol = result.loc["taxol"]
    assert taxol["r"].isna().all() and (taxol["reason"] == "too few doses").all()
    assert (taxol["n_points"] == 2).all()


def test_dose_correlations_min_points_and_nan_means():
    table = _dose_table()
    table.loc[(table["condition"] == "latrunculin@3") & (table["kind"] == "translated"),
              "Cells_up"] = np.nan  # fmt: skip
    result = dose_correlations(table, FEATURES, min_points=2).set_index(["compound", "feature"])
    assert result.loc[("latrunculin", "Cells_up"), "n_points"] == 4  # the NaN dose is dropped
    assert result.loc[("latrunculin", "Cells_up"), "r"] == pytest.approx(1.0)
    assert result.loc[("taxol", "Cells_up"), "reason"] == ""  # 2 points suffice now
    with pytest.raises(PhendiffError, match="min_points"):
        dose_correlations(table, FEATURES, min_points=1)


def test_dose_correlations_needs_control_and_both_kinds():
    table = _dose_table()
    with pytest.raises(PhendiffError, match="latrunculin@0.1"):
        dose_correlations(table[table["condition"] != "DMSO"], FEATURES)
    with pytest.raises(PhendiffError, match="kinds present"):
        dose_correlations(table[table["kind"] == "real"], FEATURES)


# --------------------------------------------------------------------------- tests vs control


def _two_groups(condition, control, kind="real", name="drug@1", features=None):
    features = features or [f"Cells_f{j}" for j in range(condition.shape[1])]
    frames = []
    for cond, values in ((name, condition), ("DMSO", control)):
        frame = pd.DataFrame(values, columns=features)
        frame.insert(0, "condition", cond)
        frame.insert(0, "kind", kind)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), features


def test_large_shift_is_significant_with_the_right_sign():
    rng = np.random.default_rng(1)
    control = rng.normal(10.0, 1.0, size=(30, 2))
    shifted = control.mean(0) + rng.normal(0.0, 1.0, size=(30, 2)) + [3.0, -3.0]
    table, features = _two_groups(shifted, control)
    for test in ("welch", "mannwhitney"):
        result = condition_tests(table, features, test=test)
        assert result["significant"].all()
        assert result["direction"].tolist() == [1, -1]
        assert (np.sign(result["effect"]) == [1, -1]).all()
        assert (result["p"] < 1e-8).all()
        assert result["mean_diff"].to_numpy() == pytest.approx([3.0, -3.0], abs=0.6)
        assert (result["note"] == "").all()


@pytest.mark.parametrize("test", ["welch", "mannwhitney"])
def test_null_false_positive_rate(test):
    rng = np.random.default_rng(2)
    m = 1000
    table, features = _two_groups(rng.normal(size=(15, m)), rng.normal(size=(15, m)))
    raw = condition_tests(table, features, test=test, correction="none")
    rate = (raw["p"] < 0.05).mean()
    assert 0.025 < rate < 0.075  # ≈ alpha; binomial sd ≈ 0.007
    assert (raw["q"] == raw["p"]).all()
    bh = condition_tests(table, features, test=test, correction="fdr_bh")
    # under the global null BH rejects anything with probability <= alpha
    assert bh["significant"].sum() <= 2
    bonferroni = condition_tests(table, features, test=test, correction="bonferroni")
    assert bonferroni["significant"].sum() <= 2


def test_welch_p_and_hedges_g_by_hand():
    x = np.array([5.1, 6.3, 7.8, 6.0, 5.5, 8.1])
    y = np.array([4.0, 4.4, 3.9, 5.2, 4.1, 4.6, 3.8, 4.9, 4.3])
    table, features = _two_groups(x[:, None], y[:, None])
    row = condition_tests(table, features, correction="none").iloc[0]

    # Welch's t and the Welch–Satterthwaite degrees of freedom, written out
    n1, n2 = len(x), len(y)
    m1, m2 = sum(x) / n1, sum(y) / n2
    v1 = sum((x - m1) ** 2) / (n1 - 1)
    v2 = sum((y - m2) ** 2) / (n2 - 1)
    t = (m1 - m2) / math.sqrt(v1 / n1 + v2 / n2)
    df = (v1 / n1 + v2 / n2) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    p = 2 * sstats.t.sf(abs(t), df)
    assert row["statistic"] == pytest.approx(t, rel=1e-12)
    assert row["p"] == pytest.approx(p, rel=1e-10)
    assert row["p"] == pytest.approx(sstats.ttest_ind(x, y, equal_var=False).pvalue, rel=1e-10)

    # Hedges' g: Cohen's d with the pooled SD times the exact J(df)
    dfp = n1 + n2 - 2
    pooled = math.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / dfp)
    j = math.exp(math.lgamma(dfp / 2) - math.lgamma((dfp - 1) / 2)) / math.sqrt(dfp / 2)
    assert j == pytest.approx(1 - 3 / (4 * dfp - 1), abs=1e-3)  # the textbook approximation
    assert row["effect"] == pytest.approx((m1 - m2) / pooled * j, rel=1e-12)
    assert row["mean_diff"] == pytest.approx(m1 - m2)
    assert row["relative_diff"] == pytest.approx((m1 - m2) / m2)
    assert (row["n_condition"], row["n_control"]) == (6, 9)


def test_benjamini_hochberg_and_bonferroni_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 -> m p / rank = 0.02, 0.02, 0.04, 0.04
    np.testing.assert_allclose(
        adjust_pvalues([0.01, 0.04, 0.03, 0.005]), [0.02, 0.04, 0.04, 0.02], rtol=1e-12
    )
    # step-up: 4·0.01/1 = 0.04 and 4·0.02/2 = 0.04 fall to 4·0.025/3 = 1/30
    np.testing.assert_allclose(
        adjust_pvalues([0.01, 0.02, 0.025, 0.5]), [1 / 30, 1 / 30, 1 / 30, 0.5], rtol=1e-12
    )
    # NaN is not a test: m = 2 here; large values cap at 1
    np.testing.assert_allclose(adjust_pvalues([0.02, np.nan, 0.9]), [0.04, np.nan, 0.9], rtol=1e-12)
    np.testing.assert_allclose(
        adjust_pvalues([0.01, 0.04, 0.3, np.nan], "bonferroni"), [0.03, 0.12, 0.9, np.nan]
    )
    np.testing.assert_allclose(adjust_pvalues([0.5, 0.6], "bonferroni"), [1.0, 1.0])
    with pytest.raises(PhendiffError, match="fdr_bh"):
        adjust_pvalues([0.1], "holm")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30),
    st.floats(0.001, 0.5),
)
def test_benjamini_hochberg_matches_the_step_up_rule(p, level):
    p = np.array(p)
    q = adjust_pvalues(p)
    assert np.all(q >= p - 1e-15) and np.all(q <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(q[order]) >= -1e-15)  # monotone in p
    # rejections {q <= level} are the k smallest p, k the largest rank with p_(k) <= k level / m
    m = len(p)
    passing = [k for k in range(1, m + 1) if p[order][k - 1] <= k * level / m]
    k = max(passing, default=0)
    margin = np.abs(q - level) > 1e-12  # skip ties with the level itself (rounding)
    assert np.array_equal((q <= level)[margin], np.isin(np.arange(m), order[:k])[margin])


def test_correction_is_within_each_kind():
    rng = np.random.default_rng(3)
    real, features = _two_groups(rng.normal(size=(8, 5)), rng.normal(size=(8, 5)))
    translated, _ = _two_groups(
        rng.normal(size=(8, 3)), rng.normal(size=(8, 3)), kind="translated",
        features=features[:3],
    )  # fmt: skip
    translated[features[3:]] = np.nan  # two untestable features in translated
    result = condition_tests(pd.concat([real, translated]), features, correction="bonferroni")
    for kind, m in (("real", 5), ("translated", 3)):
        rows = result[result["kind"] == kind]
        np.testing.assert_allclose(rows["q"], np.minimum(rows["p"] * m, 1.0))
    assert (result.loc[result["p"].isna(), "note"].str.startswith("fewer than 2")).all()


def test_translated_is_compared_with_translated_control():
    # the model adds +5 to every translated image: no effect within either kind
    rng = np.random.default_rng(4)
    real, features = _two_groups(rng.normal(size=(20, 3)), rng.normal(size=(20, 3)))
    translated, _ = _two_groups(
        rng.normal(size=(20, 3)) + 5, rng.normal(size=(20, 3)) + 5, kind="translated"
    )
    result = condition_tests(pd.concat([real, translated]), features)
    assert result["kind"].tolist() == ["real"] * 3 + ["translated"] * 3
    assert not result["significant"].any()
    assert (result["mean_diff"].abs() < 1.5).all()


def test_missing_control_names_the_conditions_present():
    table, features = _two_groups(np.ones((3, 1)), np.ones((3, 1)))
    table["condition"] = ["latrunculin@0.3"] * 3 + ["latrunculin@1"] * 3
    with pytest.raises(PhendiffError, match=r"latrunculin@0\.3, latrunculin@1"):
        condition_tests(table, features)


def test_single_row_condition_gives_nan_with_a_note():
    rng = np.random.default_rng(5)
    table, features = _two_groups(rng.normal(size=(1, 2)), rng.normal(size=(6, 2)))
    for test in ("welch", "mannwhitney"):
        result = condition_tests(table, features, test=test)
        assert result["p"].isna().all() and result["q"].isna().all()
        assert result["effect"].isna().all()
        assert not result["significant"].any() and (result["direction"] == 0).all()
        assert (result["note"] == "fewer than 2 values (condition 1, control 6)").all()
        assert result["mean_diff"].notna().all()  # the difference itself is still reported


def test_constant_groups_are_not_tested():
    table, features = _two_groups(np.full((4, 1), 2.0), np.full((4, 1), 2.0))
    for test in ("welch", "mannwhitney"):
        row = condition_tests(table, features, test=test).iloc[0]
        assert math.isnan(row["p"]) and row["note"] == "no variation to test"


def test_bad_arguments():
    table, features = _two_groups(np.ones((3, 1)), np.ones((3, 1)))
    with pytest.raises(PhendiffError, match="welch"):
        condition_tests(table, features, test="t")
    with pytest.raises(PhendiffError, match="bonferroni"):
        condition_tests(table, features, correction="holm")
    with pytest.raises(PhendiffError, match="alpha"):
        condition_tests(table, features, alpha=5)
    with pytest.raises(PhendiffError, match="Cells_missing"):
        condition_tests(table, ["Cells_missing"])
    with pytest.raises(PhendiffError, match="'kind'"):
        condition_tests(table.drop(columns="kind"), features)


def test_per_cell_rows_are_flagged(caplog):
    table, features = _two_groups(np.arange(6.0)[:, None], np.arange(6.0)[:, None] + 1)
    table["image"] = [0, 0, 0, 1, 1, 1] * 2
    with caplog.at_level(logging.WARNING, logger="phendiff.evaluate.stats"):
        condition_tests(table, features)
    assert "pseudo-replicates" in caplog.text


# --------------------------------------------------------------------------- agreement


def _hand_tests() -> pd.DataFrame:
    rows = [  # condition, feature, (p, significant, direction, effect) real, then translated
        ("a@1", "f1", (0.001, True, 1, 2.0), (0.002, True, 1, 1.5)),  # both, same direction
        ("a@1", "f2", (0.001, True, 1, 1.0), (0.003, True, -1, -1.0)),  # opposite
        ("a@2", "f1", (0.001, True, -1, -2.0), (0.5, False, 0, -0.2)),  # only real
        ("a@2", "f2", (0.4, False, 0, 0.1), (0.01, True, 1, 0.8)),  # only translated
        ("b@1", "f1", (0.6, False, 0, 0.0), (0.7, False, 0, 0.1)),  # both null
        ("b@1", "f2", (0.8, False, 0, -0.1), (0.9, False, 0, 0.0)),  # both null
        ("b@1", "f3", (np.nan, False, 0, np.nan), (0.9, False, 0, 0.3)),  # untested
    ]
    records = []
    for condition, feature, *results in rows:
        for kind, (p, significant, direction, effect) in zip(
            ("real", "translated"), results, strict=True
        ):
            records.append(
                dict(kind=kind, condition=condition, feature=feature, p=p,
                     significant=significant, direction=direction, effect=effect)
            )  # fmt: skip
    return pd.DataFrame(records)


def test_agreement_hand_counts():
    per_pair, summary = agreement(_hand_tests())
    assert per_pair["outcome"].tolist() == [
        "both_significant", "opposite", "only_real", "only_translated", "both_null",
        "both_null", "untested",
    ]  # fmt: skip
    assert per_pair["same_conclusion"].tolist()[:6] == [True, False, False, False, True, True]
    assert per_pair["same_conclusion"].isna().tolist() == [False] * 6 + [True]
    assert per_pair["compound"].tolist()[:2] == ["a", "a"]

    summary = summary.set_index("condition")
    expected = {  # condition: (n_pairs, rate, both, opposite, only_real, only_translated, null)
        "a@1": (2, 0.5, 1, 1, 0, 0, 0),
        "a@2": (2, 0.0, 0, 0, 1, 1, 0),
        "a@all": (4, 0.25, 1, 1, 1, 1, 0),
        "b@1": (2, 1.0, 0, 0, 0, 0, 2),
        "b@all": (2, 1.0, 0, 0, 0, 0, 2),
        "all": (6, 0.5, 1, 1, 1, 1, 2),
    }
    columns = ["n_pairs", "same_conclusion_rate", "both_significant", "opposite", "only_real",
               "only_translated", "both_null"]  # fmt: skip
    assert list(summary.index) == list(expected)
    for condition, values in expected.items():
        assert tuple(summary.loc[condition, columns]) == pytest.approx(values)
    assert summary.loc["b@1", "n_untested"] == 1 and summary.loc["all", "n_untested"] == 1
    assert summary["level"].tolist() == ["condition"] * 2 + ["compound"] + [
        "condition",
        "compound",
        "all",
    ]


def test_agreement_on_condition_tests_output():
    rng = np.random.default_rng(6)
    control = rng.normal(size=(20, 4))
    real, features = _two_groups(control[:, ::-1] + [4, -4, 0, 0], control)
    translated, _ = _two_groups(
        rng.normal(size=(20, 4)) + [4, 4, 0, 0], rng.normal(size=(20, 4)), kind="translated"
    )
    tests = condition_tests(pd.concat([real, translated]), features)
    per_pair, summary = agreement(tests)
    assert per_pair["outcome"].tolist()[:2] == ["both_significant", "opposite"]
    assert summary.iloc[-1]["n_pairs"] == 4
    with pytest.raises(PhendiffError, match="kinds present"):
        agreement(tests[tests["kind"] == "real"])


def test_effect_size_correlation():
    tests = _hand_tests()
    real = tests.loc[tests["kind"] == "real", "effect"].to_numpy()
    translated = tests.loc[tests["kind"] == "translated", "effect"].to_numpy()
    keep = np.isfinite(real) & np.isfinite(translated)
    expected = np.corrcoef(real[keep], translated[keep])[0, 1]
    assert effect_size_correlation(tests) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(effect_size_correlation(tests[tests["condition"] == "b@1"]))  # 2 pairs


# --------------------------------------------------------------------- Fig. 4 and dose curves


def _effects_table(rng) -> pd.DataFrame:
    rows = []
    for kind in ("real", "translated"):
        for condition in ["DMSO", "a@0.1", "a@1", "b@1", "b@10"]:
            for _ in range(4):
                rows.append({"kind": kind, "condition": condition,
                             **{f"f{j}": rng.normal(j, 1 + j) for j in range(3)}})  # fmt: skip
    return pd.DataFrame(rows)


def test_standardised_effects_by_hand_and_scatter_r_is_pearson():
    table = _effects_table(np.random.default_rng(3))
    points = stats.standardised_effects(table, ["f0", "f1", "f2"])
    assert len(points) == 4 * 3  # four non-control conditions × three features
    assert list(points["compound"]) == ["a"] * 6 + ["b"] * 6
    mean = table.groupby(["kind", "condition"])[["f0", "f1", "f2"]].mean()
    sd = table[(table.kind == "real") & (table.condition == "DMSO")][["f0", "f1", "f2"]].std()
    row = points[(points.condition == "b@10") & (points.feature == "f2")].iloc[0]
    assert row.real == pytest.approx(
        (mean.loc[("real", "b@10"), "f2"] - mean.loc[("real", "DMSO"), "f2"]) / sd["f2"]
    )
    assert row.translated == pytest.approx(
        (mean.loc[("translated", "b@10"), "f2"] - mean.loc[("translated", "DMSO"), "f2"])
        / sd["f2"]
    )
    r = stats.effect_correlations(points).set_index("compound")
    for compound in ("a", "b"):
        g = points[points.compound == compound]
        assert r.at[compound, "r"] == pytest.approx(sstats.pearsonr(g.real, g.translated)[0])
        assert r.at[compound, "n_points"] == 6
    assert r.at["all", "r"] == pytest.approx(sstats.pearsonr(points.real, points.translated)[0])


def test_standardised_effects_skip_constant_features_and_unshared_conditions():
    table = _effects_table(np.random.default_rng(4))
    table["flat"] = 1.0  # no spread in the control: no unit to measure a shift in
    table = table[~((table.kind == "translated") & (table.condition == "a@1"))]
    points = stats.standardised_effects(table, ["f0", "flat"])
    assert "flat" not in set(points.feature)
    assert "a@1" not in set(points.condition)
    with pytest.raises(PhendiffError, match="translated"):
        stats.standardised_effects(table[table.kind == "real"], ["f0"])


def test_dose_response_intervals_on_a_known_case():
    t975 = {2: 4.302652729911275, 3: 3.182446305284263}  # Student t quantiles, from tables
    table = pd.DataFrame({
        "kind": ["real"] * 7 + ["translated"],
        "condition": ["DMSO"] * 3 + ["a@1"] * 4 + ["a@1"],
        "f": [1.0, 2.0, 3.0, 10.0, 12.0, 14.0, 16.0, 5.0],
    })  # fmt: skip
    curves = stats.dose_response(table, ["f"]).set_index(["kind", "condition"])
    dmso = curves.loc[("real", "DMSO")]
    assert (dmso["mean"], dmso["n"]) == (2.0, 3)
    assert dmso["high"] - dmso["mean"] == pytest.approx(t975[2] * 1.0 / np.sqrt(3))
    a = curves.loc[("real", "a@1")]
    sd = np.std([10.0, 12.0, 14.0, 16.0], ddof=1)
    assert (a["low"], a["high"]) == pytest.approx((13 - t975[3] * sd / 2, 13 + t975[3] * sd / 2))
    assert a["concentration"] == 1.0 and a["compound"] == "a"
    one = curves.loc[("translated", "a@1")]  # one value: a mean, no interval
    assert one["mean"] == 5.0 and np.isnan(one["low"]) and np.isnan(one["high"])
    narrow = stats.dose_response(table, ["f"], level=0.5).set_index(["kind", "condition"])
    assert narrow.loc[("real", "DMSO"), "high"] < dmso["high"]
    with pytest.raises(PhendiffError, match="level"):
        stats.dose_response(table, ["f"], level=95)

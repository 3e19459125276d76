"""The synthetic screen: layout, determinism, and dose effects measured in its images.

Measurements are computed here from pixels with plain numpy/scipy, independently of how the
generator draws cells, so a test fails if the images stop showing the documented phenotype.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from phendiff.conditions import CONTROL, Condition, ConditionTable
from phendiff.data.synthetic import (
    BASELINE,
    CHANNELS,
    COMPOUNDS,
    HillEffect,
    generate_screen,
    render_field,
    screen_conditions,
    true_parameters,
)
from phendiff.errors import PhendiffError

PER_CONDITION = 16
N_PAIRED = 24  # field seeds rendered under every dose of a compound
WHITE_12BIT = 4095


# --------------------------------------------------------------------------- measurements


def _background(channel: np.ndarray) -> float:
    # cells cover well under 90 % of a field, so the 10th percentile is background
    return float(np.percentile(channel, 10))


def _signal(field: np.ndarray, c: int) -> np.ndarray:
    channel = field[c].astype(np.float64)
    return channel - _background(channel)


def _cell_mask(field: np.ndarray) -> np.ndarray:
    # tubulin fills the whole cell body; 60 ADU is ~10 % of a cell's tubulin brightness
    return ndimage.gaussian_filter(_signal(field, 1), 1.0) > 60


def _nuclei(field: np.ndarray) -> tuple[np.ndarray, int]:
    # nuclei are ~1000+ ADU above background and never touch
    return ndimage.label(ndimage.gaussian_filter(_signal(field, 0), 1.0) > 300)


def actin_in_cells(field: np.ndarray) -> float:
    """Mean actin signal over cell pixels."""
    mask = _cell_mask(field)
    return float(_signal(field, 2)[mask].mean()) if mask.any() else np.nan


def tubulin_texture(field: np.ndarray) -> float:
    """RMS high-pass tubulin inside cells (away from their edges), relative to its mean."""
    tubulin = _signal(field, 1)
    inner = ndimage.binary_erosion(_cell_mask(field), iterations=2)
    if not inner.any():
        return np.nan
    # filaments are ~1 px wide; a small kernel keeps cell edges and haze out of the measure
    high_pass = tubulin - ndimage.gaussian_filter(tubulin, 1.0)
    return float(np.sqrt(np.mean(high_pass[inner] ** 2)) / tubulin[inner].mean())


def cell_count(field: np.ndarray) -> int:
    return int(_nuclei(field)[1])


def nuclear_area(field: np.ndarray) -> float:
    """Mean nuclear area (px²) of the field."""
    labels, n = _nuclei(field)
    return float(np.bincount(labels.ravel())[1:].mean()) if n else np.nan


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def screen(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "screen"
    return generate_screen(out, per_condition=PER_CONDITION, seed=3, progress=False)


@pytest.fixture(scope="module")
def screen_fields(screen) -> dict[str, list[np.ndarray]]:
    fields: dict[str, list[np.ndarray]] = {}
    for row in _read_csv(screen / "manifest.csv"):
        name = Condition(row["compound"], float(row["concentration"])).name
        fields.setdefault(name, []).append(tifffile.imread(screen / row["path"]))
    return fields


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _dose_series(compound: str) -> list[Condition]:
    return [c for c in screen_conditions() if not c.dosed or c.compound == compound]


def _paired(compound: str, measure) -> np.ndarray:
    """``(N_PAIRED, doses + 1)``: the same field seeds rendered under DMSO and every dose."""
    series = _dose_series(compound)
    return np.array(
        [
            [measure(render_field(c, np.random.default_rng([11, f]))) for c in series]
            for f in range(N_PAIRED)
        ]
    )


@pytest.fixture(scope="module")
def paired() -> dict[str, np.ndarray]:
    return {
        "actin": _paired("latrunculin", actin_in_cells),
        "tubulin": _paired("nocodazole", tubulin_texture),
        "nuclei": _paired("herbimycin", nuclear_area),
    }


# --------------------------------------------------------------------------- ground truth


def test_screen_conditions_cover_dmso_and_every_dose_in_label_order():
    conditions = screen_conditions()
    assert conditions[0] == Condition(CONTROL)
    assert tuple(conditions) == ConditionTable.from_conditions(conditions).conditions
    assert {c.compound for c in conditions} == {CONTROL, "latrunculin", "nocodazole", "herbimycin"}
    for compound in COMPOUNDS:
        doses = [c.concentration for c in conditions if c.compound == compound.name]
        assert doses == sorted(compound.concentrations) and len(doses) >= 4


def test_hill_effect_is_half_maximal_at_ec50_and_zero_without_compound():
    effect = HillEffect("x", emax=-0.6, ec50=0.5, hill=2.0)
    assert effect.at(0.0) == 0.0
    assert effect.at(0.5) == pytest.approx(-0.3)
    assert effect.at(1e6) == pytest.approx(-0.6, rel=1e-6)


def test_true_parameters_of_dmso_are_the_baseline():
    assert true_parameters(Condition(CONTROL)) == dict(BASELINE)


def test_lowest_doses_are_subtle_and_highest_strong():
    for compound in COMPOUNDS:
        low, high = min(compound.concentrations), max(compound.concentrations)
        for effect in compound.effects:
            if effect.parameter == "survival_fraction":
                continue  # toxicity only at the top dose, by design
            assert abs(effect.at(low)) < 0.1 * abs(effect.emax), (compound.name, effect)
            assert abs(effect.at(high)) > 0.8 * abs(effect.emax), (compound.name, effect)


def test_true_parameters_are_the_baseline_plus_the_hill_curves():
    # the documented model, computed here: parameter = DMSO value + Σ emax·c^h / (ec50^h + c^h)
    for compound in COMPOUNDS:
        for dose in (0.05, *compound.concentrations, 10.0):
            params = true_parameters(Condition(compound.name, dose))
            want = dict(BASELINE)
            for e in compound.effects:
                want[e.parameter] += e.emax * dose**e.hill / (e.ec50**e.hill + dose**e.hill)
            for name, value in want.items():
                if name != "expected_cells_per_field":
                    assert params[name] == pytest.approx(value, rel=1e-12), (compound, name)
            assert params["expected_cells_per_field"] == pytest.approx(
                BASELINE["expected_cells_per_field"] * params["survival_fraction"]
            )


def test_true_effects_go_the_documented_ways():
    # README: latrunculin lowers actin intensity, fibres and cell spreading; nocodazole makes
    # tubulin diffuse and cells round (less eccentric, less spread); herbimycin makes nuclei
    # larger and more textured; cells die at the toxic doses of the first two only
    documented = {
        "latrunculin": {"actin_intensity_factor": -1, "actin_fibre_fraction": -1,
                        "cell_radius_factor": -1, "survival_fraction": -1},
        "nocodazole": {"tubulin_fibrousness": -1, "cell_eccentricity": -1,
                       "cell_radius_factor": -1, "survival_fraction": -1},
        "herbimycin": {"nuclear_area_factor": 1, "dna_texture_factor": 1},
    }  # fmt: skip
    for compound in COMPOUNDS:
        signs = {e.parameter: np.sign(e.emax) for e in compound.effects}
        assert signs == documented[compound.name], compound.name


def test_true_parameters_rejects_unknown_compound():
    with pytest.raises(PhendiffError, match="not in the synthetic screen"):
        true_parameters(Condition("taxol", 1.0))


# --------------------------------------------------------------------------- render_field


@pytest.mark.parametrize("size", [32, 64, 96])
def test_render_field_shape_dtype_and_12bit_range(size):
    for k, condition in enumerate(screen_conditions()):
        field = render_field(condition, np.random.default_rng([0, k]), size=size)
        assert field.shape == (len(CHANNELS), size, size) and field.dtype == np.uint16
        assert 0 < field.min() and field.max() < WHITE_12BIT


def test_render_field_is_deterministic_per_seed():
    condition = Condition("nocodazole", 0.3)
    a = render_field(condition, np.random.default_rng(5))
    b = render_field(condition, np.random.default_rng(5))
    c = render_field(condition, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_equal_seeds_render_the_same_cells_under_every_condition():
    # the cells are the same draws: nuclei sit at the same places under DMSO and latrunculin
    dmso = render_field(Condition(CONTROL), np.random.default_rng(2))
    treated = render_field(Condition("latrunculin", 0.1), np.random.default_rng(2))
    assert np.corrcoef(dmso[0].ravel(), treated[0].ravel())[0, 1] > 0.95


def test_render_field_rejects_bad_arguments():
    with pytest.raises(PhendiffError, match="size"):
        render_field(Condition(CONTROL), np.random.default_rng(0), size=31)
    with pytest.raises(PhendiffError, match="Generator"):
        render_field(Condition(CONTROL), 0)


# --------------------------------------------------------------------------- generate_screen


def test_screen_layout_manifest_and_ground_truth(screen):
    conditions = screen_conditions()
    rows = _read_csv(screen / "manifest.csv")
    assert list(rows[0]) == ["path", "compound", "concentration", "plate", "well"]
    on_disk = {p.relative_to(screen).as_posix() for p in screen.rglob("*.tif")}
    assert {r["path"] for r in rows} == on_disk
    assert len(rows) == len(conditions) * PER_CONDITION
    assert {p.name for p in screen.iterdir() if p.is_dir()} == {c.name for c in conditions}
    for r in rows:
        condition = Condition(r["compound"], float(r["concentration"]))
        folder, filename = r["path"].split("/")
        assert folder == condition.name
        assert filename.startswith(f"{condition.name}_{r['plate']}_{r['well']}_f")
    assert all(r["concentration"] == "0" for r in rows if r["compound"] == CONTROL)
    # every condition on every plate, several fields per well: a grouped split is possible
    assert {r["plate"] for r in rows} == {"P1", "P2", "P3", "P4"}
    for condition in conditions:
        mine = [r for r in rows if r["path"].startswith(condition.name + "/")]
        assert {r["plate"] for r in mine} == {"P1", "P2", "P3", "P4"}
    wells = [(r["plate"], r["well"]) for r in rows]
    assert len(set(wells)) < len(wells)
    by_well = {
        w: {r["path"].split("/")[0] for r in rows if (r["plate"], r["well"]) == w} for w in wells
    }
    assert all(len(names) == 1 for names in by_well.values())  # one condition per well

    truth = _read_csv(screen / "ground_truth.csv")
    assert [t["condition"] for t in truth] == [c.name for c in conditions]
    for t, condition in zip(truth, conditions, strict=True):
        expected = true_parameters(condition)
        assert {k: float(t[k]) for k in expected} == expected


def test_screen_images_are_uint16_cyx_and_not_saturated(screen):
    for path in sorted(screen.rglob("*.tif"))[::7]:
        with tifffile.TiffFile(path) as tif:
            assert tif.series[0].axes == "CYX"
            image = tif.asarray()
        assert image.shape == (3, 64, 64) and image.dtype == np.uint16
        assert 0 < image.min() and image.max() < WHITE_12BIT


def test_screen_fields_match_per_field_seeds(screen):
    # field f of condition k comes from default_rng([seed, k, f]): order does not matter
    rows = _read_csv(screen / "manifest.csv")
    for k, condition in enumerate(screen_conditions()):
        mine = sorted(r["path"] for r in rows if r["path"].startswith(condition.name + "/"))
        f = PER_CONDITION - 1
        expected = render_field(condition, np.random.default_rng([3, k, f]))
        np.testing.assert_array_equal(tifffile.imread(screen / mine[f]), expected)


def _pixels(root: Path) -> dict[str, np.ndarray]:
    return {p.relative_to(root).as_posix(): tifffile.imread(p) for p in root.rglob("*.tif")}


def test_generate_screen_is_deterministic_per_seed(tmp_path):
    a = generate_screen(tmp_path / "a", per_condition=2, seed=1, progress=False)
    b = generate_screen(tmp_path / "b", per_condition=2, seed=1, progress=False)
    c = generate_screen(tmp_path / "c", per_condition=2, seed=2, progress=False)
    pa, pb, pc = _pixels(a), _pixels(b), _pixels(c)
    assert pa.keys() == pb.keys() == pc.keys()
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert not any(np.array_equal(pa[k], pc[k]) for k in pa)
    assert (a / "manifest.csv").read_bytes() == (b / "manifest.csv").read_bytes()


def test_generate_screen_refuses_to_overwrite_unless_asked(tmp_path):
    out = tmp_path / "screen"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(PhendiffError, match="overwrite"):
        generate_screen(out, per_condition=1, progress=False)
    assert (out / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["screen"]  # no temporary left

    assert generate_screen(out, per_condition=1, overwrite=True, progress=False) == out
    # overwrite writes the screen's files and never removes anyone else's
    assert (out / "precious.txt").read_text() == "keep me" and (out / "manifest.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["screen"]
    first = {p for p in out.rglob("*.tif")}
    # a smaller rerun removes the fields the first one wrote and this one does not
    generate_screen(out, per_condition=1, size=32, overwrite=True, progress=False)
    assert {p for p in out.rglob("*.tif")} == first  # same names, rewritten
    (out / "DMSO" / "notes.txt").write_text("mine")
    generate_screen(out, per_condition=2, size=32, overwrite=True, progress=False)
    generate_screen(out, per_condition=1, size=32, overwrite=True, progress=False)
    assert {p for p in out.rglob("*.tif")} == first
    assert (out / "DMSO" / "notes.txt").read_text() == "mine"


def test_generate_screen_writes_into_an_empty_existing_folder(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    generate_screen(str(out), per_condition=1, size=32, progress=False)
    assert len(_read_csv(out / "manifest.csv")) == len(screen_conditions())
    # a quarter of the reference area holds fewer cells, and the ground truth says so
    dmso = _read_csv(out / "ground_truth.csv")[0]
    assert float(dmso["expected_cells_per_field"]) < BASELINE["expected_cells_per_field"] / 2


@pytest.mark.parametrize(
    "kwargs",
    [{"size": 31}, {"size": 64.0}, {"per_condition": 0}, {"per_condition": True}, {"seed": -1}],
)
def test_generate_screen_rejects_bad_arguments(tmp_path, kwargs):
    with pytest.raises(PhendiffError):
        generate_screen(tmp_path / "screen", progress=False, **kwargs)
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- dose effects


def test_actin_falls_monotonically_with_latrunculin(paired, screen_fields):
    means = np.nanmean(paired["actin"], axis=0)
    assert np.all(np.diff(means) < 0), means
    # unpaired fields of the screen show it too, between doses
    screen_means = [
        np.nanmean([actin_in_cells(f) for f in screen_fields[c.name]])
        for c in _dose_series("latrunculin")[1:]
    ]
    assert np.all(np.diff(screen_means) < 0), screen_means


def test_tubulin_texture_falls_monotonically_with_nocodazole(paired, screen_fields):
    means = np.nanmean(paired["tubulin"], axis=0)
    assert np.all(np.diff(means) < 0), means
    dmso = np.nanmean([tubulin_texture(f) for f in screen_fields[CONTROL]])
    top = np.nanmean([tubulin_texture(f) for f in screen_fields["nocodazole@3"]])
    assert top < 0.85 * dmso


def test_herbimycin_enlarges_nuclei_at_the_top_dose(paired, screen_fields):
    dmso, top = np.nanmean(paired["nuclei"][:, [0, -1]], axis=0)
    assert 1.05 < top / dmso < 1.25
    dmso = np.nanmean([nuclear_area(f) for f in screen_fields[CONTROL]])
    top = np.nanmean([nuclear_area(f) for f in screen_fields["herbimycin@3"]])
    assert 1.05 < top / dmso < 1.25


def test_toxic_doses_leave_fewer_cells(screen_fields):
    counts = {name: [cell_count(f) for f in fields] for name, fields in screen_fields.items()}
    mean = {name: np.mean(n) for name, n in counts.items()}
    for name in (CONTROL, "latrunculin@3", "nocodazole@3", "herbimycin@3"):
        # the counted nuclei agree with the true expectation within sampling error
        truth = true_parameters(Condition.parse(name))["expected_cells_per_field"]
        standard_error = np.std(counts[name]) / np.sqrt(len(counts[name]))
        assert abs(mean[name] - truth) < 4 * standard_error + 0.1, (name, mean[name], truth)
    for toxic in ("latrunculin@3", "nocodazole@3"):
        assert mean[toxic] < 0.8 * mean[CONTROL]
    assert mean["herbimycin@3"] > 0.8 * mean[CONTROL]


@pytest.mark.parametrize(("measure", "sign"), [("actin", -1), ("tubulin", -1), ("nuclei", 1)])
def test_lowest_dose_is_smaller_than_cell_variability_but_shows_on_average(paired, measure, sign):
    values = paired[measure]
    dmso, low = values[:, 0], values[:, 1]
    shift = np.nanmean(low - dmso)
    # hidden in the variability between fields ...
    assert abs(shift) < np.nanstd(dmso)
    # ... but the same fields, treated, move the expected way on average
    assert sign * shift > 0
    # while the top dose stands out of that variability
    assert sign * np.nanmean(values[:, -1] - dmso) > np.nanstd(dmso)

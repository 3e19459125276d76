"""Per-cell features: values on hand-made masks, tidy tables, aggregates, and the phenotype.

Expected values are computed here from the masks and pixels with plain numpy (pixel counts,
sums, the ellipse's eccentricity formula), not with the code under test.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from phendiff.conditions import Condition
from phendiff.data.synthetic import CHANNELS, render_field
from phendiff.errors import PhendiffError
from phendiff.evaluate.features import (
    aggregate,
    feature_columns,
    image_table,
    measure_image,
    measure_images,
    measure_objects,
)

NAMES = ("a", "b")


def ellipse(size: int, centre, a: float, b: float) -> np.ndarray:
    """Boolean ellipse with semi-axes ``a`` along x and ``b`` along y."""
    yy, xx = np.mgrid[:size, :size]
    return ((xx - centre[1]) / a) ** 2 + ((yy - centre[0]) / b) ** 2 <= 1


@pytest.fixture
def hand_made():
    """A disc cell (label 1) and an elongated ellipse cell (label 2), each with a nucleus.

    Channel ``a`` is 0.25 everywhere, channel ``b`` random in [0.1, 0.9).
    """
    size = 48
    disc, elong = ellipse(size, (14, 14), 9, 9), ellipse(size, (34, 30), 14, 5)
    cells = np.zeros((size, size), np.int32)
    cells[disc], cells[elong] = 1, 2
    nuclei = np.zeros_like(cells)
    nuclei[ellipse(size, (14, 14), 4, 4)] = 1
    nuclei[ellipse(size, (34, 30), 4, 3)] = 2
    rng = np.random.default_rng(0)
    image = np.stack([np.full((size, size), 0.25), rng.uniform(0.1, 0.9, (size, size))])
    return image, nuclei, cells


def test_basic_features_match_independent_values(hand_made):
    image, nuclei, cells = hand_made
    table = measure_objects(image, nuclei, cells, NAMES)
    assert list(table["ObjectNumber"]) == [1, 2]
    for i, row in table.iterrows():
        label = i + 1
        inside = cells == label
        assert row["Cells_AreaShape_Area"] == inside.sum()
        assert row["Nuclei_AreaShape_Area"] == (nuclei == label).sum()
        assert row["Cells_Intensity_MeanIntensity_a"] == pytest.approx(0.25)
        assert row["Cells_Intensity_StdIntensity_a"] == pytest.approx(0.0, abs=1e-12)
        assert row["Cells_Intensity_IntegratedIntensity_a"] == pytest.approx(0.25 * inside.sum())
        b = image[1][inside]
        assert row["Cells_Intensity_IntegratedIntensity_b"] == pytest.approx(b.sum())
        assert row["Cells_Intensity_MeanIntensity_b"] == pytest.approx(b.mean())
        assert row["Cells_Intensity_StdIntensity_b"] == pytest.approx(b.std())
        assert row["Cells_Intensity_MinIntensity_b"] == b.min()
        assert row["Cells_Intensity_MaxIntensity_b"] == b.max()
        assert row["Nuclei_Intensity_MeanIntensity_b"] == pytest.approx(
            image[1][nuclei == label].mean()
        )
        assert row["Cells_Texture_Contrast_a_3"] == pytest.approx(0.0, abs=1e-12)
    disc, elong = table.iloc[0], table.iloc[1]
    assert disc["Cells_AreaShape_Eccentricity"] < 0.1
    assert elong["Cells_AreaShape_Eccentricity"] == pytest.approx(
        np.sqrt(1 - (5 / 14) ** 2), abs=0.02
    )
    assert elong["Cells_AreaShape_MajorAxisLength"] == pytest.approx(28, rel=0.05)
    assert elong["Cells_AreaShape_MinorAxisLength"] == pytest.approx(10, rel=0.1)
    assert disc["Cells_AreaShape_FormFactor"] == pytest.approx(1.0, abs=0.15)
    assert disc["Cells_AreaShape_Solidity"] > 0.9


def test_texture_contrast_is_the_mean_squared_difference_of_pairs_3_px_apart():
    rng = np.random.default_rng(1)
    pixels = rng.uniform(0, 1, (12, 12))
    cells = np.zeros((12, 12), np.int32)
    cells[2:10, 1:11] = 1
    expected = []
    for dy, dx in ((0, 3), (3, 3), (3, 0), (3, -3)):
        diffs = [
            (pixels[y, x] - pixels[y + dy, x + dx]) ** 2
            for y in range(12)
            for x in range(12)
            if 0 <= y + dy < 12 and 0 <= x + dx < 12 and cells[y, x] and cells[y + dy, x + dx]
        ]
        expected.append(np.mean(diffs))
    table = measure_objects(pixels[None], cells, cells, ["c"])
    assert table["Cells_Texture_Contrast_c_3"].item() == pytest.approx(np.mean(expected))


def test_undefined_basic_features_are_nan_not_infinite():
    cells = np.zeros((16, 16), np.int32)
    cells[2:12, 2:12] = 1
    cells[14, 14] = 2  # one pixel: no perimeter, no pixel pairs
    nuclei = np.where(cells == 1, 1, 0).astype(np.int32)  # cell 2 has no nucleus
    table = measure_objects(np.ones((1, 16, 16)), nuclei, cells, ["c"])
    tiny = table.iloc[1]
    assert np.isnan(tiny["Cells_AreaShape_FormFactor"])
    assert np.isnan(tiny["Cells_Texture_Contrast_c_3"])
    assert tiny[[c for c in table.columns if c.startswith("Nuclei_")]].isna().all()
    values = table[feature_columns(table)].to_numpy()
    assert values.dtype == np.float64 and not np.isinf(values).any()
    assert np.isfinite(table.iloc[0][feature_columns(table)].to_numpy()).all()


def test_integer_images_are_scaled_by_their_dtype_maximum():
    cells = np.zeros((8, 8), np.int32)
    cells[2:6, 2:6] = 1
    image = np.full((1, 8, 8), 6553, np.uint16)
    mean = "Cells_Intensity_MeanIntensity_c"
    assert measure_objects(image, cells, cells, ["c"])[mean].item() == pytest.approx(6553 / 65535)
    assert measure_objects(image, cells, cells, ["c"], scale=1)[mean].item() == 6553


# --------------------------------------------------------------------------- cp set


def test_cp_features_match_independent_values(hand_made):
    pytest.importorskip("cp_measure")
    image, nuclei, cells = hand_made
    image = np.stack([image[0], image[1], image[1]])  # channel c is a copy of b
    table = measure_objects(image, nuclei, cells, ("a", "b", "c"), feature_set="cp")
    assert list(table["ObjectNumber"]) == [1, 2]
    for i, row in table.iterrows():
        inside = cells == i + 1
        assert row["Cells_AreaShape_Area"] == inside.sum()
        assert row["Nuclei_AreaShape_Area"] == (nuclei == i + 1).sum()
        assert row["Cells_Intensity_MeanIntensity_a"] == pytest.approx(0.25)
        assert row["Cells_Intensity_IntegratedIntensity_b"] == pytest.approx(image[1][inside].sum())
        # colocalisation of identical channels is perfect
        assert row["Cells_Correlation_Pearson_b_c"] == pytest.approx(1.0)
        assert row["Nuclei_Correlation_Pearson_b_c"] == pytest.approx(1.0)
    assert table.iloc[0]["Cells_AreaShape_Eccentricity"] < 0.1
    assert table.iloc[1]["Cells_AreaShape_Eccentricity"] == pytest.approx(
        np.sqrt(1 - (5 / 14) ** 2), abs=0.02
    )
    groups = (
        "Cells_Texture_Contrast_b_3_00_256",
        "Cells_Granularity_1_b",
        "Nuclei_Correlation_Manders_1_b_c",
        "Cells_Intensity_StdIntensity_c",
    )
    assert all(name in table.columns for name in groups)
    assert not any("Location" in c or "Center" in c for c in table.columns)
    values = table[feature_columns(table)].to_numpy()
    assert values.dtype == np.float64 and not np.isinf(values).any()


def test_cp_set_on_a_synthetic_field_is_finite():
    pytest.importorskip("cp_measure")
    field = render_field(Condition("DMSO"), np.random.default_rng(0))
    table = measure_image(field, CHANNELS, "DNA", "actin", feature_set="cp")
    assert len(table) == image_table(table)["cell_count"].item() > 0
    assert np.isfinite(table[feature_columns(table)].to_numpy()).all()


def test_cp_set_rejects_intensities_above_one():
    pytest.importorskip("cp_measure")
    cells = np.zeros((8, 8), np.int32)
    cells[2:6, 2:6] = 1
    with pytest.raises(PhendiffError, match="scale"):
        measure_objects(np.full((1, 8, 8), 7.0), cells, cells, ["c"], feature_set="cp")


def test_missing_cp_measure_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cp_measure", None)  # makes `import cp_measure` fail
    field = render_field(Condition("DMSO"), np.random.default_rng(0))
    with pytest.raises(PhendiffError, match=r"pip install cp-measure.*phendiff\[cp\]"):
        measure_image(field, CHANNELS, "DNA", "actin", feature_set="cp")
    with pytest.raises(PhendiffError, match="cp-measure"):  # even when there is no cell
        measure_image(np.zeros((3, 32, 32)), CHANNELS, "DNA", "actin", feature_set="cp")


# --------------------------------------------------------------------------- tables


def fields(condition: Condition, seeds, **meta):
    return [
        (render_field(condition, np.random.default_rng(s)), {"condition": condition.name, **meta})
        for s in seeds
    ]


def test_tidy_table_has_one_row_per_cell_and_metadata_first():
    blank = (np.full((3, 64, 64), 100, np.uint16), {"condition": "blank", "kind": "real"})
    images = fields(Condition("DMSO"), [0, 1], kind="real") + [blank]
    table = measure_images(images, CHANNELS, "DNA", "actin", progress=False)
    counts = image_table(table)
    assert list(counts.columns) == ["image", "condition", "kind", "cell_count"]
    assert list(counts["image"]) == [0, 1, 2]
    assert list(counts["cell_count"].iloc[:2]) == [(table["image"] == i).sum() for i in (0, 1)]
    assert counts["cell_count"].iloc[2] == 0  # the blank field: visible, with zero rows
    assert len(table) == counts["cell_count"].sum() > 0
    assert list(table.columns[:4]) == ["image", "condition", "kind", "ObjectNumber"]
    assert set(table["condition"]) == {"DMSO"}
    features = feature_columns(table)
    assert len(features) == len(table.columns) - 4
    assert np.isfinite(table[features].to_numpy(dtype=float)).all()
    # ObjectNumber is the label: 1..n within every field
    for _, group in table.groupby("image"):
        assert list(group["ObjectNumber"]) == list(range(1, len(group) + 1))


def test_blank_image_gives_zero_rows_and_a_zero_cell_count():
    table = measure_image(
        np.zeros((3, 32, 32)), CHANNELS, "DNA", "actin", metadata={"image": "empty"}
    )
    assert len(table) == 0 and "ObjectNumber" in table.columns
    assert image_table(table).to_dict("records") == [{"image": "empty", "cell_count": 0}]
    all_blank = measure_images([(np.zeros((3, 32, 32)), {})], CHANNELS, 0, None, progress=False)
    assert len(all_blank) == 0
    assert image_table(all_blank)["cell_count"].tolist() == [0]


def test_aggregate_equals_a_hand_computed_groupby():
    table = pd.DataFrame(
        {
            "image": [0, 0, 1, 2, 2, 2],
            "condition": ["DMSO", "DMSO", "DMSO", "noc", "noc", "noc"],
            "ObjectNumber": [1, 2, 1, 1, 2, 3],
            "Cells_AreaShape_Area": [10.0, 20.0, 60.0, 5.0, 7.0, 30.0],
            "Nuclei_Intensity_MeanIntensity_DNA": [1.0, 2.0, 3.0, 4.0, 5.0, 9.0],
        }
    )
    means = aggregate(table, by="condition")
    assert list(means["condition"]) == ["DMSO", "noc"]
    assert list(means["cell_count"]) == [3, 3]
    assert means["Cells_AreaShape_Area"].tolist() == pytest.approx([30.0, 14.0])
    assert means["Nuclei_Intensity_MeanIntensity_DNA"].tolist() == pytest.approx([2.0, 6.0])
    medians = aggregate(table, by=["condition"], how="median")
    assert medians["Cells_AreaShape_Area"].tolist() == pytest.approx([20.0, 7.0])
    per_image = aggregate(table, by="image")
    assert list(per_image["cell_count"]) == [2, 1, 3]
    assert per_image["Cells_AreaShape_Area"].tolist() == pytest.approx([15.0, 60.0, 14.0])
    # with the per-image records, an empty field and an empty condition appear too
    images = pd.DataFrame(
        {"image": [0, 1, 2, 3, 4], "condition": ["DMSO", "DMSO", "noc", "noc", "x"]}
    )
    full = aggregate(table, by="condition", images=images)
    assert list(full["condition"]) == ["DMSO", "noc", "x"]
    assert list(full["cell_count"]) == [3, 3, 0]
    assert list(full["image_count"]) == [2, 2, 1]
    assert full["cells_per_image"].tolist() == pytest.approx([1.5, 1.5, 0.0])
    assert np.isnan(full["Cells_AreaShape_Area"].iloc[2])
    assert aggregate(table, by="image", images=images)["cell_count"].tolist() == [2, 1, 3, 0, 0]


def test_aggregate_reads_the_image_records_of_measure_images():
    blank = (np.zeros((3, 64, 64)), {"condition": "blank"})
    table = measure_images(
        fields(Condition("DMSO"), [0, 1]) + [blank], CHANNELS, "DNA", "tubulin", progress=False
    )
    per_image = aggregate(table, by="image")
    assert per_image["cell_count"].tolist() == image_table(table)["cell_count"].tolist()
    per_condition = aggregate(table)
    assert per_condition.set_index("condition")["cell_count"].to_dict() == {
        "DMSO": len(table),
        "blank": 0,
    }


def test_actin_disruption_is_visible_in_the_basic_features():
    # the same seeds render the same cells: latrunculin@3 dims and fragments their actin
    images = fields(Condition("DMSO"), range(3)) + fields(Condition("latrunculin", 3), range(3))
    table = measure_images(images, CHANNELS, "DNA", "tubulin", progress=False)
    means = aggregate(table).set_index("condition")
    actin = means["Cells_Intensity_MeanIntensity_actin"]
    assert actin["latrunculin@3"] < 0.8 * actin["DMSO"]
    # the nuclear stain is untouched by an actin drug
    dna = means["Nuclei_Intensity_MeanIntensity_DNA"]
    assert dna["latrunculin@3"] == pytest.approx(dna["DMSO"], rel=0.15)


# --------------------------------------------------------------------------- errors


def test_unknown_channel_name_lists_the_channels():
    field = render_field(Condition("DMSO"), np.random.default_rng(0))
    with pytest.raises(PhendiffError, match="'Hoechst'.*'DNA', 'tubulin', 'actin'"):
        measure_image(field, CHANNELS, "Hoechst", "actin")
    with pytest.raises(PhendiffError, match="cytoplasm_channel"):
        measure_image(field, CHANNELS, "DNA", 7)


def test_bad_inputs_are_one_line_errors():
    field = np.zeros((3, 16, 16))
    with pytest.raises(PhendiffError, match="channel_names"):
        measure_image(field, ["DNA", "actin"], "DNA", None)
    with pytest.raises(PhendiffError, match="channel_names"):
        measure_image(field, ["DNA", "DNA", "x"], "DNA", None)
    with pytest.raises(PhendiffError, match="feature_set"):
        measure_image(field, CHANNELS, "DNA", None, feature_set="all")
    with pytest.raises(PhendiffError, match="clash"):
        measure_image(field, CHANNELS, "DNA", None, metadata={"ObjectNumber": 3})
    with pytest.raises(PhendiffError, match="pair"):
        measure_images([field], CHANNELS, "DNA", None, progress=False)
    with pytest.raises(PhendiffError, match="how"):
        aggregate(pd.DataFrame({"condition": ["a"]}), how="max")
    with pytest.raises(PhendiffError, match="missing columns"):
        aggregate(pd.DataFrame({"condition": ["a"]}), by="plate")

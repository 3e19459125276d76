"""Segmentation: known objects are found, touching nuclei are split, blank fields are empty.

Expected counts come from how the test images are drawn (hand-made discs) or from an
independent measurement (connected components of a high DNA threshold), never from the code
under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from phendiff.conditions import Condition
from phendiff.data.synthetic import render_field
from phendiff.errors import PhendiffError
from phendiff.evaluate.segment import foreground, segment, segment_cells, segment_nuclei

RADIUS = 5.0


def discs(centres, size=64, radius=RADIUS, level=1000.0, noise=0.0, seed=0) -> np.ndarray:
    """A ``(size, size)`` float image of bright discs on a dark background (+ noise)."""
    yy, xx = np.mgrid[:size, :size]
    image = np.zeros((size, size))
    for cy, cx in centres:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = level
    return image + noise * np.random.default_rng(seed).standard_normal(image.shape)


def centroids(labels: np.ndarray) -> np.ndarray:
    ids = np.arange(1, labels.max() + 1)
    return np.array(ndimage.center_of_mass(labels > 0, labels, ids)).reshape(-1, 2)


def matches(found: np.ndarray, expected, tol: float = 1.5) -> bool:
    """Every expected centre has exactly one found centroid within ``tol`` px, and vice versa."""
    expected = np.asarray(expected, dtype=float).reshape(-1, 2)
    if len(found) != len(expected):
        return False
    if len(found) == 0:
        return True
    dist = np.hypot(*(found[:, None, :] - expected[None, :, :]).transpose(2, 0, 1))
    return bool((dist.min(axis=0) < tol).all() and (dist.min(axis=1) < tol).all())


# --------------------------------------------------------------------------- nuclei


def test_separate_and_touching_discs_are_counted_and_split():
    separate = [(12, 12), (12, 50), (50, 12)]
    touching = [(45, 40), (45, 40 + 2 * RADIUS)]  # centres one diameter apart
    labels = segment_nuclei(discs(separate + touching, noise=20.0))
    assert labels.dtype == np.int32 and labels.shape == (64, 64)
    assert sorted(np.unique(labels)) == list(range(6))  # background + 5, numbered 1..5
    assert matches(centroids(labels), separate + touching)
    # the watershed line falls between the touching pair: each half is about one disc
    disc_area = (discs([(32, 32)]) > 0).sum()
    areas = np.bincount(labels.ravel())[1:]
    assert np.all(np.abs(areas - disc_area) <= 0.2 * disc_area)


def test_overlapping_discs_are_split():
    labels = segment_nuclei(discs([(32, 26), (32, 26 + 1.6 * RADIUS)]))
    assert labels.max() == 2


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((32, 32)),
        np.full((32, 32), 500.0),
        100 + 5 * np.random.default_rng(0).standard_normal((32, 32)),  # camera noise only
    ],
    ids=["zeros", "constant", "noise"],
)
def test_blank_image_has_no_objects(image):
    assert not foreground(image).any()
    nuclei, cells = segment(np.stack([image, image]), dna_channel=0, cytoplasm_channel=1)
    for labels in (nuclei, cells):
        assert labels.dtype == np.int32 and labels.shape == (32, 32) and not labels.any()


def test_small_objects_are_removed():
    image = discs([(16, 16)], size=32)
    image[3:6, 3:6] = 1000.0  # 9 px of debris
    assert segment_nuclei(image, sigma=0, min_area=10).max() == 1
    assert segment_nuclei(image, sigma=0, min_area=9).max() == 2


def test_nucleus_with_a_dim_hole_is_one_object():
    image = discs([(16, 16)], size=32, radius=7)
    image[15:18, 15:18] = 0.0  # a dark nucleolus must not punch a hole or split the nucleus
    labels = segment_nuclei(image, sigma=0)
    assert labels.max() == 1 and labels[16, 16] == 1


@settings(max_examples=15, deadline=None)
@given(
    cells=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=8, unique=True),
    jitter=st.lists(st.floats(-2, 2), min_size=16, max_size=16),
)
def test_discs_on_a_grid_are_counted(cells, jitter):
    # one disc per chosen cell of a 4×4 grid of 16 px squares: they never touch
    centres = [
        (8 + 16 * r + jitter[2 * i], 8 + 16 * c + jitter[2 * i + 1])
        for i, (r, c) in enumerate(cells)
    ]
    labels = segment_nuclei(discs(centres, noise=10.0))
    assert matches(centroids(labels), centres)


# --------------------------------------------------------------------------- cells


def test_cells_grow_from_their_nucleus_and_split_at_dim_valleys():
    nuclei = segment_nuclei(discs([(32, 20), (32, 44)], radius=4))
    yy, xx = np.mgrid[:64, :64]
    # two overlapping bright cell bodies; the valley between them is at x = 32
    cyto = 300.0 * (
        np.exp(-((yy - 32) ** 2 + (xx - 20) ** 2) / 150.0)
        + np.exp(-((yy - 32) ** 2 + (xx - 44) ** 2) / 150.0)
    )
    cells = segment_cells(nuclei, cyto)
    assert sorted(np.unique(cells)) == [0, 1, 2]
    for i in (1, 2):
        assert np.all(cells[nuclei == i] == i)
        assert (cells == i).sum() > 3 * (nuclei == i).sum()
    left = cells[nuclei == 1][0]
    assert np.all(cells[:, :30][cells[:, :30] > 0] == left)
    assert np.all(cells[:, 35:][cells[:, 35:] > 0] != left)


def test_cells_without_cytoplasm_signal_are_the_nuclei():
    dna = discs([(16, 16)], size=32)
    nuclei, cells = segment(np.stack([dna, np.zeros_like(dna)]), 0, 1)
    np.testing.assert_array_equal(cells, nuclei)
    nuclei, cells = segment(dna[None], 0, None)
    np.testing.assert_array_equal(cells, nuclei)


def synthetic_fields(condition: Condition, n: int = 6):
    return [render_field(condition, np.random.default_rng(seed)) for seed in range(n)]


def test_synthetic_fields_nuclei_are_counted_and_inside_their_cells():
    for field in synthetic_fields(Condition("DMSO")):
        nuclei, cells = segment(field, dna_channel=0, cytoplasm_channel=2)
        # independent count: nuclei are ~1200 ADU above a ~100 ADU offset and never touch
        bright = ndimage.gaussian_filter(field[0].astype(float), 1.0) > 700
        components, n_expected = ndimage.label(bright)
        assert abs(int(nuclei.max()) - n_expected) <= 1
        assert set(np.unique(cells)) == set(np.unique(nuclei))
        for i in range(1, nuclei.max() + 1):
            assert np.all(cells[nuclei == i] == i)
            assert (cells == i).sum() > (nuclei == i).sum()


def test_toxic_dose_leaves_fewer_nuclei():
    dmso = sum(segment_nuclei(f[0]).max() for f in synthetic_fields(Condition("DMSO")))
    toxic = sum(segment_nuclei(f[0]).max() for f in synthetic_fields(Condition("latrunculin", 3)))
    assert toxic < dmso


# --------------------------------------------------------------------------- errors


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(PhendiffError, match=r"\(C, Y, X\)"):
        segment(np.zeros((8, 8)), 0, None)
    with pytest.raises(PhendiffError, match="out of range"):
        segment(np.zeros((2, 8, 8)), 2, None)
    with pytest.raises(PhendiffError, match="out of range"):
        segment(np.zeros((2, 8, 8)), 0, 5)
    with pytest.raises(PhendiffError, match=r"\(Y, X\)"):
        segment_nuclei(np.zeros((2, 8, 8)))
    with pytest.raises(PhendiffError, match="same"):
        segment_cells(np.zeros((8, 8), np.int32), np.zeros((9, 9)))
    with pytest.raises(PhendiffError, match="finite"):
        segment_nuclei(np.full((8, 8), np.nan))

"""Known effects on hand-made images: the area, count and intensity that must come out."""

import numpy as np
import pytest

from phendiff.data.known_effects import remove_objects, scale_intensity, scale_objects
from phendiff.errors import PhendiffError


def discs(radius=8.0, centres=((20, 20), (20, 60), (60, 40)), size=80, level=1000, bg=100):
    """Flat discs of ``level`` on a noisy background of mean ``bg``, and their labels."""
    yy, xx = np.indices((size, size))
    labels = np.zeros((size, size), np.int32)
    for k, (cy, cx) in enumerate(centres, start=1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = k
    rng = np.random.default_rng(0)
    image = bg + rng.normal(0, 5, (2, size, size))
    image[:, labels > 0] = level
    return np.clip(image, 0, None).astype(np.uint16), labels


@pytest.mark.parametrize("factor", [0.6, 0.75, 1.3])
def test_scaled_objects_have_factor_squared_area_and_keep_their_intensity(factor):
    image, labels = discs()
    out, new = scale_objects(image, labels, factor, np.random.default_rng(1))
    assert out.dtype == image.dtype and out.shape == image.shape
    for k in (1, 2, 3):
        ratio = (new == k).sum() / (labels == k).sum()
        # a digitised disc of radius r·f: area π r² f², up to the pixels of its rim
        assert abs(ratio - factor**2) < 4 * np.pi * 8 * factor / (labels == k).sum(), (k, ratio)
        assert abs(np.median(out[:, new == k]) - 1000) < 1
    # measured from the pixels alone: bright area shrinks or grows by factor²
    bright_ratio = (out[0] > 500).sum() / (image[0] > 500).sum()
    assert bright_ratio == pytest.approx(factor**2, rel=0.12)
    vacated = (labels > 0) & (new == 0)
    if vacated.any():  # uncovered pixels are real background, not a constant
        assert abs(out[:, vacated].mean() - 100) < 3 and out[:, vacated].std() > 2


def test_removed_objects_are_background_and_the_rest_untouched():
    image, labels = discs()
    out, new = remove_objects(image, labels, 2 / 3, np.random.default_rng(2))
    kept = np.unique(new[new > 0])
    assert len(kept) == 1
    assert np.array_equal(out[:, new > 0], image[:, new > 0])
    gone = (labels > 0) & (new == 0)
    assert out[:, gone].max() < 200  # background level, not the discs' 1000
    assert np.array_equal(out[:, labels == 0], image[:, labels == 0])


def test_intensity_scales_the_signal_above_the_background():
    image, labels = discs(level=1100)
    out, new = scale_intensity(image, labels, 1.5, np.random.default_rng(3))
    bg = np.median(image[:, labels == 0], axis=1)[:, None]  # per channel
    assert np.array_equal(new, labels)
    inside = out[:, labels > 0]
    assert np.array_equal(inside, np.broadcast_to(np.rint(bg + 1.5 * (1100 - bg)), inside.shape))
    assert np.array_equal(out[:, labels == 0], image[:, labels == 0])


def test_bad_inputs():
    image, labels = discs()
    with pytest.raises(PhendiffError, match="expected"):
        scale_objects(image[0], labels, 0.5, np.random.default_rng(0))
    with pytest.raises(PhendiffError, match="factor"):
        scale_objects(image, labels, 0, np.random.default_rng(0))
    with pytest.raises(PhendiffError, match="fraction"):
        remove_objects(image, labels, 1.5, np.random.default_rng(0))
    with pytest.raises(PhendiffError, match="background"):
        scale_intensity(image, np.ones_like(labels), 2, np.random.default_rng(0))

"""Known effects on hand-made images: the area, count and intensity that must come out."""

import numpy as np
import pytest
from scipy import ndimage

from phendiff.data.known_effects import (
    remove_objects,
    scale_intensity,
    scale_objects,
    scale_texture,
)
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


@pytest.mark.parametrize("period", [8, 12, 16])
@pytest.mark.parametrize("factor", [0.5, 1.6])
def test_texture_scales_a_sinusoid_by_the_closed_form_gain_deep_inside_an_object(period, factor):
    n, sigma = 144, 1.5
    labels = np.zeros((n, n), np.int32)
    labels[8:136, 8:136] = 1
    k = 2 * np.pi / period
    xx = np.indices((n, n))[1]
    image = np.stack([500 + 100 * np.sin(k * xx), 300 - 50 * np.sin(k * xx)])
    out, new = scale_texture(image, labels, factor, np.random.default_rng(0), sigma=sigma)
    gain = 1 + (factor - 1) * (1 - np.exp(-(sigma**2) * k**2 / 2))  # G_σ damps it e^(-σ²k²/2)
    centre = (slice(24, 120), slice(24, 120))  # 96 px: whole periods, ≥ 16 px inside
    for c, (mean, amplitude) in enumerate([(500, 100), (300, 50)]):
        wave = out[c][centre] - mean
        assert np.sqrt(2 * np.mean(wave**2)) == pytest.approx(gain * amplitude, rel=5e-3)
        assert wave.mean() == pytest.approx(0, abs=0.5)  # the object's level stays
    assert np.array_equal(new, labels)
    assert np.array_equal(out[:, labels == 0], image[:, labels == 0])


def test_texture_leaves_rims_and_flat_objects_alone_and_roughens_noise_inside():
    image, labels = discs(radius=12.0, centres=((20, 20), (20, 44), (60, 40)), level=1000)
    rng = np.random.default_rng(4)
    noisy = image.astype(np.float64)
    noisy[:, labels > 0] += rng.normal(0, 40, (2, int((labels > 0).sum())))
    out, _ = scale_texture(noisy, labels, 2.0, rng)
    # the outermost pixels of each disc (with a background or other-disc neighbour) are unchanged
    neighbours_differ = ndimage.grey_erosion(labels, 3) != ndimage.grey_dilation(labels, 3)
    rim = (labels > 0) & neighbours_differ
    assert np.array_equal(out[:, rim], noisy[:, rim])
    core = ndimage.binary_erosion(labels > 0, iterations=6)
    before, after = noisy[:, core] - 1000, out[:, core] - 1000
    # white noise of std s passed through detail gain 1 + (1 - G): std grows by nearly 2
    assert 1.8 < after.std() / before.std() < 2.0
    assert abs(after.mean() - before.mean()) < 3
    # a flat object has no detail to scale; factor 1 is the identity
    flat, _ = scale_texture(image, labels, 2.0, rng)
    deep = ndimage.binary_erosion(labels > 0, iterations=5)
    assert np.abs(flat.astype(float) - image)[:, deep].max() <= 1
    same, _ = scale_texture(image, labels, 1.0, rng)
    assert np.array_equal(same, image) and same.dtype == image.dtype
    # factor 0 replaces the detail by the blur: the noise deep inside falls to the blur's level
    smooth, _ = scale_texture(noisy, labels, 0.0, rng)
    assert smooth[:, core].std() < 0.3 * before.std()


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
    with pytest.raises(PhendiffError, match="factor"):
        scale_texture(image, labels, -1, np.random.default_rng(0))
    with pytest.raises(PhendiffError, match="sigma"):
        scale_texture(image, labels, 1.5, np.random.default_rng(0), sigma=0)

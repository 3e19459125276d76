"""Per-channel normalisation: percentiles checked against numpy, exact inversion."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from phendiff.data.normalize import Normalizer
from phendiff.errors import PhendiffError


def _two_images() -> list[np.ndarray]:
    # 12-bit-like data that does not fill uint16, different per channel
    a = np.arange(2 * 5 * 6, dtype=np.uint16).reshape(2, 5, 6) * np.uint16(37)
    b = (np.arange(2 * 4 * 7, dtype=np.uint16).reshape(2, 4, 7)[:, ::-1] * np.uint16(11)) + 900
    return [a, b]


@pytest.mark.parametrize("percentiles", [(0.1, 99.9), (10, 90), (0, 100)])
def test_fit_matches_numpy_percentiles_of_pooled_pixels(percentiles):
    images = _two_images()
    norm = Normalizer.fit(images, percentiles=percentiles)
    for c in range(2):
        pooled = np.concatenate([im[c].ravel() for im in images])
        want = np.percentile(pooled.astype(np.float64), percentiles)
        np.testing.assert_allclose([norm.low[c], norm.high[c]], want, rtol=1e-12)
    assert norm.percentiles == tuple(float(p) for p in percentiles)


def test_fit_subsample_is_deterministic_and_close():
    rng = np.random.default_rng(1)
    images = [rng.gamma(2.0, 300.0, (2, 120, 150)).astype(np.float32) for _ in range(3)]
    fits = [Normalizer.fit(images, max_pixels_per_image=4000, seed=s) for s in (0, 0, 1)]
    assert fits[0] == fits[1]
    assert fits[0] != fits[2]
    full = Normalizer.fit(images, max_pixels_per_image=10**6, percentiles=(1, 99))
    sub = Normalizer.fit(images, max_pixels_per_image=4000, percentiles=(1, 99))
    np.testing.assert_allclose(sub.high, full.high, rtol=0.05)


def test_normalize_maps_low_high_to_minus_one_plus_one_without_clipping():
    norm = Normalizer(low=(100.0, -2.0), high=(4100.0, 6.0))
    x = np.array([100, 4100, 2100, 0, 8100], dtype=np.float64)
    x = np.stack([x, (x - 100) / 500 - 2]).reshape(2, 1, 5)
    y = norm.normalize(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    want = np.array([-1, 1, 0, -1.05, 3], dtype=np.float64)
    np.testing.assert_allclose(y[0, 0], want, atol=1e-7)
    np.testing.assert_allclose(y[1, 0], want, atol=1e-7)


def test_inverse_is_exact():
    norm = Normalizer(low=(3.0, 250.0, -1.5), high=(4095.0, 60000.0, 2.25))
    low = np.array(norm.low).reshape(3, 1, 1)
    span = np.array(norm.high).reshape(3, 1, 1) - low
    # each channel covers its range and half a span beyond on both sides
    x = low + span * np.random.default_rng(0).uniform(-0.5, 1.5, (4, 3, 6, 5))
    y = norm.normalize(x)
    back = norm.denormalize(y)
    assert back.dtype == np.float32
    assert np.max(np.abs(back - x) / span) < 1e-6  # float32 storage of y
    back64 = norm.denormalize(y.astype(np.float64))
    assert back64.dtype == np.float64
    np.testing.assert_allclose(norm.normalize(back64), y, atol=1e-7)
    t = torch.from_numpy(x)  # float64 end to end: exact to rounding
    np.testing.assert_allclose(norm.denormalize(norm.normalize(t)).numpy(), x, rtol=1e-14,
                               atol=1e-9)


def test_torch_and_numpy_agree():
    norm = Normalizer(low=(10.0, 0.0), high=(250.0, 4095.0))
    x = np.random.default_rng(2).integers(0, 4096, (3, 2, 8, 8)).astype(np.uint16)
    want = norm.normalize(x)
    t32 = norm.normalize(torch.from_numpy(x.astype(np.float32)))
    assert t32.dtype == torch.float32
    np.testing.assert_allclose(t32.numpy(), want, rtol=1e-6, atol=1e-6)
    from_int = norm.normalize(torch.from_numpy(x.astype(np.uint8)))
    assert from_int.dtype == torch.float32
    np.testing.assert_allclose(from_int.numpy(), norm.normalize(x.astype(np.uint8)), atol=1e-6)
    t16 = norm.normalize(torch.from_numpy(x[0].astype(np.float32)).to(torch.bfloat16))
    assert t16.dtype == torch.bfloat16
    np.testing.assert_allclose(
        norm.denormalize(torch.from_numpy(want)).numpy(), norm.denormalize(want), rtol=1e-6
    )


@pytest.mark.parametrize("high_value", [4095, 65535])
def test_to_output_dtype_gives_uint16_back_exactly(high_value):
    rng = np.random.default_rng(3)
    x = rng.integers(0, high_value, (2, 3, 32, 32), endpoint=True).astype(np.uint16)
    norm = Normalizer.fit(list(x))
    y = norm.normalize(x)
    out = norm.to_output_dtype(y, np.uint16)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(norm.to_output_dtype(torch.from_numpy(y), "uint16"), x)


def test_to_output_dtype_rounds_clips_and_casts():
    norm = Normalizer(low=(0.0,), high=(255.0,))
    y = np.array([[[-2.0, -1.0, 0.0, 0.999, 1.0, 5.0]]])
    np.testing.assert_array_equal(norm.to_output_dtype(y, np.uint8), [[[0, 0, 128, 255, 255, 255]]])
    floats = norm.to_output_dtype(y, np.float32)
    assert floats.dtype == np.float32
    np.testing.assert_allclose(floats[0, 0, :2], [-127.5, 0.0])
    with pytest.raises(PhendiffError, match="NaN"):
        norm.to_output_dtype(np.full((1, 1, 1), np.nan), np.uint8)


def test_dict_round_trip_through_json():
    norm = Normalizer.fit(_two_images())
    d = json.loads(json.dumps(norm.to_dict()))
    assert Normalizer.from_dict(d) == norm
    plain = Normalizer(low=(0.1,), high=(0.7,))
    assert Normalizer.from_dict(json.loads(json.dumps(plain.to_dict()))) == plain
    with pytest.raises(PhendiffError, match="expected 'low', 'high'"):
        Normalizer.from_dict({"low": [0.0], "hi": [1.0]})
    with pytest.raises(PhendiffError, match="high > low"):
        Normalizer.from_dict({"low": [1.0], "high": [1.0]})
    with pytest.raises(PhendiffError, match="malformed"):
        Normalizer.from_dict({"low": 0.0, "high": [1.0, 2.0]})


def test_constant_channel_is_an_error():
    images = _two_images()
    for image in images:
        image[1] = 5
    with pytest.raises(PhendiffError) as info:
        Normalizer.fit(images)
    assert "channel 1" in str(info.value) and "constant at 5" in str(info.value)


def test_fit_and_apply_errors():
    a, b = _two_images()
    with pytest.raises(PhendiffError, match="no images"):
        Normalizer.fit([])
    with pytest.raises(PhendiffError, match="image 1: 1 channels"):
        Normalizer.fit([a, b[:1]])
    with pytest.raises(PhendiffError, match="expected \\(C, Y, X\\)"):
        Normalizer.fit([a[0]])
    nan = a.astype(np.float32)
    nan[0, 0, 0] = np.nan
    with pytest.raises(PhendiffError, match="image 0: NaN"):
        Normalizer.fit([nan])
    with pytest.raises(PhendiffError, match="percentiles"):
        Normalizer.fit([a], percentiles=(99, 1))
    norm = Normalizer.fit([a, b])
    with pytest.raises(PhendiffError, match="C = 2 channels"):
        norm.normalize(np.zeros((3, 4, 4)))
    with pytest.raises(PhendiffError, match="C = 2 channels"):
        norm.denormalize(torch.zeros(4, 4))

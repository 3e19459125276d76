"""FID and KID on feature matrices (numpy, float64); nothing here knows about images.

- :func:`fid_from_features` -- Fréchet distance between Gaussians fitted to two feature sets,
  ``||μ1 - μ2||² + tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½)`` (Heusel et al. 2017); with fewer images than
  feature dimensions the trace comes from an ``N × M`` singular-value problem, in seconds where
  the ``D × D`` matrix square root takes a minute at D = 2048.
- :func:`kid_from_features` -- kernel inception distance: the unbiased MMD² estimator with
  the cubic polynomial kernel ``k(x, y) = (x·y / D + 1)³``, averaged over random subsets
  (Bińkowski et al. 2018). Unlike FID it is unbiased, so it can be compared across set sizes.
- :func:`fid_kid` -- both, per extractor view, with the mean over views as the summary.
- :func:`minimum_images`, :func:`check_image_counts` -- how many images a metric needs.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping

import numpy as np
import scipy.linalg

from phendiff.errors import PhendiffError

logger = logging.getLogger(__name__)

MIN_IMAGES = {"fid": 2, "kid": 2}


def minimum_images(metric: str) -> int:
    """Fewest images per set that ``metric`` (``"fid"`` or ``"kid"``) can be computed from.

    Both need 2: a covariance, and the unbiased within-set kernel sums over pairs ``i != j``.
    FID is computable from 2 images but biased upward; see :func:`check_image_counts`.

    Parameters
    ----------
    metric : {"fid", "kid"}
        Case-insensitive.

    Returns
    -------
    int
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

    Parameters
    ----------
    n_first, n_second : int
        Images in the two sets.
    metric : {"fid", "kid"}
    dim : int, optional
        Feature dimension D; without it no rank warning is logged.
    labels : (str, str)
        What the two sets are called in the error message.

    Raises
    ------
    PhendiffError
        If a set has fewer than :func:`minimum_images` images.
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


def trace_sqrt_product_from_features(f1: np.ndarray, f2: np.ndarray) -> float:
    """``tr((Σ1 Σ2)^½)`` of two feature sets' covariances without forming a D×D matrix.

    With the centred, scaled features ``A = (f1 - μ1) / √(N1 - 1)`` (so ``Σ1 = AᵀA``) and
    ``B`` likewise, ``Σ1 Σ2 = AᵀA BᵀB`` has the nonzero eigenvalues of
    ``(A Bᵀ)(A Bᵀ)ᵀ``, the squared singular values of the ``N1 × N2`` matrix ``A Bᵀ``; the
    trace of the root is their sum. Exact in float64, and an ``N1 × N2`` problem where the
    square root of ``Σ1 Σ2`` is a ``D × D`` one.

    Parameters
    ----------
    f1 : array (N1, D), N1 >= 2
    f2 : array (N2, D), N2 >= 2

    Returns
    -------
    float
    """
    a = (f1 - f1.mean(axis=0)) / np.sqrt(len(f1) - 1)
    b = (f2 - f2.mean(axis=0)) / np.sqrt(len(f2) - 1)
    return float(np.linalg.svd(a @ b.T, compute_uv=False).sum())


FID_METHODS = ("auto", "features", "covariance", "sqrtm")


def fid_from_features(features1: np.ndarray, features2: np.ndarray, method: str = "auto") -> float:
    """FID between two feature sets.

    Parameters
    ----------
    features1 : array (N, D), N >= 2
    features2 : array (M, D), M >= 2
    method : {"auto", "features", "covariance", "sqrtm"}
        How ``tr((Σ1 Σ2)^½)`` is computed: ``features`` from the singular values of an
        ``N × M`` matrix (:func:`trace_sqrt_product_from_features`), ``covariance`` from
        symmetric ``D × D`` eigenvalue problems, ``sqrtm`` with :func:`scipy.linalg.sqrtm` of
        the ``D × D`` product as pytorch-fid does; ``auto``: ``features`` when
        ``max(N, M) < D``, else ``covariance``. All agree to round-off.

    Returns
    -------
    float
        Biased upward for small N, M (compare only FIDs from equally many images).
    """
    if method not in FID_METHODS:
        raise PhendiffError(f"method={method!r}; expected one of {', '.join(FID_METHODS)}")
    f1 = _as_features(features1, "first feature set")
    f2 = _as_features(features2, "second feature set")
    _check_same_dim(f1, f2)
    check_image_counts(len(f1), len(f2), "fid", dim=f1.shape[1])
    if method == "auto":
        method = "features" if max(len(f1), len(f2)) < f1.shape[1] else "covariance"
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    if method == "features":
        cross = trace_sqrt_product_from_features(f1, f2)
        # tr(Σ) = ||A||_F², again without the D × D matrix
        traces = sum(((f - f.mean(axis=0)) ** 2).sum() / (len(f) - 1) for f in (f1, f2))
    else:
        _, sigma1 = feature_statistics(f1)
        _, sigma2 = feature_statistics(f2)
        if method == "sqrtm":
            return frechet_distance(mu1, sigma1, mu2, sigma2)
        cross = _trace_sqrt_product_psd(sigma1, sigma2)
        traces = np.trace(sigma1) + np.trace(sigma2)
    diff = mu1 - mu2
    return max(float(diff @ diff + traces - 2.0 * cross), 0.0)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's cubic kernel ``k(x, y) = (x·y / D + 1)³`` between rows: (n, D), (m, D) -> (n, m).

    Parameters
    ----------
    x : float array (n, D)
    y : float array (m, D)

    Returns
    -------
    float array (n, m)
    """
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between equally sized samples ``x``, ``y`` (m, D) with the cubic kernel.

    Within-set sums skip ``i == j``: ``k(x_i, x_i)`` is not a draw of ``E k(x, x')`` and
    including it biases the estimate upward by about ``2 (E k(x, x) - E k(x, x')) / m``. The
    cross term keeps every pair, which is unbiased because ``x`` and ``y`` are independent.

    Parameters
    ----------
    x, y : float array (m, D), m >= 2

    Returns
    -------
    float
        Can be slightly negative when the two distributions are equal.
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
        Images per subset from each set, at most half the smaller set (so that subsets differ
        and their spread means something); drawn without replacement.
    seed : int
        Seed of the subset draws; the result is deterministic per seed.

    Returns
    -------
    mean, std : float
        Mean and standard deviation (``ddof=0``) of the estimate over subsets. The mean can
        be slightly negative when the two distributions are equal. With fewer than 4 images
        in a set every subset is that whole set: the mean is its one estimate and ``std`` is
        NaN (no spread can be measured).
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
    smaller = min(len(f1), len(f2))
    if smaller < 4:
        m = smaller
        x = f1[np.random.default_rng(seed).choice(len(f1), m, replace=False)]
        y = f2[np.random.default_rng(seed + 1).choice(len(f2), m, replace=False)]
        return mmd2_unbiased(x, y), float("nan")
    m = min(subset_size, smaller // 2)
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

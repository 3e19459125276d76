"""Per-channel intensity normalisation to the model's ``[-1, 1]`` space, and back.

A :class:`Normalizer` is fitted once on the training images: for each channel, a low and a
high percentile of the pooled pixels (by default 0.1 and 99.9). It maps ``low → -1`` and
``high → +1`` linearly with no clipping, so the map is exactly invertible and outputs can be
returned in the input's units. Nothing assumes that uint16 data fills its range: a 12-bit
camera's images are scaled by their own percentiles. The normaliser is stored with the model
(:meth:`Normalizer.to_dict`).

Notation: ``center = (high + low) / 2`` and ``half = (high - low) / 2``, so
``y = (x - center) / half`` and ``x = y * half + center`` (computed in float64).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from phendiff.errors import PhendiffError


def _is_tensor(x) -> bool:
    # checked without importing torch, so numpy-only callers never pay for it
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _check_percentiles(percentiles) -> tuple[float, float]:
    try:
        p_low, p_high = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        raise PhendiffError(
            f"percentiles {percentiles!r} are not valid; expected two numbers, e.g. (0.1, 99.9)"
        ) from None
    if not 0 <= p_low < p_high <= 100:
        raise PhendiffError(
            f"percentiles ({p_low}, {p_high}) are not valid; expected 0 <= low < high <= 100"
        )
    return p_low, p_high


def _subsample(
    index: int, image, n_channels: int | None, max_pixels: int, rng: np.random.Generator
) -> np.ndarray:
    """``(C, n)`` pixels of one ``(C, Y, X)`` image, at most ``max_pixels`` per channel."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise PhendiffError(
            f"image {index}: shape {image.shape}; expected (C, Y, X) — add a channel axis"
        )
    if n_channels is not None and image.shape[0] != n_channels:
        raise PhendiffError(
            f"image {index}: {image.shape[0]} channels; expected {n_channels} like the first "
            "image — every training image needs the same channels"
        )
    if image.dtype.kind not in "uif":
        raise PhendiffError(f"image {index}: dtype {image.dtype}; expected integer or float")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise PhendiffError(f"image {index}: NaN or inf pixels; expected finite intensities")
    flat = image.reshape(image.shape[0], -1)
    if flat.shape[1] > max_pixels:
        flat = flat[:, np.sort(rng.choice(flat.shape[1], max_pixels, replace=False))]
    # float32 holds uint8/uint16/float32 exactly, at half the memory of float64
    return flat.astype(np.result_type(flat.dtype, np.float32))


@dataclass(frozen=True)
class Normalizer:
    """Per-channel linear map of intensities: ``low → -1``, ``high → +1``.

    Attributes
    ----------
    low, high : tuple of float
        Per channel, in the input's units; ``high > low``.
    percentiles : (float, float) or None
        The percentiles ``low`` and ``high`` were fitted at, when known.

    Examples
    --------
    >>> norm = Normalizer(low=(100.0,), high=(4000.0,))
    >>> x = np.array([[[100, 2050, 4000]]], dtype=np.uint16)
    >>> norm.normalize(x)
    array([[[-1.,  0.,  1.]]], dtype=float32)
    >>> norm.to_output_dtype(norm.normalize(x), np.uint16)
    array([[[ 100, 2050, 4000]]], dtype=uint16)
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    percentiles: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        low = tuple(float(v) for v in np.ravel(self.low))
        high = tuple(float(v) for v in np.ravel(self.high))
        if not low or len(low) != len(high):
            raise PhendiffError(
                f"normaliser has {len(low)} low and {len(high)} high values; expected one "
                "of each per channel"
            )
        for i, (lo, hi) in enumerate(zip(low, high, strict=True)):
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                raise PhendiffError(
                    f"normaliser channel {i}: low {lo}, high {hi}; expected finite values "
                    "with high > low"
                )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        if self.percentiles is not None:
            object.__setattr__(self, "percentiles", _check_percentiles(self.percentiles))

    @property
    def n_channels(self) -> int:
        return len(self.low)

    @classmethod
    def fit(
        cls,
        images: Iterable[np.ndarray],
        percentiles: tuple[float, float] = (0.1, 99.9),
        max_pixels_per_image: int = 65536,
        seed: int = 0,
    ) -> Normalizer:
        """Fit per-channel percentiles over the pooled pixels of training images.

        Parameters
        ----------
        images : iterable of numpy.ndarray
            ``(C, Y, X)`` images, any integer or float dtype, all with the same ``C``.
        percentiles : (float, float)
            Low and high percentile in ``[0, 100]``, mapped to -1 and +1.
        max_pixels_per_image : int
            Pixels per channel drawn (without replacement) from each larger image, so
            memory stays ``4 * C * max_pixels_per_image`` bytes per image.
        seed : int
            Seed of the subsample; the same images in the same order give the same result.

        Returns
        -------
        Normalizer

        Raises
        ------
        PhendiffError
            No images; images of differing channel counts or non-finite pixels; a channel
            whose two percentiles coincide (constant, or nearly so).
        """
        p_low, p_high = _check_percentiles(percentiles)
        if int(max_pixels_per_image) < 1:
            raise PhendiffError(
                f"max_pixels_per_image={max_pixels_per_image}; expected a positive integer"
            )
        rng = np.random.default_rng(seed)
        samples: list[np.ndarray] = []
        for index, image in enumerate(images):
            n_channels = samples[0].shape[0] if samples else None
            samples.append(_subsample(index, image, n_channels, int(max_pixels_per_image), rng))
        if not samples:
            raise PhendiffError("no images to fit the normaliser on; expected training images")
        low, high = [], []
        for c in range(samples[0].shape[0]):
            pooled = np.concatenate([s[c] for s in samples]).astype(np.float64)
            lo, hi = (float(v) for v in np.percentile(pooled, [p_low, p_high]))
            if hi <= lo:
                raise PhendiffError(
                    f"channel {c} is constant at {lo:g} between its {p_low:g} and {p_high:g} "
                    "percentiles over the training images; expected some contrast — check "
                    "that channel (is it empty?), drop it, or widen the percentiles"
                )
            low.append(lo)
            high.append(hi)
        return cls(tuple(low), tuple(high), (p_low, p_high))

    # ------------------------------------------------------------------ the affine map

    def _center_half(self) -> tuple[np.ndarray, np.ndarray]:
        shape = (self.n_channels, 1, 1)
        low = np.asarray(self.low, dtype=np.float64).reshape(shape)
        high = np.asarray(self.high, dtype=np.float64).reshape(shape)
        return (high + low) / 2, (high - low) / 2

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) < 3 or shape[-3] != self.n_channels:
            raise PhendiffError(
                f"array of shape {tuple(shape)}; expected (C, Y, X) or (N, C, Y, X) with "
                f"C = {self.n_channels} channels as the normaliser was fitted on"
            )

    def _torch_affine(self, x, inverse: bool):
        import torch

        self._check_shape(tuple(x.shape))
        out_dtype = x.dtype if x.is_floating_point() else torch.float32
        # low-precision floats are computed in float32 and only stored in their own type
        work = torch.float64 if x.dtype == torch.float64 else torch.float32
        center, half = (torch.as_tensor(v, dtype=work, device=x.device)
                        for v in self._center_half())
        x = x.to(work)
        y = x * half + center if inverse else (x - center) / half
        return y.to(out_dtype)

    def normalize(self, x):
        """Map intensities to the model space: ``low → -1``, ``high → +1``, no clipping.

        Parameters
        ----------
        x : numpy.ndarray or torch.Tensor
            ``(C, Y, X)`` or ``(N, C, Y, X)`` (channels on axis -3), any numeric dtype.

        Returns
        -------
        numpy.ndarray (float32) or torch.Tensor (``x``'s float dtype, float32 for integers)
        """
        if _is_tensor(x):
            return self._torch_affine(x, inverse=False)
        x = np.asarray(x)
        self._check_shape(x.shape)
        center, half = self._center_half()
        return ((x.astype(np.float64) - center) / half).astype(np.float32)

    def denormalize(self, y):
        """Exact inverse of :meth:`normalize`, back to the input's units, as floats.

        Parameters
        ----------
        y : numpy.ndarray or torch.Tensor
            ``(C, Y, X)`` or ``(N, C, Y, X)`` in the model space.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            numpy: float32 for float32 input, else float64; torch: ``y``'s float dtype.
        """
        if _is_tensor(y):
            return self._torch_affine(y, inverse=True)
        y = np.asarray(y)
        out_dtype = np.float32 if y.dtype == np.float32 else np.float64
        return self._denormalize64(y).astype(out_dtype, copy=False)

    def _denormalize64(self, y: np.ndarray) -> np.ndarray:
        self._check_shape(y.shape)
        center, half = self._center_half()
        return y.astype(np.float64) * half + center

    def to_output_dtype(self, y, dtype) -> np.ndarray:
        """Denormalise and cast to an image dtype for writing.

        Integer dtypes (uint8, uint16, ...) are rounded to nearest and clipped to the dtype's
        range; float dtypes are a plain cast.

        Parameters
        ----------
        y : numpy.ndarray or torch.Tensor
            ``(C, Y, X)`` or ``(N, C, Y, X)`` in the model space.
        dtype : numpy dtype or str
            Target dtype, usually that of the source images.

        Returns
        -------
        numpy.ndarray
            Same shape as ``y``, of ``dtype``.
        """
        if _is_tensor(y):
            import torch

            y = y.detach().to("cpu", torch.float64).numpy()
        x = self._denormalize64(np.asarray(y))
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            return x.astype(dtype)
        if dtype.kind not in "ui":
            raise PhendiffError(f"output dtype {dtype} is not supported; expected uint8, uint16 "
                                "or a float dtype")
        if not np.isfinite(x).all():
            raise PhendiffError(
                f"cannot convert to {dtype}: the array has NaN or inf values; expected finite "
                "model outputs"
            )
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict:
        """JSON-able form: ``{"low": [...], "high": [...], "percentiles": [lo, hi] | None}``."""
        return {
            "low": list(self.low),
            "high": list(self.high),
            "percentiles": None if self.percentiles is None else list(self.percentiles),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Normalizer:
        """Inverse of :meth:`to_dict`; unknown or missing keys are an error."""
        keys = {"low", "high", "percentiles"}
        if not isinstance(d, Mapping) or not {"low", "high"} <= set(d) or set(d) - keys:
            found = sorted(d) if isinstance(d, Mapping) else type(d).__name__
            raise PhendiffError(
                f"normaliser record has keys {found}; expected 'low', 'high' and optionally "
                "'percentiles', as written by Normalizer.to_dict"
            )
        try:
            return cls(tuple(d["low"]), tuple(d["high"]), d.get("percentiles"))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, PhendiffError):
                raise
            raise PhendiffError(
                f"normaliser record is malformed ({exc}); expected lists of numbers"
            ) from None

"""Classic segmentation of nuclei and cells: Gaussian → Otsu → watershed.

The same recipe as a basic CellProfiler pipeline (IdentifyPrimaryObjects on the DNA channel,
IdentifySecondaryObjects by watershed on a cytoplasm channel), written with scikit-image and
scipy. Images go in as numpy arrays, label images come out as ``(Y, X)`` int32 with 0 as
background and objects numbered ``1..N``. Cell ``i`` always contains nucleus ``i``, so one
number identifies a cell and its nucleus in every table.

A field without objects gives all-zero label images, never an error: a constant image has no
Otsu threshold, and a field of pure camera noise has one that only splits the noise, so a
foreground is kept only where it stands out from the noise (see :func:`foreground`).

Examples
--------
>>> import numpy as np
>>> from phendiff.conditions import Condition
>>> from phendiff.data.synthetic import render_field
>>> field = render_field(Condition("DMSO"), np.random.default_rng(0))
>>> nuclei, cells = segment(field, dna_channel=0, cytoplasm_channel=1)
>>> nuclei.dtype, nuclei.shape, int(nuclei.max()) == int(cells.max())
(dtype('int32'), (64, 64), True)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu
from skimage.segmentation import relabel_sequential, watershed

from phendiff.errors import PhendiffError

__all__ = ["foreground", "segment", "segment_cells", "segment_nuclei"]

# A foreground must be brighter than the background by this many standard deviations of the
# pixel noise; Otsu on a field of pure noise separates two halves of the noise by ~1.6 noise
# SDs of the *smoothed* image (a fraction of a raw noise SD), real objects by tens of SDs.
_MIN_CONTRAST_SD = 5.0
# Peaks of the distance transform closer than this fraction of the typical nucleus radius are
# one nucleus; touching round nuclei have centres ~2 radii apart (≥ 1.4 radii in the
# chessboard metric that peak_local_max uses), a slightly elongated one a short ridge.
_PEAK_SPACING = 0.7


def _as_plane(name: str, image: np.ndarray) -> np.ndarray:
    """``image`` as a ``(Y, X)`` float64 array, or a one-line error."""
    array = np.asarray(image)
    if array.ndim != 2:
        raise PhendiffError(
            f"{name} has shape {array.shape}; expected one channel (Y, X) — pick a channel of "
            "a (C, Y, X) image, e.g. image[0]"
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise PhendiffError(f"{name} has dtype {array.dtype}; expected a numeric image")
    return array.astype(np.float64, copy=False)


def _noise_sd(raw: np.ndarray) -> float:
    """Robust SD of the pixel noise: MAD of horizontal neighbour differences.

    Differences cancel smooth signal and objects; the median ignores the few differences
    that straddle an edge. ``MAD / 0.6745`` is the SD of a Gaussian; a difference of two
    independent pixels has √2 times the pixel SD.
    """
    diffs = np.diff(raw, axis=-1)
    if diffs.size == 0:
        return 0.0
    return float(np.median(np.abs(diffs - np.median(diffs))) / 0.6745 / np.sqrt(2.0))


def foreground(raw: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Otsu foreground of a Gaussian-smoothed channel, empty when nothing stands out.

    Parameters
    ----------
    raw : numpy.ndarray
        ``(Y, X)`` intensities of one channel, any numeric dtype, any units.
    sigma : float, default 1.0
        SD of the Gaussian smoothing in px (0 for none).

    Returns
    -------
    numpy.ndarray
        ``(Y, X)`` bool, True above the Otsu threshold of the smoothed channel. All False when
        the channel is constant (no threshold exists) or when the mean foreground exceeds the
        mean background by less than 5 SDs of the pixel noise (a field with no objects).

    Examples
    --------
    >>> bool(foreground(np.zeros((8, 8))).any())
    False
    """
    raw = _as_plane("image", raw)
    smooth = ndimage.gaussian_filter(raw, sigma) if sigma > 0 else raw
    if not np.isfinite(smooth).all():
        raise PhendiffError("image has NaN or infinite pixels; expected finite intensities")
    if smooth.max() - smooth.min() <= 1e-12 * max(1.0, float(np.abs(smooth).max())):
        return np.zeros(raw.shape, dtype=bool)
    mask = smooth > threshold_otsu(smooth)
    contrast = smooth[mask].mean() - smooth[~mask].mean()
    if contrast < _MIN_CONTRAST_SD * _noise_sd(raw):
        return np.zeros(raw.shape, dtype=bool)
    return mask


def _typical_radius(mask: np.ndarray, distance: np.ndarray) -> float:
    """Median over connected components of their largest inscribed radius, in px.

    Two touching nuclei form one component whose inscribed radius is still that of one
    nucleus, so clumps do not inflate the estimate.
    """
    components, n = ndimage.label(mask)
    radii = ndimage.maximum(distance, components, index=np.arange(1, n + 1))
    return float(np.median(radii))


def _relabel(labels: np.ndarray, min_area: int) -> np.ndarray:
    """Drop objects smaller than ``min_area`` px and number the rest ``1..N`` as int32."""
    areas = np.bincount(labels.ravel())
    small = areas < min_area
    small[0] = False
    labels = np.where(small[labels], 0, labels)
    return relabel_sequential(labels)[0].astype(np.int32)


def segment_nuclei(
    dna: np.ndarray, sigma: float = 1.0, min_area: int = 10, min_distance: int | None = None
) -> np.ndarray:
    """Segment nuclei in a DNA channel and split touching ones.

    Gaussian smoothing → Otsu threshold (:func:`foreground`) → hole filling → watershed of
    the distance transform from its peaks → removal of small objects.

    Parameters
    ----------
    dna : numpy.ndarray
        ``(Y, X)`` DNA stain (Hoechst/DAPI) intensities, any numeric dtype, any units.
    sigma : float, default 1.0
        SD of the Gaussian smoothing in px.
    min_area : int, default 10
        Objects smaller than this many px are removed (debris, noise).
    min_distance : int, optional
        Smallest distance in px between two nucleus centres. Default: 0.7 × the typical
        nucleus radius, estimated from the image (median inscribed radius of the
        connected foreground components).

    Returns
    -------
    numpy.ndarray
        ``(Y, X)`` int32 labels, 0 background, nuclei ``1..N``; all zeros when the image has
        no nuclei.

    Examples
    --------
    >>> yy, xx = np.mgrid[:32, :32]
    >>> discs = ((yy - 10) ** 2 + (xx - 10) ** 2 < 25) | ((yy - 20) ** 2 + (xx - 22) ** 2 < 25)
    >>> int(segment_nuclei(discs.astype(float)).max())
    2
    """
    mask = ndimage.binary_fill_holes(foreground(dna, sigma))
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.int32)
    distance = ndimage.distance_transform_edt(mask)
    if min_distance is None:
        min_distance = max(1, round(_PEAK_SPACING * _typical_radius(mask, distance)))
    components, _ = ndimage.label(mask)
    peaks = peak_local_max(
        distance, min_distance=int(min_distance), labels=components, exclude_border=False
    )
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # peaks on one plateau of the distance transform are one nucleus: merge touching markers
    markers = ndimage.label(markers > 0)[0]
    labels = watershed(-distance, markers, mask=mask)
    return _relabel(labels, min_area)


def segment_cells(nuclei: np.ndarray, cytoplasm: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Grow each nucleus into its cell by watershed on a cytoplasm channel.

    Parameters
    ----------
    nuclei : numpy.ndarray
        ``(Y, X)`` integer labels from :func:`segment_nuclei` (0 background).
    cytoplasm : numpy.ndarray
        ``(Y, X)`` intensities of a stain that fills the cell body (tubulin, actin, a
        cytoplasmic dye), any numeric dtype.
    sigma : float, default 1.0
        SD of the Gaussian smoothing in px.

    Returns
    -------
    numpy.ndarray
        ``(Y, X)`` int32 labels: cell ``i`` is the part of the cytoplasm foreground (Otsu,
        :func:`foreground`, united with the nuclei) flooded from nucleus ``i`` over the
        inverted smoothed cytoplasm signal, so neighbouring cells meet at dim valleys.
        Cell ``i`` contains nucleus ``i``; foreground not reachable from a nucleus stays 0.

    Examples
    --------
    >>> nuclei = np.zeros((16, 16), np.int32)
    >>> nuclei[6:9, 6:9] = 1
    >>> cyto = np.zeros((16, 16))
    >>> cyto[3:12, 3:12] = 1.0
    >>> cells = segment_cells(nuclei, cyto, sigma=0)
    >>> int((cells == 1).sum())
    81
    """
    nuclei = np.asarray(nuclei)
    cytoplasm = _as_plane("cytoplasm", cytoplasm)
    if nuclei.shape != cytoplasm.shape or not np.issubdtype(nuclei.dtype, np.integer):
        raise PhendiffError(
            f"nuclei is {nuclei.dtype} {nuclei.shape}, cytoplasm {cytoplasm.shape}; expected "
            "integer labels of the same (Y, X) shape as the cytoplasm channel"
        )
    if not nuclei.any():
        return np.zeros(nuclei.shape, dtype=np.int32)
    # a cell has no holes even where its stain is dim (tubulin is excluded from the nucleus)
    mask = ndimage.binary_fill_holes(foreground(cytoplasm, sigma) | (nuclei > 0))
    smooth = ndimage.gaussian_filter(cytoplasm, sigma) if sigma > 0 else cytoplasm
    cells = watershed(-smooth, markers=nuclei.astype(np.int32), mask=mask)
    return cells.astype(np.int32)


def _channel_index(name: str, index: int, n_channels: int) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise PhendiffError(f"{name} = {index!r}; expected a channel index (int)")
    if not -n_channels <= index < n_channels:
        raise PhendiffError(
            f"{name} = {index} is out of range for an image with {n_channels} channels; "
            f"expected 0..{n_channels - 1}"
        )
    return int(index) % n_channels


def segment(
    image: np.ndarray,
    dna_channel: int,
    cytoplasm_channel: int | None,
    sigma: float = 1.0,
    min_area: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Segment the nuclei and cells of one field.

    Parameters
    ----------
    image : numpy.ndarray
        ``(C, Y, X)`` field, channel axis first, any numeric dtype.
    dna_channel : int
        Index of the DNA channel.
    cytoplasm_channel : int or None
        Index of the channel that outlines cells. None: no cell outline is available and
        the cells are the nuclei (a copy of the nuclear labels).
    sigma : float, default 1.0
        SD of the Gaussian smoothing in px, for both channels.
    min_area : int, default 10
        Smallest nucleus in px.

    Returns
    -------
    nuclei, cells : numpy.ndarray
        ``(Y, X)`` int32 label images with matching numbers (cell ``i`` contains nucleus
        ``i``); both all zeros when the field has no nuclei.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise PhendiffError(
            f"image has shape {image.shape}; expected (C, Y, X) with the channel axis first"
        )
    dna = image[_channel_index("dna_channel", dna_channel, image.shape[0])]
    nuclei = segment_nuclei(dna, sigma=sigma, min_area=min_area)
    if cytoplasm_channel is None:
        return nuclei, nuclei.copy()
    cyto = image[_channel_index("cytoplasm_channel", cytoplasm_channel, image.shape[0])]
    return nuclei, segment_cells(nuclei, cyto, sigma=sigma)

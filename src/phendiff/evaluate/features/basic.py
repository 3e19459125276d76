"""The ``"basic"`` feature set: scikit-image and scipy measurements of labelled objects (fast).

``AreaShape_{Area, Perimeter, Eccentricity, Solidity, MajorAxisLength, MinorAxisLength,
FormFactor}``; per channel ``Intensity_{Mean, Std, Integrated, Min, Max}Intensity_<ch>``;
per channel ``Texture_Contrast_<ch>_3``: Haralick contrast at distance 3 px without
grey-level quantisation, i.e. the mean of ``(I(p) - I(p + d))²`` over pixel pairs of the
object 3 px apart, averaged over the directions 0°, 45°, 90°, 135° (intensity² units).

NaN marks ``FormFactor`` of an object without perimeter (one pixel) and ``Texture_Contrast``
of an object with no pixel pair 3 px apart in some direction (narrower than ~4 px).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.measure import regionprops_table

_TEXTURE_DISTANCE = 3  # px, CellProfiler's default texture scale
_SHAPE_PROPERTIES = {
    "area": "Area",
    "perimeter": "Perimeter",
    "eccentricity": "Eccentricity",
    "solidity": "Solidity",
    "axis_major_length": "MajorAxisLength",
    "axis_minor_length": "MinorAxisLength",
}


def _shape_features(labels: np.ndarray, ids: np.ndarray) -> dict[str, np.ndarray]:
    """AreaShape features of the objects ``ids`` (NaN for ids absent from ``labels``)."""
    props = regionprops_table(labels, properties=("label", *_SHAPE_PROPERTIES))
    row = {int(label): i for i, label in enumerate(props["label"])}
    take = np.array([row.get(int(i), -1) for i in ids], dtype=np.intp)
    out = {}
    for prop, name in _SHAPE_PROPERTIES.items():
        values = np.append(np.asarray(props[prop], dtype=np.float64), np.nan)
        out[f"AreaShape_{name}"] = values[take]  # index -1 picks the NaN
    area, perimeter = out["AreaShape_Area"], out["AreaShape_Perimeter"]
    with np.errstate(divide="ignore", invalid="ignore"):
        # CellProfiler's FormFactor: 1 for a disc, smaller for ragged outlines
        out["AreaShape_FormFactor"] = np.where(
            perimeter > 0, 4 * np.pi * area / perimeter**2, np.nan
        )
    return out


def _intensity_features(
    labels: np.ndarray, pixels: np.ndarray, ids: np.ndarray, channel: str
) -> dict[str, np.ndarray]:
    """Mean, SD (population), integrated, min and max intensity of ``pixels`` per object."""
    absent = ndimage.sum_labels(np.ones_like(pixels), labels, ids) == 0
    stats = {
        "MeanIntensity": ndimage.mean,
        "StdIntensity": ndimage.standard_deviation,
        "IntegratedIntensity": ndimage.sum_labels,
        "MinIntensity": ndimage.minimum,
        "MaxIntensity": ndimage.maximum,
    }
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, stat in stats.items():
            values = np.asarray(stat(pixels, labels, ids), dtype=np.float64)
            out[f"Intensity_{name}_{channel}"] = np.where(absent, np.nan, values)
    return out


def _pair_slices(offset: tuple[int, int]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices selecting the first and second pixel of every pair ``p, p + offset``."""
    first, second = [], []
    for step in offset:
        first.append(slice(0, -step) if step > 0 else slice(-step, None))
        second.append(slice(step, None) if step > 0 else slice(0, step or None))
    return tuple(first), tuple(second)


def _contrast(labels: np.ndarray, pixels: np.ndarray, ids: np.ndarray, distance: int) -> np.ndarray:
    """Haralick contrast without quantisation: mean squared difference of pixel pairs.

    Pairs are ``distance`` px apart along 0°, 45°, 90° and 135°, both pixels in the same
    object; the four directions are averaged, as CellProfiler reports them one by one and
    studies usually average them. NaN when a direction has no pair in an object.
    """
    n = int(max(labels.max(initial=0), ids.max(initial=0))) + 1
    d = distance
    per_direction = []
    for offset in ((0, d), (d, d), (d, 0), (d, -d)):
        a, b = _pair_slices(offset)
        la, lb = labels[a], labels[b]
        same = (la == lb) & (la > 0)
        diff2 = (pixels[a] - pixels[b])[same] ** 2
        sums = np.bincount(la[same], weights=diff2, minlength=n)
        counts = np.bincount(la[same], minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_direction.append(np.where(counts > 0, sums / counts, np.nan)[ids])
    return np.mean(per_direction, axis=0)


def _basic_features(
    labels: np.ndarray, pixels: np.ndarray, ids: np.ndarray, channels: Sequence[str]
) -> dict[str, np.ndarray]:
    out = _shape_features(labels, ids)
    for c, name in enumerate(channels):
        out.update(_intensity_features(labels, pixels[c], ids, name))
    for c, name in enumerate(channels):
        texture = _contrast(labels, pixels[c], ids, _TEXTURE_DISTANCE)
        out[f"Texture_Contrast_{name}_{_TEXTURE_DISTANCE}"] = texture
    return out

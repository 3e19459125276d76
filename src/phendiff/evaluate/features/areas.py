"""Thresholded objects of one channel (``phendiff evaluate --measure CHANNEL``).

The general form of the PhenDiff paper's Golgi check (Fig. 2b): one channel's objects per
field — Otsu's threshold of the Gaussian-smoothed channel, kept only where the objects stand
out from the noise (:func:`phendiff.evaluate.segment.foreground`), connected components of
at least ``min_area`` px — and their area.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from phendiff.errors import PhendiffError
from phendiff.evaluate.segment import foreground

PREFIX = "Measure"


def area_columns(channel: str) -> list[str]:
    """The columns :func:`channel_objects` returns for ``channel``."""
    return [f"{PREFIX}_{channel}_{name}" for name in ("Area", "ObjectArea", "ObjectCount")]


def channel_objects(
    plane: np.ndarray, channel: str, sigma: float = 1.0, min_area: int = 4
) -> dict[str, float]:
    """Area of one channel's thresholded objects in one field.

    Parameters
    ----------
    plane : numpy.ndarray
        ``(Y, X)`` intensities of the channel.
    channel : str
        Its name, for the column names.
    sigma, min_area : float, int
        Gaussian smoothing (px) before Otsu; smallest object kept (px).

    Returns
    -------
    dict
        ``Measure_<channel>_Area`` (px of all kept objects), ``_ObjectArea`` (their mean
        area, NaN without objects) and ``_ObjectCount``.

    Examples
    --------
    >>> plane = np.zeros((20, 20)); plane[2:6, 2:6] = 100; plane[10:13, 10:12] = 100
    >>> channel_objects(plane, "golgi", sigma=0)
    {'Measure_golgi_Area': 22.0, 'Measure_golgi_ObjectArea': 11.0, 'Measure_golgi_ObjectCount': 2.0}
    """
    mask = foreground(plane, sigma)
    labels, n = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())[1:] if n else np.zeros(0, np.int64)
    sizes = sizes[sizes >= min_area]
    total, mean, count = area_columns(channel)
    return {
        total: float(sizes.sum()),
        mean: float(sizes.mean()) if sizes.size else np.nan,
        count: float(sizes.size),
    }


def channel_areas(
    items: Iterable[tuple[np.ndarray, Mapping[str, Any]]],
    channel_names: Sequence[str],
    channel: str,
    sigma: float = 1.0,
    min_area: int = 4,
) -> pd.DataFrame:
    """:func:`channel_objects` of every ``(image (C, Y, X), metadata)``: one row per field,
    the metadata columns first."""
    if channel not in channel_names:
        raise PhendiffError(
            f"--measure {channel!r} is not a channel of these images; expected one of "
            f"{', '.join(channel_names)}"
        )
    c = list(channel_names).index(channel)
    rows = [
        {**meta, **channel_objects(image[c], channel, sigma, min_area)} for image, meta in items
    ]
    return pd.DataFrame(rows)

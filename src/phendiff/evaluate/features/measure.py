"""Measuring fields: segment, measure every cell, and collect one tidy table.

:func:`measure_objects` measures given nuclei and cells of one ``(C, Y, X)`` field with a
feature set (:mod:`~phendiff.evaluate.features.basic` or
:mod:`~phendiff.evaluate.features.cp`); :func:`measure_image` segments the field first
(:func:`phendiff.evaluate.segment.segment`); :func:`measure_images` does so for many fields
and records every field, including those without cells.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from phendiff.errors import PhendiffError
from phendiff.evaluate.features.basic import _basic_features
from phendiff.evaluate.features.cp import _cp_features, _import_cp_measure
from phendiff.evaluate.features.tables import _IMAGES_ATTR, OBJECTS
from phendiff.evaluate.segment import segment

log = logging.getLogger(__name__)

FEATURE_SETS: tuple[str, ...] = ("basic", "cp")


def _check_image(image: np.ndarray, channel_names: Sequence[str]) -> np.ndarray:
    """Validate a ``(C, Y, X)`` image against its channel names."""
    array = np.asarray(image)
    if array.ndim != 3:
        raise PhendiffError(
            f"image has shape {array.shape}; expected (C, Y, X) with the channel axis first"
        )
    if not np.issubdtype(array.dtype, np.number):
        raise PhendiffError(f"image has dtype {array.dtype}; expected a numeric image")
    names = list(channel_names)
    if len(names) != array.shape[0] or len(set(names)) != len(names):
        raise PhendiffError(
            f"channel_names {names} do not fit an image with {array.shape[0]} channels; "
            "expected one distinct name per channel, in channel order"
        )
    return array


def _channel(role: str, channel: str | int | None, names: Sequence[str]) -> int | None:
    """Index of a channel given by name or index (None stays None)."""
    if channel is None:
        return None
    if isinstance(channel, str):
        if channel not in names:
            raise PhendiffError(
                f"{role} {channel!r} is not a channel of this image; expected one of "
                f"{', '.join(map(repr, names))}"
            )
        return list(names).index(channel)
    if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
        if 0 <= channel < len(names):
            return int(channel)
    raise PhendiffError(
        f"{role} = {channel!r}; expected a channel name ({', '.join(map(repr, names))}) or "
        f"an index 0..{len(names) - 1}"
    )


def _scaled(image: np.ndarray, scale: float | None) -> np.ndarray:
    """``image / scale`` in float64; default scale: an integer dtype's maximum, else 1."""
    if scale is None:
        scale = np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else 1.0
    if not (isinstance(scale, (int, float, np.number)) and math.isfinite(scale) and scale > 0):
        raise PhendiffError(f"scale = {scale!r}; expected a positive number, e.g. 65535")
    pixels = image.astype(np.float64) / float(scale)
    if not np.isfinite(pixels).all():
        raise PhendiffError("image has NaN or infinite pixels; expected finite intensities")
    return pixels


def _check_labels(name: str, labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != shape or not np.issubdtype(labels.dtype, np.integer):
        raise PhendiffError(
            f"{name} is {labels.dtype} {labels.shape}; expected integer labels of shape {shape}"
        )
    if labels.min(initial=0) < 0:
        raise PhendiffError(f"{name} has negative labels; expected 0 (background) and 1..N")
    return labels


def measure_objects(
    image: np.ndarray,
    nuclei: np.ndarray,
    cells: np.ndarray,
    channel_names: Sequence[str],
    feature_set: str = "basic",
    scale: float | None = None,
) -> pd.DataFrame:
    """Features of given nuclei and cells, one row per cell.

    Parameters
    ----------
    image : numpy.ndarray
        ``(C, Y, X)`` field, channel axis first, any numeric dtype.
    nuclei, cells : numpy.ndarray
        ``(Y, X)`` integer label images, 0 background; nucleus ``i`` belongs to cell ``i``
        (as :func:`phendiff.evaluate.segment.segment` returns them). Nuclei without a cell
        are ignored; a cell without a nucleus gets NaN nucleus features.
    channel_names : sequence of str
        One distinct name per channel; the last part of the intensity and texture columns.
    feature_set : {"basic", "cp"}, default "basic"
        See :mod:`phendiff.evaluate.features`.
    scale : float, optional
        Intensities are measured on ``image / scale``; default: the maximum of an integer
        dtype (65535 for uint16), 1 for floats.

    Returns
    -------
    pandas.DataFrame
        One row per cell label, in increasing order: ``ObjectNumber`` (the label), then
        ``Nuclei_*`` and ``Cells_*`` float64 feature columns (finite or NaN).
    """
    image = _check_image(image, channel_names)
    shape = image.shape[1:]
    nuclei = _check_labels("nuclei", nuclei, shape)
    cells = _check_labels("cells", cells, shape)
    if feature_set not in FEATURE_SETS:
        raise PhendiffError(
            f"feature_set {feature_set!r} is not known; expected one of {', '.join(FEATURE_SETS)}"
        )
    pixels = _scaled(image, scale)
    ids = np.flatnonzero(np.bincount(cells.ravel()))
    ids = ids[ids > 0]
    if feature_set == "cp":
        featurizer = _import_cp_measure()  # first, so a missing package fails on any field
        if ids.size == 0:
            return pd.DataFrame({"ObjectNumber": pd.Series([], dtype=np.int64)})
        features = _cp_features(featurizer, nuclei, cells, pixels, ids, channel_names)
    else:
        features = {
            f"{obj}_{name}": values
            for obj, labels in zip(OBJECTS, (nuclei, cells), strict=True)
            for name, values in _basic_features(labels, pixels, ids, channel_names).items()
        }
    table = pd.DataFrame({"ObjectNumber": ids.astype(np.int64)})
    values = pd.DataFrame(features, dtype=np.float64).replace([np.inf, -np.inf], np.nan)
    return pd.concat([table, values], axis=1)


def _with_metadata(table: pd.DataFrame, metadata: Mapping[str, Any]) -> pd.DataFrame:
    clash = [key for key in metadata if key in table.columns or key == "cell_count"]
    if clash:
        raise PhendiffError(
            f"metadata keys {clash} clash with measurement columns; rename them "
            "(e.g. 'image', 'condition', 'kind')"
        )
    meta = pd.DataFrame({key: [value] * len(table) for key, value in metadata.items()})
    return pd.concat([meta, table], axis=1)


def measure_image(
    image: np.ndarray,
    channel_names: Sequence[str],
    dna_channel: str | int,
    cytoplasm_channel: str | int | None,
    feature_set: str = "basic",
    metadata: Mapping[str, Any] | None = None,
    scale: float | None = None,
    sigma: float = 1.0,
    min_area: int = 10,
    labels: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Segment one field and measure its cells.

    Parameters
    ----------
    image : numpy.ndarray
        ``(C, Y, X)`` field, channel axis first, any numeric dtype.
    channel_names : sequence of str
        One distinct name per channel, e.g. ``("DNA", "tubulin", "actin")``.
    dna_channel : str or int
        The DNA channel, by name or index; it defines the nuclei.
    cytoplasm_channel : str, int or None
        The channel that outlines cells; None: the cells are the nuclei.
    feature_set : {"basic", "cp"}, default "basic"
        See :mod:`phendiff.evaluate.features`; ``"cp"`` needs ``pip install cp-measure``.
    metadata : mapping, optional
        Scalars repeated on every row, as the first columns (e.g. ``image``,
        ``condition``, ``kind``).
    scale : float, optional
        Intensities are measured on ``image / scale`` (see :func:`measure_objects`).
    sigma, min_area : float, int
        Segmentation smoothing (px) and smallest nucleus (px), see
        :func:`phendiff.evaluate.segment.segment`.
    labels : (nuclei, cells), optional
        ``(Y, X)`` label images to measure instead of segmenting (nucleus ``i`` in cell ``i``).

    Returns
    -------
    pandas.DataFrame
        One row per cell: the metadata columns, ``ObjectNumber``, then the features. A field
        without cells gives zero rows. ``table.attrs["images"]`` holds one record: the
        metadata plus ``cell_count``, so empty fields stay visible (:func:`image_table`).
    """
    return _measure(
        image, channel_names, dna_channel, cytoplasm_channel, feature_set, metadata, scale,
        sigma, min_area, labels,
    )[0]  # fmt: skip


def _measure(
    image, channel_names, dna_channel, cytoplasm_channel, feature_set, metadata, scale, sigma,
    min_area, labels,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`measure_image` and the ``(nuclei, cells)`` it measured."""
    metadata = dict(metadata or {})
    image = _check_image(image, channel_names)
    dna = _channel("dna_channel", dna_channel, channel_names)
    cyto = _channel("cytoplasm_channel", cytoplasm_channel, channel_names)
    if labels is None:
        nuclei, cells = segment(image, dna, cyto, sigma=sigma, min_area=min_area)
    else:
        nuclei, cells = labels
    table = measure_objects(image, nuclei, cells, channel_names, feature_set, scale)
    table = _with_metadata(table, metadata)
    table.attrs[_IMAGES_ATTR] = [{**metadata, "cell_count": len(table)}]
    return table, nuclei, cells


def measure_images(
    images: Iterable[tuple[np.ndarray, Mapping[str, Any]]],
    channel_names: Sequence[str],
    dna_channel: str | int,
    cytoplasm_channel: str | int | None,
    feature_set: str = "basic",
    scale: float | None = None,
    sigma: float = 1.0,
    min_area: int = 10,
    progress: bool = True,
    masks: Callable[[int, Mapping[str, Any]], tuple[np.ndarray, np.ndarray]] | None = None,
    keep_masks: Callable[[Mapping[str, Any], np.ndarray, np.ndarray], None] | None = None,
) -> pd.DataFrame:
    """Measure the cells of many fields into one tidy table.

    Parameters
    ----------
    images : iterable of (numpy.ndarray, mapping)
        ``(image, metadata)`` pairs: a ``(C, Y, X)`` field and its metadata scalars (e.g.
        ``{"image": "P1_A01_f000", "condition": "latrunculin@3", "kind": "real"}``). A field
        whose metadata has no ``image`` key gets its position in ``images``.
    channel_names, dna_channel, cytoplasm_channel, feature_set, scale, sigma, min_area
        As in :func:`measure_image`, the same for every field.
    progress : bool, default True
        Show a tqdm progress bar.
    masks : callable, optional
        ``masks(i, metadata) -> (nuclei, cells)``: label images of field ``i`` to measure
        instead of segmenting it.
    keep_masks : callable, optional
        Called as ``keep_masks(metadata, nuclei, cells)`` with the labels each field was
        measured with (e.g. to write them).

    Returns
    -------
    pandas.DataFrame
        One row per cell of every field: metadata columns (``image`` first, then the other
        keys in order of appearance), ``ObjectNumber``, features. ``table.attrs["images"]``
        lists every field's metadata with its ``cell_count``, including fields where no
        cell was found (they have no rows); see :func:`image_table`.

    Examples
    --------
    >>> from phendiff.conditions import Condition
    >>> from phendiff.data.synthetic import CHANNELS, render_field
    >>> from phendiff.evaluate.features import image_table
    >>> fields = [(render_field(Condition("DMSO"), np.random.default_rng(i)),
    ...            {"condition": "DMSO"}) for i in range(2)]
    >>> table = measure_images(fields, CHANNELS, "DNA", "actin", progress=False)
    >>> list(image_table(table).columns)
    ['image', 'condition', 'cell_count']
    """
    from tqdm.auto import tqdm

    tables, records = [], []
    for i, item in enumerate(
        tqdm(images, desc="cell features", unit="field", disable=not progress)
    ):
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Mapping)):
            raise PhendiffError(
                f"images[{i}] is a {type(item).__name__}; expected an (image, metadata dict) pair"
            )
        image, metadata = item
        metadata = {"image": i, **metadata}
        table, nuclei, cells = _measure(
            image,
            channel_names,
            dna_channel,
            cytoplasm_channel,
            feature_set,
            metadata,
            scale,
            sigma,
            min_area,
            None if masks is None else masks(i, metadata),
        )
        if keep_masks is not None:
            keep_masks(metadata, nuclei, cells)
        records += table.attrs[_IMAGES_ATTR]
        if len(table):
            tables.append(table)
    keys = list(dict.fromkeys(key for record in records for key in record))
    meta = [key for key in keys if key != "cell_count"]
    if tables:
        table = pd.concat(tables, ignore_index=True)
        table.attrs = {}
        table = table[meta + [c for c in table.columns if c not in meta]]
    else:
        table = pd.DataFrame(columns=[*meta, "ObjectNumber"])
    table.attrs[_IMAGES_ATTR] = records
    log.info("measured %d cells in %d fields", len(table), len(records))
    return table

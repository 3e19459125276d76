"""Per-cell features as tidy tables: one row per cell, CellProfiler column names.

A field ``(C, Y, X)`` is segmented (:mod:`phendiff.evaluate.segment`) into nuclei and cells
with matching numbers; every cell becomes one row holding its ``ObjectNumber`` and the
features of the cell and of its nucleus, named like CellProfiler's exports
(``Cells_Intensity_MeanIntensity_actin``, ``Nuclei_AreaShape_Area``). Two feature sets:

``"basic"`` (scikit-image and scipy, fast)
    ``AreaShape_{Area, Perimeter, Eccentricity, Solidity, MajorAxisLength, MinorAxisLength,
    FormFactor}``; per channel ``Intensity_{Mean, Std, Integrated, Min, Max}Intensity_<ch>``;
    per channel ``Texture_Contrast_<ch>_3``: Haralick contrast at distance 3 px without
    grey-level quantisation, i.e. the mean of ``(I(p) - I(p + d))²`` over pixel pairs of the
    object 3 px apart, averaged over the directions 0°, 45°, 90°, 135° (intensity² units).
``"cp"`` (CellProfiler's own measurements through the ``cp_measure`` package)
    MeasureObjectSizeShape, MeasureObjectIntensity, MeasureTexture (Haralick, scale 3,
    256 levels, per direction), MeasureGranularity and MeasureColocalization (Pearson
    correlation and slope, Manders and rank-weighted colocalisation between every channel
    pair), for cells and nuclei. Position features (centres, bounding boxes, spatial moments,
    ``Location_*``) are dropped: they describe where a cell is, not what it looks like.
    Granularity uses parameters for ~10 px cells (:data:`CP_GRANULARITY`), not
    CellProfiler's defaults for megapixel images.

Intensities: features are measured on ``image / scale``. By default integer images are
divided by their dtype's maximum (65535 for uint16, as CellProfiler does) and float images
are taken as they are. **Images you compare must be measured on one scale**: pass the same
``scale`` for real uint16 fields and for translated float fields in the same units. The
``"cp"`` set follows CellProfiler in expecting ``[0, 1]`` (its texture quantises ``[0, 1]``
to 256 levels): values above 1 are an error, negative values (a translation's undershoot)
are clipped to 0.

Undefined values are NaN, never infinite. NaN marks, in the ``"basic"`` set: ``FormFactor``
of an object without perimeter (one pixel); ``Texture_Contrast`` of an object with no pixel
pair 3 px apart in some direction (narrower than ~4 px); every nucleus feature of a cell
without a nucleus (only with hand-made masks). In the ``"cp"`` set, in addition: all 13
Haralick features of such thin objects; ``Correlation_Pearson`` (and the ``Slope`` whose
first channel is constant) of an object where a channel is constant or which has one pixel.
``NormalizedMoment_0_0``, ``_0_1`` and ``_1_0`` (undefined for every object) and
``CentralMoment_0_1``, ``_1_0`` (0 for every object) are dropped.

Examples
--------
>>> import numpy as np
>>> from phendiff.conditions import Condition
>>> from phendiff.data.synthetic import CHANNELS, render_field
>>> field = render_field(Condition("DMSO"), np.random.default_rng(0))
>>> table = measure_image(field, CHANNELS, "DNA", "tubulin", metadata={"condition": "DMSO"})
>>> list(table.columns[:3])
['condition', 'ObjectNumber', 'Nuclei_AreaShape_Area']
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage.measure import regionprops_table

from phendiff.errors import PhendiffError
from phendiff.evaluate.segment import segment

__all__ = [
    "CP_GRANULARITY",
    "FEATURE_SETS",
    "OBJECTS",
    "aggregate",
    "feature_columns",
    "image_table",
    "measure_image",
    "measure_images",
    "measure_objects",
]

log = logging.getLogger(__name__)

FEATURE_SETS: tuple[str, ...] = ("basic", "cp")
#: Object names, the prefixes of every feature column.
OBJECTS: tuple[str, ...] = ("Nuclei", "Cells")
#: MeasureGranularity parameters for ~10 px cells: no subsampling (the cells are small
#: already), background removed by an opening of 10 px at half resolution (20 px, larger
#: than a nucleus), and a spectrum of openings of 1–8 px (puncta to nuclei).
CP_GRANULARITY: Mapping[str, float] = {
    "subsample_size": 1.0,
    "image_sample_size": 0.5,
    "element_size": 10,
    "granular_spectrum_length": 8,
}

_TEXTURE_DISTANCE = 3  # px, CellProfiler's default texture scale
_SHAPE_PROPERTIES = {
    "area": "Area",
    "perimeter": "Perimeter",
    "eccentricity": "Eccentricity",
    "solidity": "Solidity",
    "axis_major_length": "MajorAxisLength",
    "axis_minor_length": "MinorAxisLength",
}
_IMAGES_ATTR = "images"  # DataFrame.attrs key of the per-image records (with cell_count)


# --------------------------------------------------------------------------- input checks


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


# --------------------------------------------------------------------------- basic set


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


# --------------------------------------------------------------------------- cp set

_HARALICK = re.compile(
    r"^(AngularSecondMoment|Contrast|Correlation|Variance|InverseDifferenceMoment|SumAverage|"
    r"SumVariance|SumEntropy|Entropy|DifferenceVariance|DifferenceEntropy|InfoMeas1|InfoMeas2)"
    r"_(\d+_\d+_\d+)$"
)
# where a cell is, not what it looks like; normalised moments that are undefined and central
# moments that are 0 by definition
_DROPPED = re.compile(
    r"^(Center_|BoundingBox|SpatialMoment_|Location_|NormalizedMoment_(0_0|0_1|1_0)$"
    r"|CentralMoment_(0_1|1_0)$)"
)


def _cp_column(key: str) -> str | None:
    """CellProfiler's name of a cp_measure feature key, or None for a dropped feature.

    cp_measure writes ``Feature__channel`` (``Feature__ch1__ch2`` for colocalisation) and
    leaves out the ``AreaShape_`` and ``Texture_`` prefixes of CellProfiler's exports.
    """
    base, *channels = key.split("__")
    if _DROPPED.match(base):
        return None
    if not channels:
        return f"AreaShape_{base}"
    haralick = _HARALICK.match(base)
    if haralick:  # Texture_<Feature>_<channel>_<scale>_<direction>_<levels>
        return f"Texture_{haralick[1]}_{'_'.join(channels)}_{haralick[2]}"
    return f"{base}_{'_'.join(channels)}"


def _import_cp_measure():
    """``cp_measure.featurizer`` with the numba accelerator on when numba is installed."""
    try:
        import cp_measure
        from cp_measure import featurizer
    except ImportError:
        raise PhendiffError(
            "feature_set='cp' needs the cp_measure package, which is not installed; run "
            "`pip install cp-measure` (or `pip install 'phendiff[cp]'`), or use "
            "feature_set='basic'"
        ) from None
    try:
        from cp_measure._detect import HAS_NUMBA
    except ImportError:  # an older cp_measure without backends
        HAS_NUMBA = False
    if HAS_NUMBA and hasattr(cp_measure, "set_accelerator"):
        # cp_measure's documented switch to its numba kernels (texture, intensity, Feret);
        # it is process-wide, and results agree with the numpy backend to ~1e-5
        cp_measure.set_accelerator("numba")
    return featurizer


def _cp_features(
    featurizer,
    nuclei: np.ndarray,
    cells: np.ndarray,
    pixels: np.ndarray,
    ids: np.ndarray,
    channels: Sequence[str],
) -> dict[str, np.ndarray]:
    """cp_measure's features of nuclei and cells, renamed, aligned on the cell ``ids``."""
    if pixels.max(initial=0) > 1 + 1e-9:
        raise PhendiffError(
            f"the 'cp' feature set measures intensities in [0, 1] like CellProfiler, but the "
            f"image reaches {pixels.max():.4g} after dividing by scale; pass scale= the "
            "camera's white level (e.g. 4095 for 12-bit, 65535 for 16-bit data)"
        )
    config = featurizer.make_featurizer_config(
        list(channels),
        objects=list(OBJECTS),
        radial_distribution=False,
        radial_zernikes=False,
        zernike=False,
        feret=False,
        correlation_costes=False,
        granularity_params=dict(CP_GRANULARITY),
    )
    masks = np.stack([nuclei, cells])[None].astype(np.int32)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # undefined values (constant channels, thin objects) come back as NaN; said above
        warnings.simplefilter("ignore", RuntimeWarning)
        data, keys, rows = featurizer.featurize(np.clip(pixels, 0.0, 1.0)[None], masks, config)
    out: dict[str, np.ndarray] = {}
    row_of = {(obj, int(label)): r for r, (_, obj, label) in enumerate(rows)}
    for obj in OBJECTS:
        take = np.array([row_of.get((obj, int(i)), -1) for i in ids], dtype=np.intp)
        for k, key in enumerate(keys):
            name = _cp_column(key)
            if name is not None:
                values = np.append(data[:, k].astype(np.float64), np.nan)
                out[f"{obj}_{name}"] = values[take]  # -1: an object without this part
    return out


# --------------------------------------------------------------------------- tables


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
        See the module docstring.
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
        See the module docstring; ``"cp"`` needs ``pip install cp-measure``.
    metadata : mapping, optional
        Scalars repeated on every row, as the first columns (e.g. ``image``,
        ``condition``, ``kind``).
    scale : float, optional
        Intensities are measured on ``image / scale`` (see :func:`measure_objects`).
    sigma, min_area : float, int
        Segmentation smoothing (px) and smallest nucleus (px), see
        :func:`phendiff.evaluate.segment.segment`.

    Returns
    -------
    pandas.DataFrame
        One row per cell: the metadata columns, ``ObjectNumber``, then the features. A field
        without cells gives zero rows. ``table.attrs["images"]`` holds one record: the
        metadata plus ``cell_count``, so empty fields stay visible (:func:`image_table`).
    """
    metadata = dict(metadata or {})
    image = _check_image(image, channel_names)
    dna = _channel("dna_channel", dna_channel, channel_names)
    cyto = _channel("cytoplasm_channel", cytoplasm_channel, channel_names)
    nuclei, cells = segment(image, dna, cyto, sigma=sigma, min_area=min_area)
    table = measure_objects(image, nuclei, cells, channel_names, feature_set, scale)
    table = _with_metadata(table, metadata)
    table.attrs[_IMAGES_ATTR] = [{**metadata, "cell_count": len(table)}]
    return table


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
        table = measure_image(
            image,
            channel_names,
            dna_channel,
            cytoplasm_channel,
            feature_set,
            metadata,
            scale,
            sigma,
            min_area,
        )
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


def image_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per measured field: its metadata and ``cell_count`` (0 for empty fields).

    Parameters
    ----------
    table : pandas.DataFrame
        A table from :func:`measure_image` or :func:`measure_images`; the records live in
        ``table.attrs["images"]`` (filtering rows keeps them all).

    Returns
    -------
    pandas.DataFrame
    """
    records = table.attrs.get(_IMAGES_ATTR)
    if records is None:
        raise PhendiffError(
            "table has no per-image records (attrs['images']); expected a table from "
            "measure_images, or pass images= explicitly"
        )
    return pd.DataFrame.from_records(records)


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns of a cell table: those named ``Nuclei_*`` or ``Cells_*``."""
    return [
        c
        for c in table.columns
        if isinstance(c, str) and c.startswith(tuple(f"{obj}_" for obj in OBJECTS))
    ]


def aggregate(
    table: pd.DataFrame,
    by: str | Sequence[str] = ("condition",),
    how: str = "mean",
    images: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-group mean or median of every feature over the cells, with cell counts.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell (:func:`measure_images`).
    by : str or sequence of str, default ("condition",)
        Metadata columns to group by: ``("image",)`` for per-field profiles,
        ``("condition",)`` for per-condition ones (cells pooled over the fields).
    how : {"mean", "median"}, default "mean"
    images : pandas.DataFrame, optional
        One row per measured field, with the ``by`` columns; default
        :func:`image_table` of ``table`` when it has the records. It adds the groups where
        no cell was found (``cell_count`` 0, features NaN) and the field counts.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``by``: the ``by`` columns, ``cell_count`` (cells in the
        group), and, when fields are known, ``image_count`` and ``cells_per_image``; then
        the aggregated feature columns under their own names.

    Examples
    --------
    >>> cells = pd.DataFrame({"condition": ["a", "a", "b"], "Cells_AreaShape_Area": [1., 3., 5.]})
    >>> aggregate(cells)[["condition", "cell_count", "Cells_AreaShape_Area"]].to_dict("list")
    {'condition': ['a', 'b'], 'cell_count': [2, 1], 'Cells_AreaShape_Area': [2.0, 5.0]}
    """
    by = [by] if isinstance(by, str) else list(by)
    if how not in ("mean", "median"):
        raise PhendiffError(f"how = {how!r}; expected 'mean' or 'median'")
    missing = [key for key in by if key not in table.columns]
    if not by or missing:
        raise PhendiffError(
            f"cannot group by {by}: missing columns {missing}; expected metadata columns of "
            f"the table, e.g. {[c for c in table.columns if c not in feature_columns(table)]}"
        )
    if images is None and _IMAGES_ATTR in table.attrs:
        images = image_table(table)
    features = feature_columns(table)
    grouped = table.groupby(by, dropna=False, sort=True)
    out = grouped[features].agg(how) if features else grouped.size().to_frame().iloc[:, :0]
    out.insert(0, "cell_count", grouped.size())
    if images is not None:
        out = _add_image_counts(out, images, by)
    out["cell_count"] = out["cell_count"].fillna(0).astype(np.int64)
    return out.reset_index()


def _add_image_counts(out: pd.DataFrame, images: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Join field counts; groups seen only among the fields (no cells) get rows too."""
    missing = [key for key in by if key not in images.columns]
    if missing:
        raise PhendiffError(
            f"images lacks the columns {missing} to group by; expected the table's metadata"
        )
    counts = images.groupby(by, dropna=False, sort=True).size().rename("image_count")
    out = out.join(counts, how="outer").sort_index()
    out["image_count"] = out["image_count"].fillna(0).astype(np.int64)
    fields = out["image_count"].where(out["image_count"] > 0)  # NaN, not inf, for no field
    out["cells_per_image"] = out["cell_count"].fillna(0) / fields
    counts = ["cell_count", "image_count", "cells_per_image"]
    return out[counts + [c for c in out.columns if c not in counts]]

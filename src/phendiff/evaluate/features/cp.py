"""The ``"cp"`` feature set: CellProfiler's own measurements through the ``cp_measure`` package.

MeasureObjectSizeShape, MeasureObjectIntensity, MeasureTexture (Haralick, scale 3,
256 levels, per direction), MeasureGranularity and MeasureColocalization (Pearson
correlation and slope, Manders and rank-weighted colocalisation between every channel
pair), for cells and nuclei. Position features (centres, bounding boxes, spatial moments,
``Location_*``) are dropped: they describe where a cell is, not what it looks like.
Granularity uses parameters for ~10 px cells (:data:`CP_GRANULARITY`), not
CellProfiler's defaults for megapixel images. cp_measure's keys are renamed to
CellProfiler's column names (:func:`_cp_column`).

As CellProfiler, the set expects intensities in ``[0, 1]`` (its texture quantises ``[0, 1]``
to 256 levels): values above 1 are an error, negative values are clipped to 0. NaN marks, in
addition to the ``"basic"`` cases, all 13 Haralick features of thin objects and
``Correlation_Pearson`` (and the ``Slope`` whose first channel is constant) of an object
where a channel is constant or which has one pixel. ``NormalizedMoment_0_0``, ``_0_1`` and
``_1_0`` (undefined for every object) and ``CentralMoment_0_1``, ``_1_0`` (0 for every
object) are dropped.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from phendiff.errors import PhendiffError
from phendiff.evaluate.features.tables import OBJECTS

#: MeasureGranularity parameters for ~10 px cells: no subsampling (the cells are small
#: already), background removed by an opening of 10 px at half resolution (20 px, larger
#: than a nucleus), and a spectrum of openings of 1–8 px (puncta to nuclei).
CP_GRANULARITY: Mapping[str, float] = {
    "subsample_size": 1.0,
    "image_sample_size": 0.5,
    "element_size": 10,
    "granular_spectrum_length": 8,
}

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

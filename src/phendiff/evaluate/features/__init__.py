"""Per-cell features as tidy tables: one row per cell, CellProfiler column names.

A field ``(C, Y, X)`` is segmented (:mod:`phendiff.evaluate.segment`) into nuclei and cells
with matching numbers; every cell becomes one row holding its ``ObjectNumber`` and the
features of the cell and of its nucleus, named like CellProfiler's exports
(``Cells_Intensity_MeanIntensity_actin``, ``Nuclei_AreaShape_Area``). Two feature sets:

``"basic"`` (scikit-image and scipy, fast; :mod:`~phendiff.evaluate.features.basic`)
    Area and shape, per-channel intensity statistics and per-channel Haralick contrast at
    3 px without grey-level quantisation.
``"cp"`` (CellProfiler's own measurements through the ``cp_measure`` package;
:mod:`~phendiff.evaluate.features.cp`)
    MeasureObjectSizeShape, MeasureObjectIntensity, MeasureTexture, MeasureGranularity and
    MeasureColocalization for cells and nuclei, without position features.

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

The package holds the two feature sets, :mod:`~phendiff.evaluate.features.measure`
(segmenting and measuring fields into a cell table) and
:mod:`~phendiff.evaluate.features.tables` (reading cell tables back: feature columns,
per-image records, aggregates); it re-exports their public names.

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

from phendiff.evaluate.features.cp import CP_GRANULARITY
from phendiff.evaluate.features.measure import (
    FEATURE_SETS,
    measure_image,
    measure_images,
    measure_objects,
)
from phendiff.evaluate.features.tables import OBJECTS, aggregate, feature_columns, image_table

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

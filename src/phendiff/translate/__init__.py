"""Translation: invert a real image once under its own condition, regenerate it under others.

- ``arrays.py``   :func:`translate` on numpy arrays, :func:`model_denoiser`, :func:`sample`;
- ``core.py``     invert once, generate every target, in normalised units;
- ``tiles.py``    images of any size (padding, overlapping tiles);
- ``inputs.py``   :func:`collect_inputs`: files, folders, manifests → image records;
- ``files.py``    :func:`translate_files`: image files in, TIFFs, previews, figures and
                  ``translations.csv`` out (also for the GAN baselines' translators);
- ``figures.py``, ``preview.py``  difference maps, dose series, PNG previews;
- ``metrics.py``  reconstruction errors (also read by ``evaluate``).

Options are :class:`phendiff.config.TranslateOptions` (re-exported here). Imports from
``data``, ``model`` and ``diffusion``; nothing from ``evaluate``. The package itself is
callable: ``phendiff.translate(model, images, source, targets, steps=...)`` is
:func:`phendiff.api.translate`.
"""

from phendiff.api import make_callable
from phendiff.config import TranslateOptions
from phendiff.translate.arrays import (
    Translation,
    model_denoiser,
    resolve_targets,
    sample,
    translate,
)
from phendiff.translate.files import read_index, translate_files
from phendiff.translate.inputs import collect_inputs

__all__ = [
    "TranslateOptions",
    "Translation",
    "collect_inputs",
    "model_denoiser",
    "read_index",
    "resolve_targets",
    "sample",
    "translate",
    "translate_files",
]

make_callable(__name__, "translate")

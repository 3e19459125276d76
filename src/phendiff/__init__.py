"""phendiff: reveal cell phenotypes by translating real microscopy images between conditions.

A single class-conditional diffusion model is trained over all conditions of a screen;
a real image is DDIM-inverted under its own condition and regenerated under another,
so the difference between input and output is the phenotype of that very cell.

The Python API (:mod:`phendiff.api`) is exported here: ``phendiff.load_model``,
``phendiff.translate``, ``phendiff.evaluate``, with ``read_image``, ``write_tiff`` and
``demo_model_path``. They are imported on first use, so ``import phendiff`` (and
``phendiff --help``) stays instant.
"""

from phendiff.errors import PhendiffError

__version__ = "0.1.0"

_LAZY = {
    "load_model": "phendiff.api",
    "read_image": "phendiff.data.io",
    "write_tiff": "phendiff.data.io",
    "demo_model_path": "phendiff.demo",
    "TranslateOptions": "phendiff.config",
    "EvaluateOptions": "phendiff.config",
}
_CALLABLE = ("translate", "evaluate")  # subpackages that are also the API's functions
__all__ = ["PhendiffError", "__version__", *_LAZY, *_CALLABLE]


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _CALLABLE:
        return importlib.import_module(f"phendiff.{name}")
    raise AttributeError(f"module 'phendiff' has no attribute {name!r}")

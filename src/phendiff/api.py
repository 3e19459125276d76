"""The Python API for notebooks, exported from :mod:`phendiff` itself.

Three calls cover a session: :func:`load_model` (onto the GPU when there is one),
:func:`translate` on numpy arrays, and :func:`evaluate` on folders, the same functions the
command line calls. Options are keywords named like the CLI flags (``steps=50``,
``guidance=1.5``; ``features="cp"``), checked like them.

Examples
--------
>>> import numpy as np, phendiff
>>> model = phendiff.load_model(phendiff.demo_model_path())  # doctest: +SKIP
>>> result = phendiff.translate(model, image, "DMSO", ["latrunculin@all"])  # doctest: +SKIP
>>> result.translated[0].shape  # (targets, C, Y, X)  # doctest: +SKIP
(4, 3, 64, 64)
"""

from __future__ import annotations

import dataclasses
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from phendiff.errors import PhendiffError


class _CallablePackage(types.ModuleType):
    """A package that is also a function: ``phendiff.translate(...)`` beside
    ``phendiff.translate.files``. (Importing a subpackage binds it on its parent, so a plain
    function named like a subpackage would be replaced by the package on first import.)"""

    def __call__(self, *args, **kwargs):
        return globals()[self.__dict__["_api_function"]](*args, **kwargs)


def make_callable(package: str, function: str) -> None:
    """Let the imported ``package`` be called as this module's ``function``."""
    module = sys.modules[package]
    module._api_function = function
    module.__class__ = _CallablePackage


def default_device() -> str:
    """``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(path: str | Path, device: str | None = None):
    """Load a model folder (or a training run) for translation.

    Parameters
    ----------
    path : str or path-like
        A model folder, or a training run holding one in ``model/``.
    device : str, optional
        ``"cuda"``, ``"cuda:1"``, ``"cpu"``, ...; default: the GPU when there is one.

    Returns
    -------
    phendiff.model.checkpoint.PhendiffModel
        The network in eval mode with its configuration, conditions and normalisation.
    """
    from phendiff.model.checkpoint import load_model as load

    return load(path, device=device or default_device())


def _options(cls, options, overrides: dict[str, Any]):
    if not overrides:
        return options or cls()
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise PhendiffError(
            f"unknown option(s) {', '.join(unknown)}; expected some of {', '.join(sorted(names))}"
        )
    return dataclasses.replace(options or cls(), **overrides)


def translate(
    model,
    images: np.ndarray | Sequence[np.ndarray],
    source: str | Sequence[str],
    targets: str | Sequence[str],
    options=None,
    progress: bool = False,
    **overrides: Any,
):
    """Translate images to every target condition, as ``phendiff translate`` does.

    Parameters
    ----------
    model : PhendiffModel
        From :func:`load_model`.
    images : numpy.ndarray or sequence of numpy.ndarray
        ``(N, C, Y, X)``, one ``(C, Y, X)`` image, or a list of ``(C, Y, X)`` images (sizes
        may differ), in the units and dtype they were read in (uint8, uint16 or float).
    source : str or sequence of str
        The images' condition (``"DMSO"``), or one per image.
    targets : str or sequence of str
        Conditions; ``"<compound>@all"`` is a whole dose series.
    options : phendiff.config.TranslateOptions, optional
        The defaults are the CLI's.
    progress : bool
        Show a progress bar.
    **overrides
        Options by name, e.g. ``steps=50``, ``guidance=1.5``, ``precision="fp32"``.

    Returns
    -------
    phendiff.translate.Translation
        ``translated[i]``: ``(T, C, Y, X)`` in the input's dtype; ``reconstruction[i]``:
        the same-condition round trip; ``metrics[i]``: its errors; ``targets``, ``sources``.
    """
    from phendiff.config import TranslateOptions
    from phendiff.translate import translate as run

    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = images[np.newaxis]  # one (C, Y, X) image
    if isinstance(targets, str):
        targets = [targets]
    options = _options(TranslateOptions, options, overrides)
    return run(model, images, source, targets, options, progress=progress)


def evaluate(
    real: str | Path,
    translated: str | Path,
    out: str | Path,
    options=None,
    overwrite: bool = False,
    progress: bool = True,
    masks: str | Path | None = None,
    replicate: str | Path | None = None,
    device: str | None = None,
    **overrides: Any,
) -> Path:
    """Score a translation folder against the real screen and write the report, as
    ``phendiff evaluate`` does; returns the path of ``out/index.html``.

    ``**overrides`` are options by name (``features="cp"``, ``fid_weights="none"``,
    ``measure="Golgi"``); ``masks`` and ``replicate`` as ``--masks`` and ``--replicate``;
    ``device``: where the FID network runs (default: the GPU when there is one).
    """
    from phendiff.config import EvaluateOptions
    from phendiff.evaluate.analyses import evaluate as run

    options = _options(EvaluateOptions, options, overrides)
    return run(real, translated, out, options, overwrite=overwrite, progress=progress,
               masks=masks, replicate=replicate, device=device or default_device())  # fmt: skip

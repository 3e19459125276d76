"""The standard FID network: a plain-torch port of pytorch-fid's Inception v3.

:class:`InceptionV3FID` is TF Inception v3 "2015-12-05" as ported by pytorch-fid, giving
2048-d pool3 features, loaded from the user-given file
``pt_inception-2015-12-05-6726825d.pth`` or a ``.safetensors`` conversion of it. Weight files
are read with ``torch.load(weights_only=True)`` or safetensors: nothing is unpickled, and
nothing is downloaded.

Layer names and shapes follow torchvision's Inception3 as patched by pytorch-fid, so that
pytorch-fid's weight file loads with strict key matching.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from phendiff.errors import PhendiffError

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_WEIGHTS_FILE
)


class _BasicConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    # TF's average pool leaves the zero padding out of the average
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    """Inception block A (Mixed_5b-d), TF average pooling: ``in -> 224 + pool_features``.

    Parameters
    ----------
    in_channels : int
    pool_features : int
        Output channels of the pooling branch.
    """

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = _BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = _BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = _BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = _BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([self.branch1x1(x), b5, b3, pool], 1)


class _InceptionB(nn.Module):
    """Grid reduction (Mixed_6a): 288 -> 768 channels, stride 2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = _BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = _BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), b3, pool], 1)


class FIDInceptionC(nn.Module):
    """Inception block C (Mixed_6b-e) with factorised 7×7 convs, TF average pooling: 768 -> 768.

    Parameters
    ----------
    in_channels : int
    channels_7x7 : int
        Width of the factorised 7×7 branches.
    """

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        row, col = (
            {"kernel_size": (1, 7), "padding": (0, 3)},
            {"kernel_size": (7, 1), "padding": (3, 0)},
        )
        self.branch1x1 = _BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = _BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = _BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = _BasicConv2d(c7, 192, **col)
        self.branch7x7dbl_1 = _BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = _BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3 = _BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = _BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = _BasicConv2d(c7, 192, **row)
        self.branch_pool = _BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7dbl = self.branch7x7dbl_1(x)
        for layer in (
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            b7dbl = layer(b7dbl)
        pool = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([self.branch1x1(x), b7, b7dbl, pool], 1)


class _InceptionD(nn.Module):
    """Grid reduction (Mixed_7a): 768 -> 1280 channels, stride 2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = _BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = _BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = _BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = _BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, pool], 1)


class FIDInceptionE_1(nn.Module):  # pytorch-fid's class name
    """Inception block E (Mixed_7b), TF average pooling: in -> 2048 channels.

    Parameters
    ----------
    in_channels : int
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = _BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = _BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = _BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = _BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = _BasicConv2d(in_channels, 192, kernel_size=1)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return _tf_avg_pool(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3dbl = torch.cat([self.branch3x3dbl_3a(b3dbl), self.branch3x3dbl_3b(b3dbl)], 1)
        pool = self.branch_pool(self._pool(x))
        return torch.cat([self.branch1x1(x), b3, b3dbl, pool], 1)


class FIDInceptionE_2(FIDInceptionE_1):  # pytorch-fid's class name
    """Inception block E (Mixed_7c): the TF graph max-pools here (a quirk of the 2015 model).

    Parameters
    ----------
    in_channels : int
    """

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionV3FID(nn.Module):
    """The standard FID network: TF Inception v3 "2015-12-05", 2048-d pool3 features.

    Written in plain torch with the layer names of pytorch-fid's ``fid_inception_v3()`` (a
    torchvision ``Inception3`` without aux logits, 1008 classes, and the ``FIDInceptionA/C/
    E_1/E_2`` blocks), so pytorch-fid's weight file loads with strict key matching. The
    input is resized bilinearly to 299×299 (``align_corners=False``) and scaled from [0, 1] to
    [-1, 1], as in pytorch-fid. ``fc`` (1008 logits) is in the weight file but unused.

    Parameters
    ----------
    weights : path, optional
        pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (read with
        ``torch.load(weights_only=True)``, which runs no pickled code) or a ``.safetensors``
        file with the same keys. Without it the network is randomly initialised (tests only).
    resize_input : bool
        Resize inputs to 299×299 first.
    """

    def __init__(self, weights: str | Path | None = None, resize_input: bool = True) -> None:
        super().__init__()
        self.resize_input = resize_input
        self.Conv2d_1a_3x3 = _BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = _BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = _BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = _BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = _BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = _InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = _InceptionD(768)
        self.Mixed_7b = FIDInceptionE_1(1280)
        self.Mixed_7c = FIDInceptionE_2(2048)
        self.fc = nn.Linear(2048, 1008)
        self.name = "inception-v3-fid (random init)"
        self.weights = None
        self.requires_grad_(False)
        self.eval()
        if weights is not None:
            path = _existing_file(weights, "FID Inception weights")
            self.load_fid_state_dict(_read_state_dict(path), source=str(path))
            self.weights = str(path)

    def load_fid_state_dict(
        self, state: Mapping[str, torch.Tensor], source: str = "state dict"
    ) -> None:
        """Load pytorch-fid's weights, checking keys and shapes first.

        ``num_batches_tracked`` buffers may be absent (older files); everything else must
        match exactly, else :class:`PhendiffError` says how many keys are missing/unexpected.
        """
        own = self.state_dict()
        optional = {key for key in own if key.endswith("num_batches_tracked")}
        missing = sorted(set(own) - set(state) - optional)
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise PhendiffError(
                f"{source}: not the FID Inception v3 weights — {len(missing)} of "
                f"{len(own) - len(optional)} expected keys missing{_examples(missing)}, "
                f"{len(unexpected)} unexpected{_examples(unexpected)}; {_weights_hint()}"
            )
        wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(own[k].shape)]
        if wrong:
            k = wrong[0]
            raise PhendiffError(
                f"{source}: {len(wrong)} tensors have the wrong shape (e.g. {k!r} "
                f"{tuple(state[k].shape)}, expected {tuple(own[k].shape)}); {_weights_hint()}"
            )
        self.load_state_dict({**{k: own[k] for k in optional}, **state}, strict=True)
        self.name = "inception-v3-fid"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 1] -> pool3 features float32 (N, 2048)."""
        x = images
        if self.resize_input:
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b, self.Mixed_5c, self.Mixed_5d,
            self.Mixed_6a, self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e,
            self.Mixed_7a, self.Mixed_7b, self.Mixed_7c,
        ):  # fmt: skip
            x = block(x)
        return x.mean(dim=(2, 3))  # pool3: global average pool


def _examples(keys: list[str]) -> str:
    return f" (e.g. {keys[0]!r})" if keys else ""


def _weights_hint() -> str:
    return (
        f"expected pytorch-fid's {FID_WEIGHTS_FILE} (download {FID_WEIGHTS_URL} on a machine "
        "with internet) or a .safetensors conversion of it, passed as --fid-weights FILE"
    )


def _existing_file(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise PhendiffError(f"{what} {path}: file not found — check the path")
    return path


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` file or a ``torch.save``-d state dict, never unpickled."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any reader failure means: not a weights file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PhendiffError(
            f"{path}: cannot be read as a state dict ({reason[:120]}); {_weights_hint()}"
        ) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise PhendiffError(
            f"{path}: holds a {type(state).__name__}, not a mapping of names to tensors; "
            f"{_weights_hint()}"
        )
    return dict(state)

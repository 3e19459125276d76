"""Images to extractor inputs: microscopy images have C channels, the networks take RGB.

:func:`to_extractor_views` maps a batch ``(N, C, H, W)`` in the model's normalised ``[-1, 1]``
units to ``[0, 1]`` by ``(x + 1) / 2``, clipped, and then

- ``C == 3``: one view ``"rgb"``, channels taken as R, G, B in order (the PhenDiff paper's
  convention for BBBC021);
- any other ``C``: one view per channel, named ``"ch0"``, ``"ch1"``, ... (or by the channel
  names given), the channel replicated to 3 channels (a grayscale image).

:func:`extract_features` runs an extractor over every view in batches; FID and KID are then
computed per view (:func:`phendiff.evaluate.fid.metrics.fid_kid`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from phendiff.errors import PhendiffError
from phendiff.evaluate.fid.extractors import FeatureExtractor


def _check_batch(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise PhendiffError(
            f"images: shape {arr.shape}; expected a batch (N, C, H, W) — add a batch axis with "
            "images[None]"
        )
    return arr


def view_names(num_channels: int, channel_names: Sequence[str] | None = None) -> list[str]:
    """Names of the extractor views of a C-channel image (see :func:`to_extractor_views`).

    Parameters
    ----------
    num_channels : int
        C.
    channel_names : sequence of C str, optional
        View names for ``C != 3``.

    Returns
    -------
    list of str
        ``["rgb"]`` for 3 channels, else the channel names or ``"ch0"``, ``"ch1"``, ...
    """
    if channel_names is not None and len(channel_names) != num_channels:
        raise PhendiffError(
            f"{len(channel_names)} channel names {list(channel_names)} for {num_channels} "
            "channels; expected one name per channel"
        )
    if num_channels == 3:
        return ["rgb"]
    if channel_names is not None:
        return [str(name) for name in channel_names]
    return [f"ch{c}" for c in range(num_channels)]


def to_extractor_views(
    images: np.ndarray, channel_names: Sequence[str] | None = None
) -> list[tuple[str, torch.Tensor]]:
    """Turn normalised C-channel images into the 3-channel ``[0, 1]`` inputs of an extractor.

    Parameters
    ----------
    images : array (N, C, H, W), float in the normalised ``[-1, 1]`` units
    channel_names : sequence of C str, optional
        View names for ``C != 3`` (default ``"ch0"``, ``"ch1"``, ...).

    Returns
    -------
    list of (view name, float32 tensor (N, 3, H, W) in [0, 1])
        ``C == 3``: ``[("rgb", images as R, G, B)]``; otherwise one grayscale view per
        channel, the channel replicated 3 times. Values are ``(x + 1) / 2`` clipped to [0, 1].
    """
    arr = _check_batch(images)
    names = view_names(arr.shape[1], channel_names)
    unit = torch.from_numpy(np.clip((arr.astype(np.float32) + 1.0) / 2.0, 0.0, 1.0))
    if arr.shape[1] == 3:
        return [("rgb", unit)]
    return [
        (name, unit[:, c : c + 1].expand(-1, 3, -1, -1).contiguous())
        for c, name in enumerate(names)
    ]


def extract_features(
    extractor: FeatureExtractor,
    images: np.ndarray,
    channel_names: Sequence[str] | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = False,
    desc: str | None = None,
) -> dict[str, np.ndarray]:
    """Features of every extractor view of ``images``, computed in batches.

    Parameters
    ----------
    extractor : FeatureExtractor
        Moved to ``device`` and put in eval mode if it is a ``torch.nn.Module``.
    images : array (N, C, H, W), float in the normalised ``[-1, 1]`` units
    channel_names : sequence of C str, optional
        See :func:`to_extractor_views`.
    batch_size : int
    device : str or torch.device
    progress : bool
        Show a progress bar (per image).
    desc : str, optional
        Its label; default ``features (<extractor name>)``.

    Returns
    -------
    dict view name -> float64 array (N, D)
    """
    from tqdm.auto import tqdm

    arr = _check_batch(images)
    if len(arr) == 0 or batch_size < 1:
        raise PhendiffError(
            f"extract_features: {len(arr)} images, batch_size {batch_size}; expected at least "
            "one image and batch_size >= 1"
        )
    if isinstance(extractor, nn.Module):
        extractor.to(device).eval()
    parts: dict[str, list[np.ndarray]] = {
        name: [] for name in view_names(arr.shape[1], channel_names)
    }
    starts = range(0, len(arr), batch_size)
    name = getattr(extractor, "name", type(extractor).__name__)
    bar = tqdm(total=len(arr), desc=desc or f"features ({name})", unit="image",
               disable=not progress)  # fmt: skip
    with torch.inference_mode():
        for start in starts:
            for view, batch in to_extractor_views(arr[start : start + batch_size], channel_names):
                parts[view].append(_run_extractor(extractor, batch.to(device), name))
            bar.update(len(arr[start : start + batch_size]))
    bar.close()
    return {view: np.concatenate(chunks) for view, chunks in parts.items()}


def _run_extractor(extractor: FeatureExtractor, batch: torch.Tensor, name: str) -> np.ndarray:
    out = extractor(batch)
    if out.ndim != 2 or out.shape[0] != batch.shape[0]:
        raise PhendiffError(
            f"feature extractor {name!r} returned shape {tuple(out.shape)} for "
            f"{batch.shape[0]} images; expected (N, D) — check the extractor"
        )
    return out.detach().float().cpu().numpy().astype(np.float64)

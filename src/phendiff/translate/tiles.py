"""Images of any size: padded whole when small enough, otherwise overlapping tiles.

The UNet is convolutional, so images larger than the model's training size translate as they
are. An image of at most ``options.max_pixels`` pixels is translated whole, reflect-padded to
a multiple of the UNet's downsampling factor and cropped back; a larger one is cut into
overlapping tiles of ``4 × image_size`` that are translated independently and blended with
linear ramps that sum to one, so the reconstruction stays exact tile by tile.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from phendiff.translate.core import translate_normalized

log = logging.getLogger(__name__)


def translate_sized(denoiser, x, src, target_labels, model, options):
    """:func:`~phendiff.translate.core.translate_normalized` for x (N, C, Y, X) of any size.

    ``model`` gives the UNet's depth, image size and null label. Returns the reconstruction
    and one output per target, each (N, C, Y, X) float64 like x.
    """
    _, _, h, w = x.shape
    layout = tile_layout(h, w, model.config.image_size, options.max_pixels)
    if layout is None:
        m = 2 ** (len(model.config.block_out_channels) - 1)
        ph, pw = -h % m, -w % m
        xp = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
        recon, outs = _whole(denoiser, xp, src, target_labels, model, options)
        return recon[..., :h, :w], [o[..., :h, :w] for o in outs]
    return _tiled(denoiser, x, src, target_labels, model, options, layout)


def _whole(denoiser, x, src, target_labels, model, options):
    null = model.conditions.null_label
    return translate_normalized(denoiser, x, src, target_labels, null, options)


def tile_layout(h: int, w: int, image_size: int, max_pixels: int):
    """How an h × w image is translated: None when whole (at most ``max_pixels`` pixels),
    else ``(ys, xs, tile, overlap)``, the tiles' top-left corners along Y and X, their side
    (``4 × image_size``, at most the image's) and their overlap (``image_size``)."""
    if h * w <= max_pixels:
        return None
    tile, overlap = min(4 * image_size, h, w), image_size
    return _tile_starts(h, tile, overlap), _tile_starts(w, tile, overlap), tile, overlap


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    n = int(np.ceil((size - overlap) / (tile - overlap)))
    return sorted({round(k * (size - tile) / (n - 1)) for k in range(n)})


def _ramp(tile: int, overlap: int) -> torch.Tensor:
    r = torch.ones(tile, dtype=torch.float64)
    edge = torch.arange(1, overlap + 1, dtype=torch.float64) / (overlap + 1)
    r[:overlap], r[-overlap:] = edge, edge.flip(0)
    return r


def _tiled(denoiser, x, src, target_labels, model, options, layout):
    ys, xs, tile, overlap = layout
    log.info("image %d×%d px: translating in %d-px tiles", x.shape[2], x.shape[3], tile)
    weight = _ramp(tile, overlap)[:, None] * _ramp(tile, overlap)[None, :]
    acc = torch.zeros((1 + len(target_labels), *x.shape), dtype=torch.float64)
    norm = torch.zeros(x.shape[2:], dtype=torch.float64)
    for y0 in ys:
        for x0 in xs:
            patch = x[:, :, y0 : y0 + tile, x0 : x0 + tile]
            recon, outs = _whole(denoiser, patch, src, target_labels, model, options)
            for k, out in enumerate([recon, *outs]):
                acc[k, :, :, y0 : y0 + tile, x0 : x0 + tile] += weight * out
            norm[y0 : y0 + tile, x0 : x0 + tile] += weight
    acc /= norm  # the weights of overlapping tiles sum to one after this
    return acc[0], list(acc[1:])

"""PNG previews of multi-channel images: a fixed colour per channel, added up.

Colours follow the usual fluorescence conventions where the channel name is known (DNA
blue, tubulin green, actin red) and a fixed palette otherwise, so the same channel has the
same colour in every figure of a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from phendiff.data.atomic import atomic_write

_NAMED = {
    "dna": (0.2, 0.4, 1.0),
    "dapi": (0.2, 0.4, 1.0),
    "hoechst": (0.2, 0.4, 1.0),
    "tubulin": (0.1, 1.0, 0.2),
    "actin": (1.0, 0.15, 0.1),
    "phalloidin": (1.0, 0.15, 0.1),
}
_PALETTE = [
    (0.2, 0.4, 1.0),
    (0.1, 1.0, 0.2),
    (1.0, 0.15, 0.1),
    (1.0, 0.1, 1.0),
    (1.0, 0.9, 0.1),
    (0.1, 0.9, 1.0),
    (1.0, 0.6, 0.2),
    (0.7, 0.7, 0.7),
]


def channel_colours(channel_names: Sequence[str]) -> np.ndarray:
    """(C, 3) RGB colours in [0, 1]; a single channel is shown in grey."""
    if len(channel_names) == 1:
        return np.ones((1, 3))
    return np.array(
        [_NAMED.get(n.lower(), _PALETTE[i % len(_PALETTE)]) for i, n in enumerate(channel_names)]
    )


def to_rgb(image: np.ndarray, channel_names: Sequence[str]) -> np.ndarray:
    """(C, Y, X) image in normalised units ([-1, 1] spans the display range) → (Y, X, 3) uint8."""
    image = np.asarray(image, dtype=np.float32)
    unit = np.clip((image + 1) / 2, 0, 1)
    rgb = np.einsum("cyx,ck->yxk", unit, channel_colours(channel_names))
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def save_grid(
    path: str | Path,
    rows: Sequence[Sequence[np.ndarray]],
    channel_names: Sequence[str],
    row_labels: Sequence[str] | None = None,
    scale: int = 2,
    pad: int = 2,
) -> Path:
    """Write a grid of (C, Y, X) normalised images as one PNG (atomically)."""
    from PIL import Image, ImageDraw

    h, w = rows[0][0].shape[-2:]
    h, w = h * scale, w * scale
    label_w = 8 + 7 * max((len(s) for s in row_labels), default=0) if row_labels else 0
    ncol = max(len(r) for r in rows)
    canvas = Image.new("RGB", (label_w + ncol * (w + pad) + pad, len(rows) * (h + pad) + pad))
    draw = ImageDraw.Draw(canvas)
    for i, row in enumerate(rows):
        top = pad + i * (h + pad)
        if row_labels:
            draw.text((4, top + h // 2 - 6), row_labels[i], fill=(230, 230, 230))
        for j, image in enumerate(row):
            tile = Image.fromarray(to_rgb(image, channel_names)).resize((w, h), Image.NEAREST)
            canvas.paste(tile, (label_w + pad + j * (w + pad), top))
    return atomic_write(path, lambda tmp: canvas.save(tmp, format="PNG"))

"""Training samples: random crops (or resized fields) with dihedral augmentation.

Fields are held in memory in their file dtype (a 1024×1280×3 uint16 field is 7.5 MiB) and
normalised crop by crop. Sampling takes an explicit ``numpy.random.Generator``, so a batch
is a pure function of its seed: training draws one generator per (seed, step, rank), which
makes resumed runs identical to uninterrupted ones without saving any RNG state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from phendiff.conditions import ConditionTable
from phendiff.data.normalize import Normalizer
from phendiff.data.sources import ImageRecord


class TrainingImages:
    """Fields of a screen and their labels, ready to sample augmented training crops.

    Parameters
    ----------
    records : images to use (their ``split`` is not consulted; pass the ones you want).
    table : condition ↔ label table.
    image_size : side of the square samples, in pixels.
    crop : ``"random"`` crops of ``image_size`` from each field (fields must be at least that
        large), or ``"resize"``: the shorter side is resized to ``image_size`` first.
    augment : apply a random element of the dihedral group D4 (flips and 90° rotations),
        which leaves a microscopy field's statistics unchanged.
    """

    def __init__(
        self,
        records: Sequence[ImageRecord],
        table: ConditionTable,
        image_size: int,
        crop: str = "random",
        augment: bool = True,
        channel_axis: int | None = None,
        progress: bool = False,
    ) -> None:
        from tqdm.auto import tqdm

        self.image_size = image_size
        self.augment = augment
        self.labels = np.array([table.label(r.condition) for r in records], dtype=np.int64)
        self.images: list[np.ndarray] = []
        for record in tqdm(records, desc="loading images", unit="img", disable=not progress):
            image = record.load(channel_axis)
            if crop == "resize":  # resizing commutes with the per-channel affine normalisation
                image = _resize_short_side(image, image_size)
            self.images.append(image)

    def __len__(self) -> int:
        return len(self.images)

    def sample(
        self, rng: np.random.Generator, n: int, normalizer: Normalizer, label: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` random crops (N, C, S, S) float32, normalised, and their labels (N,) int64;
        with ``label``, only from the images of that condition."""
        if label is None:
            idx = rng.integers(len(self.images), size=n)
        else:
            idx = rng.choice(np.flatnonzero(self.labels == label), size=n)
        crops = [self._crop(self.images[i], rng) for i in idx]
        batch = normalizer.normalize(np.stack(crops))
        return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)), torch.from_numpy(
            self.labels[idx]
        )

    def _crop(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = self.image_size
        _, h, w = image.shape
        y, x = rng.integers(h - s + 1), rng.integers(w - s + 1)
        crop = image[:, y : y + s, x : x + s]
        if self.augment:
            crop = np.rot90(crop, k=int(rng.integers(4)), axes=(1, 2))
            if rng.integers(2):
                crop = crop[:, :, ::-1]
        return crop


def _resize_short_side(image: np.ndarray, size: int) -> np.ndarray:
    """(C, Y, X) float → shorter side ``size``, aspect kept, antialiased bilinear."""
    _, h, w = image.shape
    scale = size / min(h, w)
    shape = (max(size, round(h * scale)), max(size, round(w * scale)))
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
    out = torch.nn.functional.interpolate(t, size=shape, mode="bilinear", antialias=True)
    return out[0].numpy()

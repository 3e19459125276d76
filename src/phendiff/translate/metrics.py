"""Reconstruction error of a same-condition round trip (invert, then regenerate).

Reported in three units, because the PhenDiff paper's Table 2 does not say which it used:

``mse``, ``psnr``  per-image mean squared error and PSNR in the model's normalised space,
                   where the display range is [-1, 1] (peak-to-peak 2);
``l2``             ``||x − x̂||₂`` over all C·H·W values of the [-1, 1] images (the
                   reference code's convention);
``l2_255``         the same norm with both images mapped to 0–255 ((x + 1) · 127.5).

:func:`laplacian_energy` measures fine texture, to tell whether translations keep the grain of
real images (a ratio above 1 against real images is speckle, below 1 blur).
"""

from __future__ import annotations

import numpy as np

METRICS = ("mse", "psnr", "l2", "l2_255")


def reconstruction_metrics(x: np.ndarray, x_hat: np.ndarray) -> dict[str, float]:
    """Errors between an image x (C, Y, X) in normalised units and its reconstruction x̂."""
    x = np.asarray(x, dtype=np.float64)
    diff = x - np.asarray(x_hat, dtype=np.float64)
    mse = float(np.mean(diff**2))
    l2 = float(np.sqrt(np.sum(diff**2)))
    psnr = float("inf") if mse == 0 else float(10 * np.log10(2.0**2 / mse))
    return {"mse": mse, "psnr": psnr, "l2": l2, "l2_255": l2 * 127.5}


def laplacian_energy(images: np.ndarray) -> float:
    """Mean squared 5-point Laplacian over the interior pixels of images (..., Y, X)."""
    a = np.asarray(images, dtype=np.float64)
    lap = 4 * a[..., 1:-1, 1:-1] - a[..., :-2, 1:-1] - a[..., 2:, 1:-1]
    lap -= a[..., 1:-1, :-2] + a[..., 1:-1, 2:]
    return float((lap**2).mean())

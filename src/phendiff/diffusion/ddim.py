"""Deterministic DDIM: one step formula walked down (generation) and up (inversion).

With x̂0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t (eq. 4 of Song et al. 2021),

    x_{t'} = √ᾱ_{t'} x̂0 + √(1-ᾱ_{t'}) ε                                  (PhenDiff eq. 5)

moves from noise level t to t'. :func:`generate` walks ``(t_cur, t_next)`` pairs down
(t_next < t_cur, :func:`~phendiff.diffusion.schedule.steps_down`); :func:`invert` walks them up
(PhenDiff eq. 6, :func:`~phendiff.diffusion.schedule.steps_up`). In both directions ε is
evaluated at the noisier end of the interval: generation knows x there, inversion
approximates it by the current, less noisy x — the approximation that makes plain DDIM
inversion inexact (see :mod:`phendiff.diffusion.exact`). Nothing is clipped unless ``clip``
is given, and never during inversion. Trajectories are float64 whatever the caller passes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from phendiff.diffusion.denoiser import Denoiser

Steps = list[tuple[int, int]]


def ddim_step(
    x0_pred: torch.Tensor, eps: torch.Tensor, ab_next: torch.Tensor, clip: float | None = None
) -> torch.Tensor:
    """x_{t'} = √ᾱ_{t'} x̂0 + √(1-ᾱ_{t'}) ε  (eq. 5 walking down, eq. 6 walking up).

    ``ab_next`` is ᾱ_{t'} as a float64 scalar tensor; ``clip`` bounds x̂0 (generation only:
    it breaks invertibility).
    """
    if clip is not None:
        x0_pred = x0_pred.clamp(-clip, clip)
    return ab_next.sqrt() * x0_pred + (1 - ab_next).sqrt() * eps


def generate(
    denoiser: Denoiser,
    x: torch.Tensor,
    labels: torch.Tensor | None,
    steps: Steps,
    clip: float | None = None,
    progress: Callable | None = None,
) -> torch.Tensor:
    """Walk ``steps`` (``(t_cur, t_next)`` pairs going down) from x at the first ``t_cur``.

    x: (N, C, Y, X) latent at the deepest level; labels: (N,) long. Returns float64 images.
    """
    x = x.to(torch.float64)
    for t_cur, t_next in progress(steps) if progress else steps:
        eps, x0_pred = denoiser(x, t_cur, labels)
        x = ddim_step(x0_pred, eps, denoiser.alpha_bar_at(t_next), clip)
    return x


def invert(
    denoiser: Denoiser,
    x: torch.Tensor,
    labels: torch.Tensor | None,
    steps: Steps,
    progress: Callable | None = None,
) -> torch.Tensor:
    """Walk ``steps`` (pairs going up) from clean images x (N, C, Y, X) to their latent (eq. 6)."""
    x = x.to(torch.float64)
    for t_cur, t_next in progress(steps) if progress else steps:
        # ε at the noisier level t_next, evaluated on the current x: DDIM's approximation
        eps, _ = denoiser(x, t_next, labels)
        ab_cur = denoiser.alpha_bar_at(t_cur)
        x0_pred = (x - (1 - ab_cur).sqrt() * eps) / ab_cur.sqrt()
        x = ddim_step(x0_pred, eps, denoiser.alpha_bar_at(t_next))
    return x

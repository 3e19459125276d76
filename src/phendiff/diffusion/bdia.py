"""Exact DDIM inversion by bi-directional integration (BDIA-DDIM).

Plain DDIM inversion (:func:`phendiff.diffusion.ddim.invert`) evaluates ε at the *less* noisy
end of each interval, so regenerating does not return the input exactly. BDIA-DDIM (Zhang,
Lewis & Kleijn, "Exact diffusion inversion via bi-directional integration approximation",
ECCV 2024) makes each generation step depend on the two previous states,

    x_{i-1} = x_{i+1} - D_i(i→i+1) + D_i(i→i-1)                         (BDIA, γ = 1)

where D_i(i→j) = √ᾱ_j x̂0(x_i) + √(1-ᾱ_j) ε(x_i) is the DDIM move of x_i to level j with the
estimate taken at x_i. Solving for x_{i+1} gives the inversion

    x_{i+1} = x_{i-1} + D_i(i→i+1) - D_i(i→i-1)

which uses the *same* network evaluation at the *same* x_i as the generation step it undoes,
so the round trip is exact up to floating-point round-off for any network, trained or not.

Available as ``--inversion bdia``, not the default: it costs one network evaluation per step
and its round trip is exact by algebra, but the recurrence is a leapfrog scheme. The pair
``(x_n, x_{n-1})`` carries an alternating (parasitic) component that unwinds exactly under
the source label and is excited under any other, which shows up as pixel speckle in
translations of real images (see :mod:`phendiff.diffusion.exact`, the default). On smooth
models it converges faster with many steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from phendiff.diffusion import ddim
from phendiff.diffusion.ddim import Steps, ddim_step
from phendiff.diffusion.denoiser import Denoiser


class BdiaLatent(NamedTuple):
    """BDIA latent: the deepest state ``x_n`` and the one before it, ``x_{n-1}``."""

    x_top: torch.Tensor
    x_below: torch.Tensor


def _moves(denoiser: Denoiser, x, labels, t_below: int, t: int, t_above: int):
    """D_i(i→i+1) and D_i(i→i-1): x_i moved one level up and one down with ε(x_i, t_i)."""
    eps, x0_pred = denoiser(x, t, labels)
    up = ddim_step(x0_pred, eps, denoiser.alpha_bar_at(t_above))
    down = ddim_step(x0_pred, eps, denoiser.alpha_bar_at(t_below))
    return up, down


def invert(
    denoiser: Denoiser,
    x: torch.Tensor,
    labels: torch.Tensor | None,
    steps: Steps,
    progress: Callable | None = None,
) -> BdiaLatent:
    """Map clean images x (N, C, Y, X) to their BDIA latent under ``labels`` (N,).

    ``steps`` walk up, at least two of them. The first state x_1 comes from one plain DDIM
    inversion step; exactness does not depend on it (any x_1 is undone exactly), only how
    natural the trajectory is.
    """
    x_prev = x.to(torch.float64)
    x_cur = ddim.invert(denoiser, x_prev, labels, steps[:1])
    pairs = list(zip(steps[:-1], steps[1:], strict=True))  # ((t_{i-1}, t_i), (t_i, t_{i+1}))
    for (t_below, t), (_, t_above) in progress(pairs) if progress else pairs:
        up, down = _moves(denoiser, x_cur, labels, t_below, t, t_above)
        x_prev, x_cur = x_cur, x_prev + up - down
    return BdiaLatent(x_cur, x_prev)


def generate(
    denoiser: Denoiser,
    latent: BdiaLatent | torch.Tensor,
    labels: torch.Tensor | None,
    steps: Steps,
    clip: float | None = None,
    progress: Callable | None = None,
) -> torch.Tensor:
    """Generate clean images from a BDIA latent (or from noise x_n, with one DDIM step first).

    ``steps`` walk down. ``clip`` bounds the final image only: clipping inside the recurrence
    would feed back into every later step.
    """
    if isinstance(latent, BdiaLatent):
        x_up, x_cur = latent
    else:  # pure noise at the deepest level: a plain DDIM step makes the pair
        x_up = latent.to(torch.float64)
        x_cur = ddim.generate(denoiser, x_up, labels, steps[:1])
    pairs = list(zip(steps[:-1], steps[1:], strict=True))  # ((t_{i+1}, t_i), (t_i, t_{i-1}))
    for (t_above, t), (_, t_below) in progress(pairs) if progress else pairs:
        up, down = _moves(denoiser, x_cur, labels, t_below, t, t_above)
        x_up, x_cur = x_cur, x_up - up + down
    return x_cur if clip is None else x_cur.clamp(-clip, clip)

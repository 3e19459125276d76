"""Exact DDIM inversion by bi-directional integration (BDIA-DDIM).

Plain DDIM inversion (``ddim.invert``) evaluates ε at the *less* noisy end of each interval,
so regenerating does not return the input exactly. BDIA-DDIM (Zhang, Lewis & Kleijn, "Exact
diffusion inversion via bi-directional integration approximation", ECCV 2024) makes each
generation step depend on the two previous states,

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
translations of real images (see :mod:`phendiff.diffusion.residual`, the default). On smooth
models it converges faster with many steps.

The grid is the one of :func:`~phendiff.diffusion.schedule.timestep_grid`, positions
``0 .. n`` with position 0 the clean image (ᾱ = 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from phendiff.diffusion.ddim import Model, ddim_step, predict
from phendiff.diffusion.schedule import alpha_bar_at


class Latent(NamedTuple):
    """BDIA latent: the deepest state ``x_n`` and the one before it, ``x_{n-1}``."""

    x_top: torch.Tensor
    x_below: torch.Tensor


def _moves(model, x, i, grid, alpha_bar, labels, prediction):
    """D_i(i→i+1) and D_i(i→i-1): x_i moved one level up and one down with ε(x_i, t_i)."""
    eps, x0_pred = predict(model, x, grid[i], labels, alpha_bar, prediction)
    up = ddim_step(x0_pred, eps, alpha_bar_at(alpha_bar, grid[i + 1]))
    down = ddim_step(x0_pred, eps, alpha_bar_at(alpha_bar, grid[i - 1]))
    return up, down


def bdia_invert(
    model: Model,
    x: torch.Tensor,
    labels: torch.Tensor,
    grid: list[int],
    alpha_bar: torch.Tensor,
    prediction: str = "epsilon",
    progress: Callable | None = None,
) -> Latent:
    """Map clean images x (N, C, Y, X) to their BDIA latent under ``labels`` (N,).

    The first state x_1 comes from one plain DDIM inversion step; exactness does not depend
    on it (any x_1 is undone exactly), only how natural the trajectory is.
    """
    n = len(grid) - 1
    eps, _ = predict(model, x, grid[1], labels, alpha_bar, prediction)
    x_prev, x_cur = x, ddim_step(x, eps, alpha_bar_at(alpha_bar, grid[1]))  # x̂0 = x at ᾱ=1
    steps = range(1, n)
    for i in progress(steps) if progress else steps:
        up, down = _moves(model, x_cur, i, grid, alpha_bar, labels, prediction)
        x_prev, x_cur = x_cur, x_prev + up - down
    return Latent(x_cur, x_prev)


def bdia_generate(
    model: Model,
    latent: Latent | torch.Tensor,
    labels: torch.Tensor,
    grid: list[int],
    alpha_bar: torch.Tensor,
    prediction: str = "epsilon",
    clip: float | None = None,
    progress: Callable | None = None,
) -> torch.Tensor:
    """Generate clean images from a BDIA latent (or from noise x_n, with one DDIM step first).

    ``clip`` bounds the final image only: clipping inside the recurrence would feed back
    into every later step.
    """
    n = len(grid) - 1
    if isinstance(latent, Latent):
        x_up, x_cur = latent
    else:  # pure noise at the deepest level: a plain DDIM step makes the pair
        eps, x0_pred = predict(model, latent, grid[n], labels, alpha_bar, prediction)
        x_up, x_cur = latent, ddim_step(x0_pred, eps, alpha_bar_at(alpha_bar, grid[n - 1]))
    steps = range(n - 1, 0, -1)
    for i in progress(steps) if progress else steps:
        up, down = _moves(model, x_cur, i, grid, alpha_bar, labels, prediction)
        x_up, x_cur = x_cur, x_up - up + down
    return x_cur if clip is None else x_cur.clamp(-clip, clip)

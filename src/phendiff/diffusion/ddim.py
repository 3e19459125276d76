"""Deterministic DDIM: one step formula walked down (generation) and up (inversion).

With x̂0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t (eq. 4 of Song et al. 2021),

    x_{t'} = √ᾱ_{t'} x̂0 + √(1-ᾱ_{t'}) ε                                  (PhenDiff eq. 5)

moves from noise level t to t'. Generation walks a grid ``[-1, t_1, .., t_n]`` down
(t' < t); inversion walks the same grid up (t' > t, PhenDiff eq. 6). In both directions ε is
evaluated at the noisier end of the interval: generation knows x there, inversion
approximates it by the current, less noisy x — the approximation that makes plain DDIM
inversion inexact (see ``exact.py`` for the exact alternative). Nothing is clipped unless
``clip`` is given, and never during inversion.

The model is any callable ``out = model(x_t, t, labels)`` returning ε or v (``prediction``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from phendiff.diffusion.schedule import alpha_bar_at

Model = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
PREDICTIONS = ("epsilon", "v_prediction")


def predict(
    model: Model,
    x: torch.Tensor,
    t: int,
    labels: torch.Tensor,
    alpha_bar: torch.Tensor,
    prediction: str = "epsilon",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ε, x̂0) for x taken to be at noise level t, in x's dtype, from an ε- or v-model."""
    timesteps = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    out = model(x, timesteps, labels).to(x.dtype)
    ab = alpha_bar_at(alpha_bar, t)
    sqrt_ab, sqrt_1m_ab = ab.sqrt().to(x.dtype), (1 - ab).sqrt().to(x.dtype)
    if prediction == "epsilon":
        return out, (x - sqrt_1m_ab * out) / sqrt_ab  # eq. 4
    if prediction == "v_prediction":
        # v = √ᾱ ε - √(1-ᾱ) x0 and x = √ᾱ x0 + √(1-ᾱ) ε; also defined where ᾱ = 0
        return sqrt_ab * out + sqrt_1m_ab * x, sqrt_ab * x - sqrt_1m_ab * out
    raise ValueError(f"prediction {prediction!r} is not known; expected one of {PREDICTIONS}")


def ddim_step(
    x0_pred: torch.Tensor, eps: torch.Tensor, ab_next: torch.Tensor, clip: float | None = None
) -> torch.Tensor:
    """x_{t'} = √ᾱ_{t'} x̂0 + √(1-ᾱ_{t'}) ε  (eq. 5 walking down, eq. 6 walking up).

    ``ab_next`` is a float64 scalar; the arithmetic happens in x̂0's dtype. ``clip`` bounds
    x̂0 (generation only; it breaks invertibility).
    """
    if clip is not None:
        x0_pred = x0_pred.clamp(-clip, clip)
    return ab_next.sqrt().to(eps.dtype) * x0_pred + (1 - ab_next).sqrt().to(eps.dtype) * eps


def generate(
    model: Model,
    x: torch.Tensor,
    labels: torch.Tensor,
    grid: list[int],
    alpha_bar: torch.Tensor,
    prediction: str = "epsilon",
    clip: float | None = None,
    progress: Callable | None = None,
) -> torch.Tensor:
    """Walk ``grid`` (increasing, from :func:`timestep_grid`) down from x at ``grid[-1]`` to x_0.

    x: (N, C, Y, X) noise latent at the deepest grid level; labels: (N,) long.
    """
    pairs = list(zip(grid[:0:-1], grid[-2::-1], strict=True))  # (t_cur, t_next), t_next < t_cur
    for t_cur, t_next in progress(pairs) if progress else pairs:
        eps, x0_pred = predict(model, x, t_cur, labels, alpha_bar, prediction)
        x = ddim_step(x0_pred, eps, alpha_bar_at(alpha_bar, t_next), clip)
    return x


def invert(
    model: Model,
    x: torch.Tensor,
    labels: torch.Tensor,
    grid: list[int],
    alpha_bar: torch.Tensor,
    prediction: str = "epsilon",
    progress: Callable | None = None,
) -> torch.Tensor:
    """Walk ``grid`` up from a clean image x_0 to its latent at ``grid[-1]`` (eq. 6)."""
    pairs = list(zip(grid[:-1], grid[1:], strict=True))  # (t_cur, t_next), t_next > t_cur
    for t_cur, t_next in progress(pairs) if progress else pairs:
        # ε at the noisier level t_next, evaluated on the current x: DDIM's approximation
        eps, _ = predict(model, x, t_next, labels, alpha_bar, prediction)
        ab_cur = alpha_bar_at(alpha_bar, t_cur)
        x0_pred = (x - (1 - ab_cur).sqrt().to(x.dtype) * eps) / ab_cur.sqrt().to(x.dtype)
        x = ddim_step(x0_pred, eps, alpha_bar_at(alpha_bar, t_next))
    return x

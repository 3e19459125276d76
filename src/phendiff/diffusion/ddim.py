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
    fixed_point: int = 0,
) -> torch.Tensor:
    """Walk ``steps`` (pairs going up) from clean images x (N, C, Y, X) to their latent (eq. 6).

    ``fixed_point`` > 0 refines each step up to that many times (one network evaluation
    each): :func:`refine`.
    """
    x = x.to(torch.float64)
    for t_cur, t_next in progress(steps) if progress else steps:
        # ε at the noisier level t_next, evaluated on the current x: DDIM's approximation
        eps, _ = denoiser(x, t_next, labels)
        ab_cur = denoiser.alpha_bar_at(t_cur)
        x0_pred = (x - (1 - ab_cur).sqrt() * eps) / ab_cur.sqrt()
        x_next = ddim_step(x0_pred, eps, denoiser.alpha_bar_at(t_next))
        if fixed_point:
            x_next = refine(denoiser, x, x_next, t_cur, t_next, labels, fixed_point)
        x = x_next
    return x


def refine(
    denoiser: Denoiser,
    x: torch.Tensor,
    x_next: torch.Tensor,
    t_cur: int,
    t_next: int,
    labels: torch.Tensor | None,
    iterations: int,
) -> torch.Tensor:
    """Fixed-point iterations from ``x_next`` toward the x_{t'} whose generation step lands on x.

    The generation step from x_{t'} (eq. 5) lands on x_t = x when ε and x̂0 evaluated at
    x_{t'} satisfy x = √ᾱ_t x̂0 + √(1-ᾱ_t) ε. Each iteration evaluates the network at the
    current x_{t'}, keeps its ε and solves that equation for x̂0 where ᾱ_{t'} ≥ 1/2 (keeps
    x̂0 and solves for ε nearer pure noise, where at ᾱ_{t'} = 0 the ε form would not move;
    from the clean end, ᾱ_t = 1, always the ε form),
    and steps to the new x_{t'}. The same evaluation gives the miss ‖Φ(x_{t'}) − x‖ of the
    current iterate: an image whose miss stops falling keeps its best iterate, so an
    iteration that does not contract (an untrained network, a step too coarse) never makes
    the inversion worse than plain DDIM's.
    """
    ab_cur, ab_next = denoiser.alpha_bar_at(t_cur), denoiser.alpha_bar_at(t_next)
    best, best_miss = x_next, None
    active = torch.ones(len(x), dtype=torch.bool, device=x.device)
    per_image = (-1, *([1] * (x.dim() - 1)))
    for _ in range(iterations):
        eps, x0_pred = denoiser(x_next, t_next, labels)
        miss = (ddim_step(x0_pred, eps, ab_cur) - x).flatten(1).norm(dim=1)
        if best_miss is None:
            best_miss = miss
        else:
            active = active & (miss < best_miss)  # NaN compares False: stops too
            best = torch.where(active.view(per_image), x_next, best)
            best_miss = torch.where(active, miss, best_miss)
        if ab_next >= 0.5 or ab_cur == 1:
            x0_pred = (x - (1 - ab_cur).sqrt() * eps) / ab_cur.sqrt()
        else:
            eps = (x - ab_cur.sqrt() * x0_pred) / (1 - ab_cur).sqrt()
        x_next = torch.where(active.view(per_image), ddim_step(x0_pred, eps, ab_next), best)
    # the last iterate is not evaluated: kept where the misses were still falling and finite
    finite = x_next.flatten(1).isfinite().all(dim=1)
    return torch.where((active & finite).view(per_image), x_next, best)

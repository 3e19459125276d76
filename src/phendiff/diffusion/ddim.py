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


# iterates Anderson acceleration mixes (Walker & Ni 2011): 2 converged fastest on both demo
# model recipes (experiments/synthetic_screen/README.md, "Refinement that converges")
ANDERSON_MEMORY = 2


def refine(
    denoiser: Denoiser,
    x: torch.Tensor,
    x_next: torch.Tensor,
    t_cur: int,
    t_next: int,
    labels: torch.Tensor | None,
    iterations: int,
    memory: int = ANDERSON_MEMORY,
) -> torch.Tensor:
    """Fixed-point iterations from ``x_next`` toward the x_{t'} whose generation step lands on x.

    The generation step from x_{t'} (eq. 5) lands on x_t = x when ε and x̂0 evaluated at
    x_{t'} satisfy x = √ᾱ_t x̂0 + √(1-ᾱ_t) ε. Each iteration evaluates the network at the
    current x_{t'}, keeps its ε and solves that equation for x̂0 where ᾱ_{t'} ≥ 1/2 (keeps
    x̂0 and solves for ε nearer pure noise, where at ᾱ_{t'} = 0 the ε form would not move;
    from the clean end, ᾱ_t = 1, always the ε form), and steps to the new x_{t'}: the map
    F(x_{t'}). Plain iteration of F stalls where F does not contract (on a network trained
    with EDM weighting, at two of 25 levels the miss stops falling at 1e-3); Anderson
    acceleration (type II, ``memory`` previous iterates, :func:`anderson_step`) takes each
    step from the combination of the last F values whose residuals F(z) − z cancel best, at
    no extra network evaluation, and converges there (``memory=0``: plain iteration).
    The same evaluation gives the miss ‖Φ(x_{t'}) − x‖ of the current iterate: every image
    returns its best iterate (the last, unevaluated one where the misses were still falling;
    it is extrapolated only where they fell at every iterate, a plain step otherwise), so an
    iteration that does not converge (an untrained network, a step too coarse) keeps plain
    DDIM's step or better, up to that one unevaluated step.
    """
    ab_cur, ab_next = denoiser.alpha_bar_at(t_cur), denoiser.alpha_bar_at(t_next)
    per_image = (-1, *([1] * (x.dim() - 1)))
    best, best_miss = x_next, torch.full((len(x),), torch.inf, dtype=x.dtype, device=x.device)
    improved = torch.ones(len(x), dtype=torch.bool, device=x.device)
    steady = improved
    history: list[tuple[torch.Tensor, torch.Tensor]] = []
    for i in range(iterations):
        eps, x0_pred = denoiser(x_next, t_next, labels)
        miss = (ddim_step(x0_pred, eps, ab_cur) - x).flatten(1).norm(dim=1)
        improved = miss < best_miss  # NaN compares False
        best = torch.where(improved.view(per_image), x_next, best)
        best_miss = torch.where(improved, miss, best_miss)
        if ab_next >= 0.5 or ab_cur == 1:
            x0_pred = (x - (1 - ab_cur).sqrt() * eps) / ab_cur.sqrt()
        else:
            eps = (x - ab_cur.sqrt() * x0_pred) / (1 - ab_cur).sqrt()
        mapped = ddim_step(x0_pred, eps, ab_next)
        history = [*history, (x_next, mapped)][-(memory + 1) :]
        steady = steady & improved
        accelerated = anderson_step(history)
        if i == iterations - 1:  # never evaluated: extrapolated only where every iterate improved
            accelerated = torch.where(steady.view(per_image), accelerated, mapped)
        x_next = torch.where(x_next.isfinite(), accelerated, best)
    # the last iterate is not evaluated: kept where the misses were still falling and finite
    finite = x_next.flatten(1).isfinite().all(dim=1)
    return torch.where((improved & finite).view(per_image), x_next, best)


def anderson_step(history: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """The next iterate of Anderson acceleration from ``[(z_i, F(z_i)), ...]``, oldest first.

    Per image, γ minimises ‖g_k − ΔG γ‖ over the differences of the residuals g_i = F(z_i) − z_i,
    and the step is F(z_k) − ΔF γ. With one pair it is the plain step F(z_k); an affine F
    whose Jacobian is c·I (any c ≠ 1, contracting or not) is solved by the second step.
    Where the least-squares problem is degenerate (converged, or non-finite) the plain step
    is taken.
    """
    f_last = history[-1][1]
    if len(history) == 1:
        return f_last
    g = torch.stack([(f - z).flatten(1) for z, f in history], dim=-1)  # (N, D, m + 1)
    f = torch.stack([f.flatten(1) for _, f in history], dim=-1)
    d_g, d_f = g.diff(dim=-1), f.diff(dim=-1)  # (N, D, m)
    gram = d_g.transpose(1, 2) @ d_g
    gram = gram + 1e-12 * gram.diagonal(dim1=1, dim2=2).sum(-1)[:, None, None] * torch.eye(
        gram.shape[-1], dtype=gram.dtype, device=gram.device
    )
    gamma = torch.linalg.solve_ex(gram, d_g.transpose(1, 2) @ g[..., -1:])[0]
    step = (f[..., -1:] - d_f @ gamma).squeeze(-1).view_as(f_last)
    ok = step.flatten(1).isfinite().all(dim=1).view(-1, *([1] * (f_last.dim() - 1)))
    return torch.where(ok, step, f_last)

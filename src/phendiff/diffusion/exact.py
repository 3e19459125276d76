"""Exact DDIM inversion by per-step residuals: the round trip is exact, translation stays DDIM.

Plain DDIM inversion (:func:`phendiff.diffusion.ddim.invert`) walks an image x_0 up to x_n,
but the generation step from x_i does not land back on x_{i-1}: inversion evaluates ε at the
less noisy end of each interval. This module records that gap at every level,

    r_i = x_{i-1} - Φ_y(x_i),   Φ_y(x_i) = √ᾱ_{i-1} x̂0(x_i) + √(1-ᾱ_{i-1}) ε(x_i, t_i, y)   (eq. 5)

under the source label y, and generation under a label y' adds it back,

    x'_{i-1} = Φ_{y'}(x'_i) + r_i,   x'_n = x_n.

Under y' = y every step lands exactly on the inverted state, so the round trip returns the
input to float64 round-off, for any network and any number of steps. Under another label
the trajectory is the model's own DDIM trajectory plus the same small corrections (the
deterministic counterpart of the stored noise maps of edit-friendly DDPM inversion,
Huberman-Spiegelglas et al., CVPR 2024). When the model's ε is affine in x with a slope that
does not depend on the label (the two-Gaussian case), the translation is exactly
``x_0 + G_{y'}(x_n) - G_y(x_n)``: the input plus the change plain DDIM predicts.

Why not BDIA (:mod:`phendiff.diffusion.bdia`): its two-step recurrence is exact too, but it is
a leapfrog scheme whose alternating (parasitic) mode, dormant on the way back under the
source label, is excited under any other label and shows up as pixel speckle in every
translation (on the earlier ε demo model the Laplacian energy of its translations was 6–12×
that of real images). The residual correction is a one-step scheme and has no such mode.

The cost is one more sweep of network evaluations at inversion (the residual pass: one
evaluation per level, like a generation) and the memory of one residual image per level.

Why the chain is refined (``fixed_point``, the default in ``phendiff translate``): the
residuals make any chain round-trip, but what a translation can change is decided by the
deepest state. Plain DDIM inversion's keeps the image (heavy-tailed, with excess power at low
frequencies), and from it the target's trajectory keeps the input's cells, their size and
shape; refining each step to the state whose generation step lands on the chain makes the
latent the model's own, residuals small, and the target's change of geometry shows
(``experiments/fidelity/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from phendiff.diffusion import ddim, forward
from phendiff.diffusion.ddim import Steps
from phendiff.diffusion.denoiser import Denoiser
from phendiff.diffusion.schedule import reverse


class ExactLatent(NamedTuple):
    """The deepest state x_n and the residuals ``(r_n, ..., r_1)`` in generation order."""

    x_top: torch.Tensor
    residuals: tuple[torch.Tensor, ...]


def residuals(
    denoiser: Denoiser,
    states: list[torch.Tensor],
    labels: torch.Tensor | None,
    steps: Steps,
) -> ExactLatent:
    """The latent of a chain of states ``[x_0, x_1, ..., x_n]`` on the levels walked by ``steps``.

    r_i = x_{i-1} − Φ(x_i) under ``labels``, from the deepest level down: generating from x_n
    with these residuals lands on every state of the chain, whichever chain it is (the DDIM
    inversion's, :func:`invert`, or the forward process's, :func:`noised`).
    """
    res = tuple(
        below - ddim.generate(denoiser, above, labels, [step])
        for step, below, above in zip(reverse(steps), states[-2::-1], states[:0:-1], strict=True)
    )
    return ExactLatent(states[-1], res)


def invert(
    denoiser: Denoiser,
    x: torch.Tensor,
    labels: torch.Tensor | None,
    steps: Steps,
    progress: Callable | None = None,
    fixed_point: int = 0,
) -> ExactLatent:
    """Map clean images x (N, C, Y, X) to their latent and residuals under ``labels`` (N,).

    The chain is DDIM inversion's (``fixed_point`` refinements per step, see
    :func:`~phendiff.diffusion.ddim.invert`); ``steps`` walk up
    (:func:`~phendiff.diffusion.schedule.steps_up`); generate with the same intervals walked
    down.
    """
    states = [x.to(torch.float64)]
    for step in progress(steps) if progress else steps:
        states.append(ddim.invert(denoiser, states[-1], labels, [step], fixed_point=fixed_point))
    return residuals(denoiser, states, labels, steps)


def noised(
    denoiser: Denoiser,
    x: torch.Tensor,
    labels: torch.Tensor | None,
    steps: Steps,
    noise: torch.Tensor,
) -> ExactLatent:
    """The latent of x on the forward process's path, x_t = √ᾱ_t x_0 + √(1-ᾱ_t) z (DDPM eq. 4).

    One noise image z per image (``noise``, x's shape) at every level of ``steps`` (walking
    up): each state is what the network saw in training at its level, so the deepest one is
    an in-distribution start for any condition, which a DDIM-inverted latent is not (it keeps
    the image, see ``experiments/synthetic_screen/README.md``). The states cost no network
    evaluation; the residuals one per level.
    """
    x = x.to(torch.float64)
    z = noise.to(torch.float64)
    levels = [steps[0][0], *(t_next for _, t_next in steps)]
    states = [forward.add_noise(x, z, denoiser.alpha_bar_at(t)) for t in levels]
    return residuals(denoiser, states, labels, steps)


def generate(
    denoiser: Denoiser,
    latent: ExactLatent | torch.Tensor,
    labels: torch.Tensor | None,
    steps: Steps,
    clip: float | None = None,
    progress: Callable | None = None,
    free_steps: int = 0,
) -> torch.Tensor:
    """Generate clean images from an exact latent; from plain noise x_n it is plain DDIM.

    ``steps`` walk down; the first ``free_steps`` of them (the noisiest) add no residual: the
    model's own DDIM trajectory under ``labels`` decides there, and the residuals of the less
    noisy steps carry the input's fine detail. With ``free_steps=0`` the round trip under the
    inversion's labels is exact. ``clip`` bounds x̂0 at every step (generation only; it breaks
    the exact round trip).
    """
    if not isinstance(latent, ExactLatent):
        return ddim.generate(denoiser, latent, labels, steps, clip, progress)
    if not 0 <= free_steps <= len(steps):
        raise ValueError(f"free_steps={free_steps}; expected 0 .. {len(steps)}")
    x = latent.x_top
    pairs = list(zip(steps, latent.residuals, strict=True))
    for k, (step, r) in enumerate(progress(pairs) if progress else pairs):
        x = ddim.generate(denoiser, x, labels, [step], clip)
        if k >= free_steps:
            x = x + r
    return x

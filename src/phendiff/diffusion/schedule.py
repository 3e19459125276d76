"""Noise schedules ᾱ_t in float64 and explicit timestep grids.

Notation (DDPM/DDIM papers):

=============  ==========================================================
``beta``       β_t, per-step noise variance, t = 0 .. T-1
``alpha_bar``  ᾱ_t = ∏_{s≤t} (1 - β_s); q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I)
``T``          number of training timesteps (``num_train_timesteps``)
=============  ==========================================================

Schedules are computed in float64 "for accuracy". Samplers walk an explicit list of
``(t_cur, t_next)`` pairs (:func:`steps_up` for inversion, :func:`steps_down` for generation)
over the levels of :func:`timestep_grid`.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("linear", "scaled_linear", "cosine")


def make_alpha_bar(
    schedule: str = "linear",
    num_train_timesteps: int = 1000,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    zero_terminal_snr: bool = False,
) -> torch.Tensor:
    """ᾱ_t for t = 0 .. T-1, float64, shape (T,).

    ``linear`` and ``scaled_linear`` follow DDPM / Stable Diffusion (β linear in β or in √β);
    ``cosine`` is Nichol & Dhariwal (2021) with β clipped at 0.999. ``zero_terminal_snr``
    rescales √ᾱ so that ᾱ_{T-1} = 0 (Lin et al. 2024, Algorithm 1); the model must then be
    trained with v-prediction, since ε carries no information about x_0 at the last step.
    """
    T = int(num_train_timesteps)
    if T < 2:
        raise ValueError(f"num_train_timesteps={T}; expected at least 2")
    if schedule == "linear":
        beta = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    elif schedule == "scaled_linear":
        beta = torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float64) ** 2
    elif schedule == "cosine":
        s = 0.008
        steps = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        beta = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    else:
        raise ValueError(f"schedule {schedule!r} is not known; expected one of {SCHEDULES}")
    alpha_bar = torch.cumprod(1 - beta, dim=0)
    if zero_terminal_snr:
        alpha_bar = _rescale_zero_terminal_snr(alpha_bar)
    return alpha_bar


def _rescale_zero_terminal_snr(alpha_bar: torch.Tensor) -> torch.Tensor:
    # shift and scale √ᾱ so the last value is 0 and the first is unchanged
    sqrt_ab = alpha_bar.sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * first / (first - last)
    return sqrt_ab**2


SPACINGS = ("even", "quadratic")


def timestep_grid(
    num_steps: int, num_train_timesteps: int = 1000, depth: float = 1.0, spacing: str = "even"
) -> list[int]:
    """Increasing timesteps ``[t_1, ..., t_n]`` that DDIM visits, plus the clean end ``-1``.

    Returns ``[-1, t_1, ..., t_n]``: position 0 is the data x_0 (ᾱ = 1 by convention),
    ``t_n`` the deepest noise level. ``even`` spacing is "trailing" (the deepest step
    reaches ``depth * T - 1``; Lin et al. 2024 show "leading" spacing never reaches the end of
    the schedule); ``quadratic`` puts step i at ``top · (i/n)²``: finer near the data, where
    DDIM inversion's error concentrates, coarser near the noise (steps at least one timestep
    apart, so the first ones may be 0, 1, 2, ...). ``depth < 1`` stops
    part-way (partial inversion).
    """
    if num_steps < 1:
        raise ValueError(f"num_steps={num_steps}; expected an integer >= 1")
    if not 0 < depth <= 1:
        raise ValueError(f"depth={depth}; expected 0 < depth <= 1")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing={spacing!r}; expected one of {', '.join(SPACINGS)}")
    top = depth * num_train_timesteps
    power = 2 if spacing == "quadratic" else 1
    ts = [round(top * ((i + 1) / num_steps) ** power) - 1 for i in range(num_steps)]
    if spacing == "quadratic":  # the finest steps are at least one timestep apart
        for i in range(num_steps):
            ts[i] = max(ts[i], ts[i - 1] + 1 if i else 0)
    if len(set(ts)) != len(ts) or ts[0] < 0:
        raise ValueError(
            f"{num_steps} steps do not fit in {top:g} timesteps; use fewer steps or more depth"
        )
    return [-1, *ts]


def steps_up(levels: list[int]) -> list[tuple[int, int]]:
    """``(t_cur, t_next)`` pairs that walk ``levels`` up, from the clean end to the deepest level.

    The order of inversion: ``[(-1, t_1), (t_1, t_2), ..., (t_{n-1}, t_n)]`` for the levels
    ``[-1, t_1, ..., t_n]`` of :func:`timestep_grid`.
    """
    return list(zip(levels[:-1], levels[1:], strict=True))


def steps_down(levels: list[int]) -> list[tuple[int, int]]:
    """``(t_cur, t_next)`` pairs that walk ``levels`` down: the order of generation.

    ``[(t_n, t_{n-1}), ..., (t_1, -1)]``, the mirror image of :func:`steps_up`.
    """
    return reverse(steps_up(levels))


def reverse(steps: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The same intervals walked the other way: ``[(b, a) for (a, b) in reversed(steps)]``."""
    return [(t_next, t_cur) for t_cur, t_next in reversed(steps)]

"""The forward process and the training targets (what the network learns to predict).

    q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I),  so  x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε       (DDPM eq. 4)

An ε-prediction network is trained to return ε; a v-prediction network (Salimans & Ho 2022)
v = √ᾱ_t ε − √(1-ᾱ_t) x_0. :class:`~phendiff.diffusion.denoiser.Denoiser` inverts both.
"""

from __future__ import annotations

import torch

from phendiff.diffusion.denoiser import PREDICTIONS


def add_noise(x0: torch.Tensor, noise: torch.Tensor, alpha_bar_t: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε; ``alpha_bar_t`` broadcasts against x0, e.g. (N, 1, 1, 1)."""
    return alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t).sqrt() * noise


def training_target(
    x0: torch.Tensor, noise: torch.Tensor, alpha_bar_t: torch.Tensor, prediction: str
) -> torch.Tensor:
    """What the network should output for x_t = :func:`add_noise` (x0, noise, ᾱ_t): ε or v."""
    if prediction == "epsilon":
        return noise
    if prediction == "v_prediction":
        return alpha_bar_t.sqrt() * noise - (1 - alpha_bar_t).sqrt() * x0
    raise ValueError(f"prediction {prediction!r} is not known; expected one of {PREDICTIONS}")

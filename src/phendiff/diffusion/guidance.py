"""Guidance: wrappers that turn a denoiser into another denoiser.

Both combine two evaluations of the same network in one batch (one call, 2N images):

- classifier-free guidance (Ho & Salimans 2022): out = out(∅) + w (out(y) − out(∅)), with the
  null label ∅ the model was trained with (condition dropout);
- source-relative guidance: out = out(y_src) + w (out(y_tgt) − out(y_src)), which moves along
  the direction from the source condition to the target condition; w = 1 is the plain
  target model, w > 1 exaggerates the phenotype, 0 < w < 1 interpolates.

The combination is taken on the network's output; ε and x̂0 are affine in it at a given x and
t, so it is the same combination of ε (and of x̂0) for ε- and v-prediction alike.

``above`` limits guidance to the noisy part of the trajectory, t ≥ ``above`` (an interval, as
Kynkäänniemi et al. 2024 limit classifier-free guidance to the middle noise levels); below it
the wrapper is the plain network under the labels it is called with, one evaluation per image.
The noisy levels are where a trajectory settles how many cells there are and where (the
layout); the clean ones settle intensity and texture, which unlimited guidance overshoots
(``experiments/fidelity/README.md``).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from phendiff.diffusion.denoiser import Denoiser, Network


def _paired(network: Network, x: torch.Tensor, t: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    out = network(torch.cat([x, x]), torch.cat([t, t]), torch.cat([a, b]))
    return out.chunk(2)


def _limited(network: Network, guided: Network, above: int) -> Network:
    """``guided`` where t ≥ ``above``, the plain ``network`` below (one evaluation per image)."""
    if above <= 0:
        return guided

    def limited(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        inside = t >= above
        if not inside.any():
            return network(x, t, labels)
        out = guided(x, t, labels)
        if inside.all():
            return out
        plain = network(x, t, labels)  # rows at mixed levels: rare, never in our samplers
        return torch.where(inside.view(-1, *([1] * (x.dim() - 1))), out, plain)

    return limited


def classifier_free(
    denoiser: Denoiser, null_label: int, scale: float, above: int = 0
) -> Denoiser:
    """``denoiser`` with classifier-free guidance of strength ``scale`` (1 = no guidance)
    at timesteps t ≥ ``above``."""
    if scale == 1:
        return denoiser
    network = denoiser.network

    def guided(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        null = torch.full_like(labels, null_label)
        cond, uncond = _paired(network, x, t, labels, null)
        return uncond + scale * (cond - uncond)

    return replace(denoiser, network=_limited(network, guided, above))


def source_relative(
    denoiser: Denoiser, source_labels: torch.Tensor, scale: float, above: int = 0
) -> Denoiser:
    """``denoiser`` guided from ``source_labels`` (N,) towards the labels it is called with,
    at timesteps t ≥ ``above``."""
    if scale == 1:
        return denoiser
    network = denoiser.network

    def guided(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        src, tgt = _paired(network, x, t, source_labels, labels)
        return src + scale * (tgt - src)

    return replace(denoiser, network=_limited(network, guided, above))

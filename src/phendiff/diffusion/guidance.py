"""Guidance: wrappers that turn a denoiser into another denoiser.

Both combine two evaluations of the same network in one batch (one call, 2N images):

- classifier-free guidance (Ho & Salimans 2022): out = out(∅) + w (out(y) − out(∅)), with the
  null label ∅ the model was trained with (condition dropout);
- source-relative guidance: out = out(y_src) + w (out(y_tgt) − out(y_src)), which moves along
  the direction from the source condition to the target condition; w = 1 is the plain
  target model, w > 1 exaggerates the phenotype, 0 < w < 1 interpolates.

The combination is taken on the network's output; ε and x̂0 are affine in it at a given x and
t, so it is the same combination of ε (and of x̂0) for ε- and v-prediction alike.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from phendiff.diffusion.denoiser import Denoiser, Network


def _paired(network: Network, x: torch.Tensor, t: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    out = network(torch.cat([x, x]), torch.cat([t, t]), torch.cat([a, b]))
    return out.chunk(2)


def classifier_free(denoiser: Denoiser, null_label: int, scale: float) -> Denoiser:
    """``denoiser`` with classifier-free guidance of strength ``scale`` (1 = no guidance)."""
    if scale == 1:
        return denoiser
    network = denoiser.network

    def guided(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        null = torch.full_like(labels, null_label)
        cond, uncond = _paired(network, x, t, labels, null)
        return uncond + scale * (cond - uncond)

    return replace(denoiser, network=guided)


def source_relative(denoiser: Denoiser, source_labels: torch.Tensor, scale: float) -> Denoiser:
    """``denoiser`` guided from ``source_labels`` (N,) towards the labels it is called with."""
    if scale == 1:
        return denoiser
    network = denoiser.network

    def guided(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        src, tgt = _paired(network, x, t, source_labels, labels)
        return src + scale * (tgt - src)

    return replace(denoiser, network=guided)

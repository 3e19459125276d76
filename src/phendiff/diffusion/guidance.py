"""Guidance: wrappers that turn a model callable into another model callable.

Both combine two evaluations of the same network in one batch (one call, 2N images):

- classifier-free guidance (Ho & Salimans 2022): ε = ε(∅) + w (ε(y) − ε(∅)), with the null
  label ∅ the model was trained with (condition dropout);
- source-relative guidance: ε = ε(y_src) + w (ε(y_tgt) − ε(y_src)), which moves along the
  direction from the source condition to the target condition; w = 1 is the plain target
  model, w > 1 exaggerates the phenotype, 0 < w < 1 interpolates.

The combination is linear in the network output, so it applies to ε- and v-prediction alike.
"""

from __future__ import annotations

import torch

from phendiff.diffusion.ddim import Model


def _paired(model: Model, x: torch.Tensor, t: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([a, b]))
    return out.chunk(2)


def classifier_free(model: Model, null_label: int, scale: float) -> Model:
    """``model`` with classifier-free guidance of strength ``scale`` (1 = no guidance)."""
    if scale == 1:
        return model

    def guided(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        null = torch.full_like(labels, null_label)
        cond, uncond = _paired(model, x, t, labels, null)
        return uncond + scale * (cond - uncond)

    return guided


def source_relative(model: Model, source_labels: torch.Tensor, scale: float) -> Model:
    """``model`` guided from ``source_labels`` (N,) towards the labels it is called with."""
    if scale == 1:
        return model

    def guided(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        src, tgt = _paired(model, x, t, source_labels, labels)
        return src + scale * (tgt - src)

    return guided

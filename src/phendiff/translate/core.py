"""Invert once, generate for every target: translation of a batch in normalised units.

:func:`translate_normalized` is the heart of ``phendiff translate``: each image of a batch is
mapped to its latent under its own condition once (``options.inversion``: exact residual
inversion, BDIA or plain DDIM), regenerated under its own condition (the reconstruction) and
under every target, several targets side by side in one network batch. Everything is
float64 and deterministic.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from functools import partial

import torch

from phendiff.config import TranslateOptions
from phendiff.diffusion import bdia, ddim, exact, guidance
from phendiff.diffusion.denoiser import Denoiser
from phendiff.diffusion.schedule import steps_down, steps_up, timestep_grid

# (invert, generate) of each --inversion; noised's invert also takes the noise
SCHEMES = {
    "exact": (exact.invert, exact.generate),
    "noised": (exact.noised, exact.generate),
    "bdia": (bdia.invert, bdia.generate),
    "ddim": (ddim.invert, ddim.generate),
}


def evaluations_per_image(options: TranslateOptions, targets: int, T: int = 1000) -> int:
    """Network evaluations one image costs: its inversion (one sweep of ``steps``, plus one
    per fixed-point refinement; none for ``noised``, which noises in closed form), the
    residual sweep (``exact``, ``noised``), the round trip, and one sweep per target other
    than its own condition, plus one more evaluation per guided step (``T``: the model's
    training timesteps). BDIA's count is approximate."""
    inversion = 0 if options.inversion == "noised" else 1 + options.refinements
    residuals = 1 if options.inversion in ("exact", "noised") else 0
    shared = options.steps * (inversion + residuals + 1)
    return shared + targets * evaluations_per_target(options, T)


def evaluations_per_target(options: TranslateOptions, T: int = 1000) -> int:
    """Network evaluations of one target's generation: one per step, two per guided step."""
    if options.guidance == 1:
        return options.steps
    levels = timestep_grid(options.steps, T, options.depth, options.spacing)
    above = guidance_start(options, T)
    return options.steps + sum(t >= above for t in levels[1:])


def guidance_start(options: TranslateOptions, T: int) -> int:
    """The first timestep guidance acts at: ⌈guidance_above · T⌉."""
    return math.ceil(options.guidance_above * T)


def image_noise(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Standard normal noise of x's shape (N, ...), float64, one generator per image.

    Each image's generator is seeded by ``seed`` and a SHA-256 of the image's own values, so
    an image gets the same noise whatever batch it is in, and every target of one image is
    generated from the same noise (a dose series shares its layout).
    """
    out = torch.empty(x.shape, dtype=torch.float64)
    for i, image in enumerate(x):
        digest = hashlib.sha256(image.to(torch.float64).cpu().numpy().tobytes()).digest()
        g = torch.Generator().manual_seed(seed ^ int.from_bytes(digest[:8], "little"))
        out[i] = torch.randn(image.shape, generator=g, dtype=torch.float64)
    return out.to(x.device)


def free_steps(levels: list[int], residual_depth: float | None, T: int) -> int:
    """How many of the noisiest generation steps add no residual (from t ≥ residual_depth·T)."""
    if residual_depth is None:
        return 0
    return sum(t >= residual_depth * T for t in levels[1:])


def translate_normalized(
    denoiser: Denoiser,
    x: torch.Tensor,
    source_labels: torch.Tensor,
    target_labels: Sequence[int],
    null_label: int,
    options: TranslateOptions,
    progress: Callable | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Invert x once under its own labels; return (reconstruction, [one output per target]).

    Parameters
    ----------
    denoiser : the model's denoiser (:func:`phendiff.translate.model_denoiser`).
    x : (N, C, Y, X) float64 images in normalised units.
    source_labels : (N,) long, each image's own condition.
    target_labels : labels to generate under, in order (a label equal to an image's own
        returns its reconstruction).
    null_label : the model's "no condition" label (classifier-free guidance).
    options : steps, inversion, guidance, depth, network batch and clip.

    Returns
    -------
    reconstruction : (N, C, Y, X) float64; outputs : one (N, C, Y, X) float64 per target.
    """
    T = len(denoiser.alpha_bar)
    levels = timestep_grid(options.steps, T, options.depth, options.spacing)
    up, down = steps_up(levels), steps_down(levels)
    invert, generate = SCHEMES[options.inversion]
    if options.inversion == "noised":
        latent = invert(denoiser, x, source_labels, up, image_noise(x, options.seed))
    elif options.inversion in ("exact", "ddim"):
        latent = invert(denoiser, x, source_labels, up, progress, options.refinements)
    else:
        latent = invert(denoiser, x, source_labels, up, progress=progress)
    if options.inversion in ("exact", "noised"):
        generate = partial(generate, free_steps=free_steps(levels, options.residual_depth, T))
    # the reconstruction runs on exactly the batch of the inversion: the network must return
    # bit-identical outputs for the round trip to be exact, and results can depend on batch size
    recon = generate(denoiser, latent, source_labels, down)

    def guided(k: int) -> Denoiser:  # the denoiser for k targets side by side
        above = guidance_start(options, T)
        if options.guidance_kind == "cfg":
            return guidance.classifier_free(denoiser, null_label, options.guidance, above)
        return guidance.source_relative(
            denoiser, _tiled(source_labels, k), options.guidance, above
        )

    pending = [t for t in dict.fromkeys(target_labels) if options.clip is not None
               or not bool((source_labels == t).all())]  # fmt: skip
    generated: dict[int, torch.Tensor] = {}
    n = len(source_labels)
    per_call = max(1, options.network_batch // n)
    for start in range(0, len(pending), per_call):
        chunk = pending[start : start + per_call]  # several targets in one network batch
        labels = torch.tensor(chunk).repeat_interleave(n)  # target-major rows
        out = generate(guided(len(chunk)), _tiled(latent, len(chunk)), labels, down,
                       clip=options.clip)  # fmt: skip
        generated.update(zip(chunk, out.split(n), strict=True))
    outputs = []
    for label in target_labels:
        out = generated.get(label, recon)
        same = source_labels == label  # rows whose target is their own condition
        if options.clip is None and same.any() and not same.all():
            out = torch.where(same[:, None, None, None], recon, out)
        outputs.append(out)
    return recon, outputs


def _tiled(x, k: int):
    """x (or every tensor of a latent tuple) repeated k times along the batch, target-major."""
    if isinstance(x, torch.Tensor):
        return x.repeat(k, *([1] * (x.dim() - 1)))
    tiled = (_tiled(v, k) for v in x)
    return type(x)(*tiled) if hasattr(x, "_fields") else tuple(tiled)

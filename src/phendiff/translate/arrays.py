"""Translation of real images (numpy arrays) between conditions: invert once, generate per target.

``translate(model, images, source, targets)`` maps each image to its latent under its own
condition (exact inversion by default — DDIM with per-step residuals, see
:mod:`phendiff.diffusion.exact` — plain DDIM as the paper's baseline) and regenerates that
latent under every target condition, plus under the source condition for quality control
(the reconstruction). Nothing is random: the same call gives the same result.

Precision: the network runs in ``bf16`` autocast (``auto``, the default, where the device
supports it: it keeps the round trip exact, see below), ``fp32`` or ``fp64``; the
trajectory — the sums of the exact round trip — is always carried in float64, which costs
nothing next to the network and keeps round trips exact to ~1e-12 whatever the network's
precision (float32 sums through BDIA's recurrence accumulated ~1e-3 over 50 steps).

Sizes: images may be larger than the model's training size (see :mod:`.tiles`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from phendiff.conditions import Condition
from phendiff.config import TranslateOptions
from phendiff.diffusion import ddim
from phendiff.diffusion.denoiser import Denoiser, fixed_batches, network_callable
from phendiff.diffusion.schedule import make_alpha_bar, steps_down, timestep_grid
from phendiff.errors import PhendiffError
from phendiff.model.checkpoint import PhendiffModel
from phendiff.translate.metrics import reconstruction_metrics
from phendiff.translate.tiles import translate_sized


@dataclass
class Translation:
    """Result of :func:`translate` for N images and T targets.

    ``translated[i]`` is (T, C, Y, X) and ``reconstruction[i]`` (C, Y, X), both in the input's
    dtype and units; ``metrics[i]`` holds the reconstruction errors of image i in normalised
    units (see :mod:`phendiff.evaluate.reconstruction`).
    """

    sources: list[Condition]
    targets: list[Condition]
    translated: list[np.ndarray] = field(default_factory=list)
    reconstruction: list[np.ndarray] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)


def model_denoiser(
    model: PhendiffModel,
    precision: str = "auto",
    memory_format: torch.memory_format = torch.channels_last,
    network_batch: int | None = None,
) -> Denoiser:
    """The model's network wrapped once as a float64 :class:`~phendiff.diffusion.denoiser.Denoiser`.

    ``precision`` as in :class:`TranslateOptions`; channels-last by default (1.1–2.1× the
    throughput of the contiguous layout on the CPU, see ``benchmarks/README.md``; the layout
    does not change what is computed). ``network_batch``: every network call has exactly
    this many samples (:func:`~phendiff.diffusion.denoiser.fixed_batches`), so an image's
    result does not depend on the batch it is in; None calls the network on whatever it is
    given. ``model.network`` itself is never modified.
    """
    network = network_callable(model.network, precision, memory_format)
    if network_batch is not None:
        network = fixed_batches(network, network_batch)
    alpha_bar = make_alpha_bar(**model.config.schedule_options)
    return Denoiser(network, alpha_bar, model.config.prediction)


def translate(
    model: PhendiffModel,
    images: np.ndarray | Sequence[np.ndarray],
    source: str | Condition | Sequence[str | Condition],
    targets: Sequence[str | Condition],
    options: TranslateOptions | None = None,
    progress: bool = False,
    denoiser: Denoiser | None = None,
) -> Translation:
    """Translate real images to each target condition (one inversion per image).

    Parameters
    ----------
    model : a loaded model (:func:`phendiff.model.checkpoint.load_model`).
    images : (N, C, Y, X) array, or a sequence of (C, Y, X) arrays (sizes may differ), in
        the units and dtype they were read in (uint8, uint16 or float).
    source : the images' condition, or one condition per image.
    targets : condition names (or :class:`Condition`); ``<compound>@all`` expands to a whole
        dose series. A target equal to an image's source returns its reconstruction.
    options : how to translate (:class:`TranslateOptions`; its defaults are the CLI's).
    progress : show a progress bar.
    denoiser : ``model_denoiser(model, options.precision, network_batch=options.network_batch)``
        built once by a caller that translates many batches; built here when not given.

    Returns
    -------
    Translation
        Outputs in the input's order, dtype and units.

    Examples
    --------
    >>> result = translate(model, images, "DMSO", ["nocodazole@all"])  # doctest: +SKIP
    >>> result.translated[0].shape  # (targets, C, Y, X)                # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    options = options or TranslateOptions()
    images = [np.asarray(im) for im in images]
    sources = _resolve_sources(model, source, len(images))
    target_list = resolve_targets(model, targets)
    _check_images(model, images)
    denoiser = denoiser or model_denoiser(
        model, options.precision, network_batch=options.network_batch
    )
    result = Translation(sources, target_list)
    target_labels = [model.conditions.label(t) for t in target_list]
    groups = _batches(images, sources, options.batch_size)
    for idx in tqdm(groups, desc="translating", unit="batch", disable=not progress):
        # float64 from the start: a float32 input must come back to within its own precision
        raw = torch.from_numpy(np.stack([images[i] for i in idx]).astype(np.float64))
        batch = model.normalizer.normalize(raw)
        src = torch.tensor([model.conditions.label(sources[i]) for i in idx])
        recon, outs = translate_sized(denoiser, batch, src, target_labels, model, options)
        _check_finite(recon, outs, target_list, options)
        for k, i in enumerate(idx):
            dtype = images[i].dtype
            out = np.stack([model.normalizer.to_output_dtype(o[k].numpy(), dtype) for o in outs])
            result.translated.append((i, out))
            result.reconstruction.append(
                (i, model.normalizer.to_output_dtype(recon[k].numpy(), dtype))
            )
            result.metrics.append((i, reconstruction_metrics(batch[k].numpy(), recon[k].numpy())))
    for name in ("translated", "reconstruction", "metrics"):  # back to input order
        setattr(result, name, [v for _, v in sorted(getattr(result, name), key=lambda p: p[0])])
    return result


def _check_finite(recon: torch.Tensor, outs, targets, options: TranslateOptions) -> None:
    """NaN or inf never reaches a file: name where it appeared and the likely cause."""
    named = [("the reconstruction", recon), *zip((t.name for t in targets), outs, strict=True)]
    for name, y in named:
        bad = int((~torch.isfinite(y)).sum())
        if bad:
            raise PhendiffError(
                f"translation to {name} holds {bad} non-finite values (NaN or inf) of "
                f"{y.numel()}; nothing was written — the model's weights or the options "
                f"(guidance {options.guidance}, precision {options.precision}) make the "
                "network's output non-finite: check the model folder, or retry with "
                "--precision fp32 --guidance 1"
            )


def sample(
    model: PhendiffModel,
    condition: str | Condition,
    noise: torch.Tensor,
    steps: int = 25,
    denoiser: Denoiser | None = None,
    batch_size: int = 32,
) -> torch.Tensor:
    """Draw images of ``condition`` from Gaussian ``noise`` (N, C, Y, X) with plain DDIM.

    The model alone, no real image: what it has learned of the condition. Returns float64
    images in normalised units (``model.normalizer.denormalize`` maps them to the data's
    units). The same noise under two conditions gives the same layout.
    """
    denoiser = denoiser or model_denoiser(model)
    levels = timestep_grid(steps, model.config.num_train_timesteps)
    labels = torch.full((len(noise),), model.conditions.label(condition))
    return torch.cat([
        ddim.generate(denoiser, noise[i : i + batch_size], labels[i : i + batch_size],
                      steps_down(levels))
        for i in range(0, len(noise), batch_size)
    ])  # fmt: skip


def resolve_targets(model: PhendiffModel, targets: Sequence[str | Condition]) -> list[Condition]:
    """Target specs → conditions, in order, without duplicates; errors list the known ones."""
    if isinstance(targets, (str, Condition)):
        targets = [targets]
    if not targets:
        raise PhendiffError(
            "no target condition given; pass at least one --target, e.g. "
            f"--target {model.conditions.names[-1]}"
        )
    resolved: list[Condition] = []
    for spec in targets:
        found = model.conditions.resolve(spec.name if isinstance(spec, Condition) else spec)
        for condition in found:  # the model's spelling; unknown names raise, listing known
            if condition not in resolved:
                resolved.append(condition)
    return resolved


def _resolve_sources(model, source, n: int) -> list[Condition]:
    if source is None:
        raise PhendiffError(
            "the source condition of the images is unknown; pass --source "
            f"(one of {', '.join(model.conditions.names)})"
        )
    if isinstance(source, (str, Condition)):
        source = [source] * n
    if len(source) != n:
        raise PhendiffError(
            f"{len(source)} source conditions for {n} images; expected one "
            "condition, or one per image"
        )
    return [model.conditions.find(s) for s in source]  # unknown names raise, listing known


def _check_images(model: PhendiffModel, images: list[np.ndarray]) -> None:
    c = model.config
    for i, image in enumerate(images):
        if image.ndim != 3:
            raise PhendiffError(f"image {i}: shape {image.shape}; expected (C, Y, X)")
        if image.shape[0] != c.in_channels:
            raise PhendiffError(
                f"image {i}: {image.shape[0]} channels; the model expects {c.in_channels} "
                f"({', '.join(c.channel_names)}) — pass images with the same channels or use "
                "--channel-axis if the channels are on another axis"
            )
        if min(image.shape[1:]) < c.image_size:
            raise PhendiffError(
                f"image {i}: {image.shape[1]}×{image.shape[2]} px is smaller than the model's "
                f"{c.image_size}×{c.image_size}; use larger images or a model trained smaller"
            )
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise PhendiffError(f"image {i}: contains NaN or infinite values; expected finite")


def _batches(images, sources, batch_size: int) -> list[list[int]]:
    """Indices grouped by image shape, in chunks of ``batch_size``."""
    by_shape: dict[tuple, list[int]] = {}
    for i, image in enumerate(images):
        by_shape.setdefault(image.shape, []).append(i)
    return [
        idx[k : k + batch_size] for idx in by_shape.values() for k in range(0, len(idx), batch_size)
    ]

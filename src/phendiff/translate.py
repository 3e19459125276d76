"""Translation of real images between conditions: invert once, generate for every target.

``translate(model, images, source, targets)`` maps each image to its latent under its own
condition (exact inversion by default — DDIM with per-step residuals, see
:mod:`phendiff.diffusion.residual` — plain DDIM as the paper's baseline) and
regenerates that latent under every target condition, plus under the source condition for
quality control (the reconstruction). Nothing is random: the same call gives the same result.

Precision: the network runs in ``bf16`` autocast (``auto``, the default, where the device
supports it: it keeps the round trip exact, see below), ``fp32`` or ``fp64``; the
trajectory — the sums of the exact round trip — is always carried in float64, which costs
nothing next to the network and keeps round trips exact to ~1e-12 whatever the network's
precision (float32 sums through BDIA's recurrence accumulated ~1e-3 over 50 steps).

Sizes: images may be larger than the model's training size — the UNet is convolutional.
An image of at most ``max_pixels`` pixels is translated whole (reflect-padded to a multiple
of the UNet's downsampling factor, then cropped); a larger one is cut into overlapping
tiles of ``4 × image_size`` that are translated independently and blended with linear
ramps that sum to one, so the reconstruction stays exact tile by tile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from phendiff.conditions import Condition
from phendiff.errors import PhendiffError
from phendiff.evaluate.reconstruction import reconstruction_metrics
from phendiff.model.checkpoint import PhendiffModel

log = logging.getLogger(__name__)

INVERSIONS = ("exact", "bdia", "ddim")
PRECISIONS = ("auto", "fp32", "bf16", "fp64")
GUIDANCE_KINDS = ("source", "cfg")


@dataclass(frozen=True)
class TranslateOptions:
    """How to translate; every field has the default a user gets from the CLI."""

    steps: int = 25  # see benchmarks/README.md: exact at any count, texture kept from 25 on
    inversion: str = "exact"  # "exact" (DDIM + residuals), "bdia", or "ddim" (the paper's)
    guidance: float = 1.0  # 1 = plain target model
    guidance_kind: str = "source"  # ε_src + w(ε_tgt − ε_src), or "cfg" with the null label
    depth: float = 1.0  # invert to this fraction of the schedule (1 = pure noise, as the paper)
    batch_size: int = 8  # images inverted together
    network_batch: int = 32  # most images per network call: targets are generated together
    precision: str = "auto"  # bf16 autocast where the device has it, else fp32
    clip: float | None = None  # bound x̂0 in generation; None: never clip
    max_pixels: int = 1024 * 1024  # larger images are translated in tiles

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise PhendiffError(f"steps={self.steps!r}; expected an integer >= 1 (e.g. 50)")
        if self.inversion not in INVERSIONS:
            raise PhendiffError(
                f"inversion={self.inversion!r}; expected one of {', '.join(INVERSIONS)}"
            )
        if self.precision not in PRECISIONS:
            raise PhendiffError(
                f"precision={self.precision!r}; expected one of {', '.join(PRECISIONS)}"
            )
        if self.guidance_kind not in GUIDANCE_KINDS:
            raise PhendiffError(f"guidance_kind={self.guidance_kind!r}; expected source or cfg")
        if not 0 < self.depth <= 1:
            raise PhendiffError(f"depth={self.depth}; expected 0 < depth <= 1")
        if self.batch_size < 1:
            raise PhendiffError(f"batch_size={self.batch_size}; expected >= 1")
        if self.network_batch < 1:
            raise PhendiffError(f"network_batch={self.network_batch}; expected >= 1")


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


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` → bf16 on the CPU and on GPUs with bf16, fp32 elsewhere; others unchanged."""
    if precision != "auto":
        return precision
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp32"
    return "bf16"


def network_callable(
    model: PhendiffModel,
    precision: str = "auto",
    memory_format: torch.memory_format = torch.channels_last,
) -> Callable:
    """The model as ``out = f(x, t, labels)`` for float64 trajectories (see module docs).

    The network is cast in place to float64 for ``fp64`` and to float32 otherwise, and to
    ``memory_format``: channels-last by default (1.1–2.1× the throughput of the contiguous
    layout on the CPU, see ``benchmarks/README.md``; the layout does not change what is
    computed).
    """
    net = model.network
    device = next(net.parameters()).device
    precision = resolve_precision(precision, device)
    dtype = torch.float64 if precision == "fp64" else torch.float32
    net.to(dtype, memory_format=memory_format)
    autocast = precision == "bf16"

    def f(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = x.to(device, dtype).contiguous(memory_format=memory_format)
        with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=autocast):
            out = net(z, t.to(device), labels.to(device))
        return out.to(x.device, torch.float64).contiguous()

    return f


def translate_normalized(
    fn: Callable,
    x: torch.Tensor,
    source_labels: torch.Tensor,
    target_labels: Sequence[int],
    model: PhendiffModel,
    options: TranslateOptions,
    progress: Callable | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Invert x (N, C, Y, X), float64, once; return (reconstruction, [one output per target])."""
    from phendiff.diffusion import ddim, exact, guidance, residual
    from phendiff.diffusion.schedule import timestep_grid

    c = model.config
    alpha_bar = c.alpha_bar()
    grid = timestep_grid(options.steps, c.num_train_timesteps, options.depth)
    invert, generate = {
        "exact": (residual.residual_invert, residual.residual_generate),
        "bdia": (exact.bdia_invert, exact.bdia_generate),
        "ddim": (ddim.invert, ddim.generate),
    }[options.inversion]
    latent = invert(fn, x, source_labels, grid, alpha_bar, c.prediction, progress=progress)
    # the reconstruction runs on exactly the batch of the inversion: the network must return
    # bit-identical outputs for the round trip to be exact, and results can depend on batch size
    recon = generate(fn, latent, source_labels, grid, alpha_bar, c.prediction)

    def guided(k: int) -> Callable:  # the model callable for k targets side by side
        if options.guidance_kind == "cfg":
            return guidance.classifier_free(fn, model.conditions.null_label, options.guidance)
        return guidance.source_relative(fn, _tiled(source_labels, k), options.guidance)

    pending = [t for t in dict.fromkeys(target_labels) if options.clip is not None
               or not bool((source_labels == t).all())]  # fmt: skip
    generated: dict[int, torch.Tensor] = {}
    n = len(source_labels)
    per_call = max(1, options.network_batch // n)
    for start in range(0, len(pending), per_call):
        chunk = pending[start : start + per_call]  # several targets in one network batch
        labels = torch.tensor(chunk).repeat_interleave(n)  # target-major rows
        out = generate(
            guided(len(chunk)), _tiled(latent, len(chunk)), labels, grid, alpha_bar,
            c.prediction, clip=options.clip,
        )  # fmt: skip
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


def translate(
    model: PhendiffModel,
    images: np.ndarray | Sequence[np.ndarray],
    source: str | Condition | Sequence[str | Condition],
    targets: Sequence[str | Condition],
    options: TranslateOptions | None = None,
    progress: bool = False,
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

    Examples
    --------
    >>> result = translate(model, images, "DMSO", ["nocodazole@all"])  # doctest: +SKIP
    >>> result.translated[0].shape  # (targets, C, Y, X)                # doctest: +SKIP
    """
    options = options or TranslateOptions()
    images = [np.asarray(im) for im in images]
    sources = _resolve_sources(model, source, len(images))
    target_list = resolve_targets(model, targets)
    _check_images(model, images)
    original_dtype = next(model.network.parameters()).dtype
    try:
        return _translate(model, images, sources, target_list, options, progress)
    finally:
        # network_callable may have cast it
        model.network.to(original_dtype, memory_format=torch.contiguous_format)


def _translate(model, images, sources, target_list, options, progress) -> Translation:
    fn = network_callable(model, options.precision)
    result = Translation(sources, target_list)
    target_labels = [model.conditions.label(t) for t in target_list]
    groups = _batches(images, sources, options.batch_size)
    from tqdm.auto import tqdm

    for idx in tqdm(groups, desc="translating", unit="batch", disable=not progress):
        # float64 from the start: a float32 input must come back to within its own precision
        raw = torch.from_numpy(np.stack([images[i] for i in idx]).astype(np.float64))
        batch = model.normalizer.normalize(raw)
        src = torch.tensor([model.conditions.label(sources[i]) for i in idx])
        recon, outs = _translate_sized(fn, batch, src, target_labels, model, options)
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
        found = [spec] if isinstance(spec, Condition) else model.conditions.resolve(spec)
        for condition in found:
            model.conditions.label(condition)  # raises with the known names if unknown
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
    resolved = [s if isinstance(s, Condition) else Condition.parse(s) for s in source]
    for s in set(resolved):
        model.conditions.label(s)
    return resolved


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


def _translate_sized(fn, x, src, target_labels, model, options):
    """Whole (padded) when small enough, otherwise in overlapping tiles."""
    _, _, h, w = x.shape
    if h * w <= options.max_pixels:
        m = 2 ** (len(model.config.block_out_channels) - 1)
        ph, pw = -h % m, -w % m
        xp = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
        recon, outs = translate_normalized(fn, xp, src, target_labels, model, options)
        return recon[..., :h, :w], [o[..., :h, :w] for o in outs]
    return _translate_tiled(fn, x, src, target_labels, model, options)


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    n = int(np.ceil((size - overlap) / (tile - overlap)))
    return sorted({round(k * (size - tile) / (n - 1)) for k in range(n)})


def _ramp(tile: int, overlap: int) -> torch.Tensor:
    r = torch.ones(tile, dtype=torch.float64)
    edge = torch.arange(1, overlap + 1, dtype=torch.float64) / (overlap + 1)
    r[:overlap], r[-overlap:] = edge, edge.flip(0)
    return r


def _translate_tiled(fn, x, src, target_labels, model, options):
    s = model.config.image_size
    tile, overlap = min(4 * s, x.shape[2], x.shape[3]), s
    log.info("image %d×%d px: translating in %d-px tiles", x.shape[2], x.shape[3], tile)
    ys, xs = _tile_starts(x.shape[2], tile, overlap), _tile_starts(x.shape[3], tile, overlap)
    weight = _ramp(tile, overlap)[:, None] * _ramp(tile, overlap)[None, :]
    acc = torch.zeros((1 + len(target_labels), *x.shape), dtype=torch.float64)
    norm = torch.zeros(x.shape[2:], dtype=torch.float64)
    for y0 in ys:
        for x0 in xs:
            patch = x[:, :, y0 : y0 + tile, x0 : x0 + tile]
            recon, outs = translate_normalized(fn, patch, src, target_labels, model, options)
            for k, out in enumerate([recon, *outs]):
                acc[k, :, :, y0 : y0 + tile, x0 : x0 + tile] += weight * out
            norm[y0 : y0 + tile, x0 : x0 + tile] += weight
    acc /= norm  # the weights of overlapping tiles sum to one after this
    return acc[0], list(acc[1:])

"""Training one class-conditional diffusion model over all conditions of a screen.

The same function runs on a CPU, one GPU, or many GPUs/nodes under ``accelerate launch``:

- the batch is global (``batch_size`` images per optimizer step, split over processes);
- every random draw of step ``s`` on rank ``r`` comes from a generator seeded by
  ``(seed, s, r)``, so a resumed run is identical to an uninterrupted one without saving RNG
  state, and a run does not depend on data-loader timing;
- the learning rate is a pure function of the optimizer step (linear warm-up, cosine decay),
  set once per optimizer step whatever the number of processes;
- EMA weights (half-life in images, EDM-style ramp-up) are kept apart from the online
  weights, saved in the model folder, and used for samples and export.

A run folder ``RUN`` holds ``config.yaml`` (the resolved configuration), ``model/`` (a model
folder with the EMA weights, plus ``model/training/`` with the online weights, optimizer
state and step count for ``--resume``), ``metrics.jsonl`` and ``samples/*.png``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from phendiff.conditions import ConditionTable
from phendiff.config import TrainConfig, dump_yaml, from_dict, to_dict
from phendiff.data.dataset import TrainingImages
from phendiff.data.io import read_channel_names
from phendiff.data.normalize import Normalizer
from phendiff.data.sources import ImageRecord, assign_splits, load_source, scan_images
from phendiff.errors import PhendiffError
from phendiff.model.checkpoint import load_model, save_model
from phendiff.model.unet import ConditionalUNet, count_parameters

log = logging.getLogger(__name__)

RUN_CONFIG = "config.yaml"
TRAINING = "training"
# options that may change when a run is resumed: they do not change what a step computes
RESUMABLE = {"steps", "log_every", "checkpoint_every", "sample_every", "sample_steps"}


@dataclasses.dataclass
class _State:
    step: int = 0
    images_seen: int = 0
    stop_requested: bool = False
    interrupted: bool = False  # by Ctrl-C (SIGINT), as opposed to on_step


def train(
    data: str | Path,
    out: str | Path,
    config: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int], bool | None] | None = None,
) -> Path:
    """Train (or resume) a model on the screen at ``data``; returns ``out/model``.

    ``on_step(step)`` is called after every optimizer step; returning True stops the run as
    Ctrl-C does (checkpoint, then return). Raises :class:`PhendiffError` on bad input before
    anything is written.
    """
    from accelerate import Accelerator

    out = Path(out)
    data = Path(data)
    _check_run_folder(out, data, config, resume)
    # mixed precision is ours (autocast_dtype): accelerate's is a process-wide singleton that
    # cannot change between two runs in one Python session
    # cpu=True without CUDA lets torchrun-style launches (``accelerate launch --multi_gpu``)
    # form a gloo process group of CPU workers
    accelerator = Accelerator(mixed_precision="no", cpu=not torch.cuda.is_available())
    main = accelerator.is_main_process
    if config.batch_size % accelerator.num_processes:
        raise PhendiffError(
            f"batch_size={config.batch_size} is not divisible by {accelerator.num_processes} "
            "processes; choose a multiple of the number of processes"
        )

    images, val_images, table, channels = _load_data(data, config, progress and main)
    model_config = dataclasses.replace(config.model, channel_names=channels)
    config = dataclasses.replace(config, model=model_config)

    torch.manual_seed(config.seed)  # identical initial weights on every rank
    # on the device before the optimizer exists, so resumed AdamW state lands there too
    network = ConditionalUNet(model_config, len(table)).to(accelerator.device)
    ema = ConditionalUNet(model_config, len(table)).requires_grad_(False).to(accelerator.device)
    ema.load_state_dict(network.state_dict())
    optimizer = torch.optim.AdamW(
        network.parameters(),
        lr=config.learning_rate,
        betas=config.adam_betas,
        weight_decay=config.weight_decay,
    )
    state = _State()
    normalizer: Normalizer
    if resume and (out / "model" / TRAINING / "state.json").exists():
        normalizer = _load_checkpoint(out / "model", network, ema, optimizer, state, table)
    else:
        normalizer = Normalizer.fit(images.images, percentiles=config.percentiles, seed=config.seed)
    if main:
        _write_run_config(out, data, config)
        _trim_metrics(out / "metrics.jsonl", state.step)
        log.info(
            "training %s (%d parameters) on %d images, %d conditions, %d process(es)",
            model_config.preset,
            count_parameters(network),
            len(images),
            len(table),
            accelerator.num_processes,
        )
    network, optimizer = accelerator.prepare(network, optimizer)

    loop = _Loop(
        config,
        accelerator,
        network,
        ema,
        optimizer,
        images,
        val_images,
        table,
        normalizer,
        out,
        state,
    )
    with _sigint_requests_stop(state):
        loop.run(progress and main, on_step)
    return out / "model"


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None: plain fp32)."""
    cuda = device.type == "cuda"
    if precision == "fp16" and not cuda:
        raise PhendiffError("precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
    if precision == "auto":
        precision = "fp16" if cuda and not torch.cuda.is_bf16_supported() else "bf16"
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _check_run_folder(out: Path, data: Path, config: TrainConfig, resume: bool) -> None:
    """Refuse to mix runs: a used --out needs --resume, and --resume needs the same run."""
    saved = out / RUN_CONFIG
    if not resume:
        if saved.exists():
            raise PhendiffError(
                f"{out} already holds a training run; pass --resume to continue it, or choose "
                "another --out"
            )
        if out.exists() and any(out.iterdir()):
            raise PhendiffError(f"{out} exists and is not empty; choose a new --out folder")
        return
    if not saved.exists():
        raise PhendiffError(
            f"--resume: {out} holds no training run ({RUN_CONFIG} is missing); "
            "drop --resume to start one"
        )
    previous = read_run_config(out)
    if Path(previous["data"]).resolve() != data.resolve():
        raise PhendiffError(
            f"--resume: {out} was trained on {previous['data']}, not {data}; "
            "resume with the same data or choose another --out"
        )
    old, new = previous["train"], to_dict(config)
    old["model"].pop("channel_names", None)
    new["model"].pop("channel_names", None)
    changed = sorted(k for k in new if k not in RESUMABLE and new[k] != old.get(k))
    if changed:
        raise PhendiffError(
            f"--resume: {out} was trained with different options ({', '.join(changed)}); only "
            f"{', '.join(sorted(RESUMABLE))} may change on resume"
        )


def read_run_config(out: str | Path) -> dict[str, Any]:
    """``{"data": path, "train": TrainConfig as dict}`` from a run folder."""
    import yaml

    path = Path(out) / RUN_CONFIG
    try:
        saved = yaml.safe_load(path.read_text())
        from_dict(TrainConfig, saved["train"], str(path))
        return saved
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise PhendiffError(f"{path}: not a readable phendiff run configuration ({exc})") from None


def resume_config(out: str | Path, overrides: dict[str, Any]) -> TrainConfig:
    """The configuration of the run in ``out``, with ``overrides`` applied (for --resume)."""
    saved = read_run_config(out)["train"]
    model_overrides = overrides.pop("model", {})
    saved["model"].update(model_overrides)
    saved.update(overrides)
    return from_dict(TrainConfig, saved, f"{Path(out) / RUN_CONFIG}")


def _write_run_config(out: Path, data: Path, config: TrainConfig) -> None:
    from phendiff import __version__

    out.mkdir(parents=True, exist_ok=True)
    text = f"# written by phendiff {__version__}\n" + dump_yaml(
        {"data": str(data), "train": to_dict(config)}
    )
    _write_text_atomic(out / RUN_CONFIG, text)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _load_data(
    data: Path, config: TrainConfig, progress: bool
) -> tuple[TrainingImages, TrainingImages | None, ConditionTable, tuple[str, ...]]:
    records = assign_splits(
        load_source(data, compounds=config.compounds), config.val_fraction, config.seed
    )
    records = [r for r in records if r.split in ("train", "val")]
    size = config.model.image_size
    scan = scan_images(
        records,
        channel_axis=config.channel_axis,
        min_size=size if config.crop == "random" else None,
        progress=progress,
    )
    channels = _channel_names(config.channel_names, scan.n_channels, records, data)
    table = ConditionTable.from_conditions(r.condition for r in records)
    train_records = [r for r in records if r.split == "train"]
    val_records = [r for r in records if r.split == "val"]
    if not train_records:
        raise PhendiffError(
            f"{data}: no training images left after the validation split; "
            "add images or lower val_fraction"
        )
    missing = sorted(set(table.names) - {r.condition.name for r in train_records})
    if missing:
        raise PhendiffError(
            f"{data}: conditions {', '.join(missing)} have no training images "
            "(all went to validation); add images or lower val_fraction"
        )
    kw = dict(table=table, image_size=size, crop=config.crop, channel_axis=config.channel_axis)
    images = TrainingImages(train_records, augment=config.augment, progress=progress, **kw)
    val = TrainingImages(val_records, augment=False, **kw) if val_records else None
    return images, val, table, channels


def _channel_names(
    requested: tuple[str, ...] | None, n: int, records: list[ImageRecord], data: Path
) -> tuple[str, ...]:
    """Names given by the user, else by the source or the OME metadata, else ch0, ch1, ..."""
    if requested is not None:
        if len(requested) != n:
            raise PhendiffError(
                f"{data}: images have {n} channels but {len(requested)} channel names were "
                f"given ({', '.join(requested)}); pass one name per channel"
            )
        return tuple(requested)
    found = records[0].channels
    if found is None and len(records[0].paths) == 1:
        found = read_channel_names(records[0].paths[0])
    if found is not None and len(found) == n:
        return tuple(found)
    return tuple(f"ch{i}" for i in range(n))


def _step_rng(seed: int, step: int, rank: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, step, rank]))


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up to ``learning_rate``, then cosine decay to 0 at ``steps``."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def ema_decay(config: TrainConfig, images_seen: int) -> float:
    """Per-step EMA decay β for a half-life in images: β = 0.5 ** (batch / half-life)."""
    halflife = config.ema_halflife_images
    if config.ema_rampup > 0:
        halflife = min(halflife, images_seen * config.ema_rampup)
    return 0.5 ** (config.batch_size / max(halflife, 1e-8))


class _Loop:
    """The optimisation loop and what it writes; one instance per process."""

    def __init__(
        self,
        config,
        accelerator,
        network,
        ema,
        optimizer,
        images,
        val_images,
        table,
        normalizer,
        out,
        state,
    ) -> None:
        self.config, self.accelerator = config, accelerator
        self.network, self.ema, self.optimizer = network, ema, optimizer
        self.images, self.val_images, self.table = images, val_images, table
        self.normalizer, self.out, self.state = normalizer, out, state
        self.alpha_bar64 = config.model.alpha_bar()
        self.alpha_bar = self.alpha_bar64.to(accelerator.device, torch.float32)
        self.per_rank = config.batch_size // accelerator.num_processes
        self.amp_dtype = autocast_dtype(config.precision, accelerator.device)
        # fp16 needs loss scaling; bf16 has fp32's range and does not
        self.scaler = torch.amp.GradScaler(enabled=self.amp_dtype == torch.float16)

    def run(self, progress: bool, on_step) -> None:
        from tqdm.auto import tqdm

        config, acc, state = self.config, self.accelerator, self.state
        bar = tqdm(
            total=config.steps,
            initial=state.step,
            desc="training",
            unit="step",
            disable=not progress,
            dynamic_ncols=True,
        )
        losses: list[float] = []
        tic, images_at_tic = time.perf_counter(), state.images_seen
        while state.step < config.steps:
            losses.append(self.train_step())
            bar.update(1)
            if on_step is not None and on_step(state.step):
                state.stop_requested = True
            if state.step % config.log_every == 0 or state.step == config.steps:
                loss = acc.reduce(torch.tensor(np.mean(losses), device=acc.device), "mean").item()
                rate = (state.images_seen - images_at_tic) / (time.perf_counter() - tic)
                bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:.0f}")
                self.log_metrics(
                    loss=loss, lr=learning_rate(config, state.step - 1), images_per_s=rate
                )
                losses, tic, images_at_tic = [], time.perf_counter(), state.images_seen
            if self.stop_everywhere():
                bar.close()
                self.checkpoint()
                log.warning(
                    "stopped at step %d; checkpoint saved in %s (continue with --resume)",
                    state.step,
                    self.out / "model",
                )
                if state.interrupted:
                    raise KeyboardInterrupt
                return
            if state.step % config.sample_every == 0 or state.step == config.steps:
                self.evaluate()
            if state.step % config.checkpoint_every == 0 or state.step == config.steps:
                self.checkpoint(final=state.step == config.steps)
        bar.close()

    def train_step(self) -> float:
        config, acc, state = self.config, self.accelerator, self.state
        rng = _step_rng(config.seed, state.step, acc.process_index)
        x0, labels = self.images.sample(rng, self.per_rank, self.normalizer)
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, config.model.num_train_timesteps, (len(x0),), generator=gen)
        drop = torch.rand(len(x0), generator=gen) < config.condition_dropout
        labels = torch.where(drop, self.table.null_label, labels)
        x0, noise, t, labels = (v.to(acc.device) for v in (x0, noise, t, labels))
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise  # q(x_t | x_0)
        if config.model.prediction == "epsilon":
            target = noise
        else:  # v = √ᾱ ε − √(1−ᾱ) x0 (Salimans & Ho 2022)
            target = ab.sqrt() * noise - (1 - ab).sqrt() * x0
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(config, state.step)
        with torch.autocast(acc.device.type, self.amp_dtype, enabled=self.amp_dtype is not None):
            out = self.network(x_t, t, labels)
        loss = torch.nn.functional.mse_loss(out.float(), target)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.images_seen += config.batch_size
        self.update_ema()
        return loss.item()

    @torch.no_grad()
    def update_ema(self) -> None:
        beta = ema_decay(self.config, self.state.images_seen)
        online = self.accelerator.unwrap_model(self.network)
        for e, p in zip(self.ema.parameters(), online.parameters(), strict=True):
            e.lerp_(p.detach().float(), 1 - beta)

    def stop_everywhere(self) -> bool:
        """True on every rank as soon as any rank was asked to stop (Ctrl-C hits them apart)."""
        flag = self.state.stop_requested
        if self.accelerator.num_processes > 1:
            t = torch.tensor([float(flag)], device=self.accelerator.device)
            flag = bool(self.accelerator.reduce(t, "sum").item() > 0)
        return flag

    def log_metrics(self, **values: float) -> None:
        if self.accelerator.is_main_process:
            row = {"step": self.state.step, "images_seen": self.state.images_seen, **values}
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    @torch.no_grad()
    def evaluate(self) -> None:
        """Validation loss of the EMA weights and a sample grid (main process only)."""
        if not self.accelerator.is_main_process:
            return
        from phendiff.diffusion.ddim import generate
        from phendiff.diffusion.schedule import timestep_grid
        from phendiff.preview import save_grid

        device = self.accelerator.device
        values: dict[str, float] = {}
        if self.val_images is not None:
            values["val_loss"] = self.validation_loss()
        m = self.config.model
        n_col = 4
        gen = torch.Generator().manual_seed(self.config.seed)
        # the same noise in every row, so rows differ only by their condition
        noise = torch.randn((n_col, m.in_channels, m.image_size, m.image_size), generator=gen)
        noise = noise.repeat(len(self.table), 1, 1, 1).to(device)
        labels = torch.arange(len(self.table)).repeat_interleave(n_col).to(device)
        grid = timestep_grid(self.config.sample_steps, m.num_train_timesteps)
        samples = (
            generate(self.ema, noise, labels, grid, self.alpha_bar64.to(device), m.prediction)
            .cpu()
            .numpy()
        )
        rows = [list(samples[i * n_col : (i + 1) * n_col]) for i in range(len(self.table))]
        save_grid(
            self.out / "samples" / f"step_{self.state.step:07d}.png",
            rows,
            m.channel_names,
            row_labels=self.table.names,
        )
        if values:
            self.log_metrics(**values)

    def validation_loss(self) -> float:
        rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, 2**31]))
        x0, labels = self.val_images.sample(rng, 64, self.normalizer)
        gen = torch.Generator().manual_seed(self.config.seed)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, self.config.model.num_train_timesteps, (len(x0),), generator=gen)
        ab = self.alpha_bar.cpu()[t].view(-1, 1, 1, 1)
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        target = (
            noise
            if self.config.model.prediction == "epsilon"
            else (ab.sqrt() * noise - (1 - ab).sqrt() * x0)
        )
        device = self.accelerator.device
        out = self.ema(x_t.to(device), t.to(device), labels.to(device)).float().cpu()
        return torch.nn.functional.mse_loss(out, target).item()

    def checkpoint(self, final: bool = False) -> None:
        acc = self.accelerator
        digests = None
        if final:  # every rank must hold the same weights; check it rather than assume it
            digests = acc.gather(_digest(acc.unwrap_model(self.network)).to(acc.device)).tolist()
        if acc.is_main_process:
            online = acc.unwrap_model(self.network)
            training = {
                "steps": self.state.step,
                "images_seen": self.state.images_seen,
                "processes": acc.num_processes,
            }
            if digests is not None:
                training["rank_digests"] = [f"{d & (2**64 - 1):016x}" for d in digests]

            def write_training_state(folder: Path) -> None:
                _save_training_state(folder / TRAINING, online, self.optimizer, training)

            save_model(
                self.out / "model",
                self.ema.state_dict(),
                self.config.model,
                self.table,
                self.normalizer,
                training,
                extra=write_training_state,
            )
            if digests is not None and len(set(digests)) > 1:
                raise PhendiffError(
                    f"processes ended with different weights ({digests}); the "
                    "distributed setup is broken — report this as a bug"
                )
        acc.wait_for_everyone()


def _digest(module: torch.nn.Module) -> torch.Tensor:
    """A 64-bit fingerprint of the weights as an int64 tensor (gatherable)."""
    h = hashlib.sha256()
    for name, p in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    return torch.tensor([int.from_bytes(h.digest()[:8], "little", signed=True)])


def _save_training_state(folder: Path, online: torch.nn.Module, optimizer, training: dict) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in online.state_dict().items()},
        folder / "online.safetensors",
    )
    names = {id(p): n for n, p in online.named_parameters()}
    tensors: dict[str, torch.Tensor] = {}
    for p, s in optimizer.state.items():
        for key, value in s.items():
            tensors[f"{names[id(p)]}::{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    save_file(tensors, folder / "optimizer.safetensors")
    (folder / "state.json").write_text(json.dumps(training, indent=2) + "\n")


def _load_checkpoint(
    folder: Path, network, ema, optimizer, state: _State, table: ConditionTable
) -> Normalizer:
    from safetensors.torch import load_file

    model = load_model(folder)
    if model.conditions != table:
        raise PhendiffError(
            f"--resume: the checkpoint's conditions ({', '.join(model.conditions.names)}) "
            f"differ from the data's ({', '.join(table.names)})"
        )
    ema.load_state_dict(model.network.state_dict())
    network.load_state_dict(load_file(folder / TRAINING / "online.safetensors"))
    saved = load_file(folder / TRAINING / "optimizer.safetensors")
    opt_state = optimizer.state_dict()
    index = {n: i for i, (n, _) in enumerate(network.named_parameters())}
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in saved.items():
        name, field = key.split("::")
        per_param.setdefault(index[name], {})[field] = value
    opt_state["state"] = per_param
    optimizer.load_state_dict(opt_state)
    info = json.loads((folder / TRAINING / "state.json").read_text())
    state.step, state.images_seen = int(info["steps"]), int(info["images_seen"])
    return model.normalizer


def _trim_metrics(path: Path, step: int) -> None:
    """Drop log rows past the checkpoint being resumed (they will be recomputed)."""
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
    _write_text_atomic(path, "".join(r + "\n" for r in rows))


@contextlib.contextmanager
def _sigint_requests_stop(state: _State):
    """First Ctrl-C: finish the current step, checkpoint and stop. Second: stop at once."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        state.stop_requested = state.interrupted = True
        signal.signal(signal.SIGINT, previous)
        log.warning("Ctrl-C: saving a checkpoint after this step (press again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

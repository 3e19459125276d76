"""Training one class-conditional diffusion model over all conditions of a screen.

The same function runs on a CPU, one GPU, or many GPUs/nodes under ``accelerate launch``:
the batch is global (``batch_size`` images per optimizer step, split over processes), the
random draws, learning rate and EMA decay are pure functions of the step (so a resumed run
is identical to an uninterrupted one), and EMA weights are kept apart from the online
weights, saved in the model folder, and used for samples and export.

- ``run_folder.py``  RUN/config.yaml, the resume state, metrics.jsonl;
- ``data.py``        records, validation split, channel names, condition table;
- ``step.py``        one optimizer step (:class:`TrainStep`), learning rate, EMA decay;
- ``checkpoints.py`` numbered checkpoints, RUN/model, finding the newest complete one;
- ``loop.py``        the loop: logging, samples, validation loss, checkpoints, signals.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import torch

from phendiff.config import TrainConfig
from phendiff.data.normalize import Normalizer
from phendiff.errors import PhendiffError
from phendiff.model.unet import ConditionalUNet, count_parameters
from phendiff.train.checkpoints import recover
from phendiff.train.data import load_data
from phendiff.train.loop import State, Stopped, TrainingLoop, signals_request_stop
from phendiff.train.run_folder import (
    RUN_CONFIG,
    TRAINING,
    check_run_folder,
    load_checkpoint,
    read_run_config,
    resume_config,
    trim_metrics,
    write_run_config,
)
from phendiff.train.step import TrainStep, autocast_dtype, ema_decay, learning_rate

__all__ = [
    "RUN_CONFIG",
    "Stopped",
    "TrainStep",
    "autocast_dtype",
    "ema_decay",
    "learning_rate",
    "read_run_config",
    "resume_config",
    "train",
]

log = logging.getLogger(__name__)


def train(
    data: str | Path,
    out: str | Path,
    config: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int], bool | None] | None = None,
    device: str | None = None,
) -> Path:
    """Train (or resume) a model on the screen at ``data``.

    Checkpoints go to ``out/checkpoints/step_NNNNNNN`` (the newest
    ``config.keep_checkpoints`` are kept) and the newest is also ``out/model``.

    Parameters
    ----------
    data : str or path-like
        The screen: a folder per condition, a manifest, or BBBC021's image table.
    out : str or path-like
        The run folder; new (or empty) unless ``resume``.
    config : TrainConfig
        The run's options (for ``resume``, the saved ones; see :func:`resume_config`).
    resume : bool, default False
        Continue from the newest complete checkpoint in ``out`` (numbered, ``model/``, or
        what a kill in the middle of a checkpoint left), after cleaning leftovers. A run that
        made progress but holds no complete checkpoint is refused, never restarted.
    progress : bool, default True
        Show progress bars.
    on_step : callable, optional
        ``on_step(step)`` after every optimizer step; returning True stops the run as Ctrl-C
        does (checkpoint), but returns instead of raising.
    device : {"cpu", "cuda"}, optional
        ``"cpu"`` trains on the CPU even on a GPU machine; default: the GPU when there is one
        (``accelerate launch`` places multi-GPU processes).

    Returns
    -------
    pathlib.Path
        ``out/model``, the newest model folder.

    Raises
    ------
    PhendiffError
        Bad input or a run folder that does not fit, before anything is written.
    Stopped
        After Ctrl-C (SIGINT) or SIGTERM, once the checkpoint is saved; ``signum`` says which
        (the CLI exits with 128 + signum).
    """
    from accelerate import Accelerator

    out = Path(out)
    data = Path(data)
    check_run_folder(out, data, config, resume)
    # mixed precision is ours (autocast_dtype): accelerate's is a process-wide singleton that
    # cannot change between two runs in one Python session
    # cpu=True without CUDA lets torchrun-style launches (``accelerate launch --multi_gpu``)
    # form a gloo process group of CPU workers
    # device "cpu" keeps a machine's GPUs out of it; None or "cuda": the GPU when there is one
    cpu = device == "cpu" or not torch.cuda.is_available()
    accelerator = Accelerator(mixed_precision="no", cpu=cpu)
    main = accelerator.is_main_process
    autocast_dtype(config.precision, accelerator.device)  # refused here, before any file
    if config.batch_size % accelerator.num_processes:
        raise PhendiffError(
            f"batch_size={config.batch_size} is not divisible by {accelerator.num_processes} "
            "processes; choose a multiple of the number of processes"
        )

    if main and config.warmup_steps >= config.steps:
        log.warning(
            "warmup_steps=%d >= steps=%d: the learning rate never leaves its warm-up ramp "
            "(it ends at %.0f%% of its peak, and the cosine decay never starts); pass "
            "--warmup-steps below --steps, e.g. %d",
            config.warmup_steps, config.steps, 100 * config.steps / max(1, config.warmup_steps),
            max(0, config.steps // 10),
        )  # fmt: skip
    images, val_images, table, channels = load_data(data, config, progress and main)
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
    state = State()
    normalizer: Normalizer
    if resume:
        if main:
            recover(out, config.keep_checkpoints)
        accelerator.wait_for_everyone()  # the main process restores RUN/model first
    if resume and (out / "model" / TRAINING / "state.json").exists():
        normalizer, state.step, state.images_seen = load_checkpoint(
            out / "model", network, ema, optimizer, table
        )
    else:
        normalizer = Normalizer.fit(images.images, percentiles=config.percentiles, seed=config.seed)
    if main:
        write_run_config(out, data, config)
        trim_metrics(out / "metrics.jsonl", state.step)
        log.info(
            "training %s (%d parameters) on %d images, %d conditions, %d process(es)",
            model_config.preset,
            count_parameters(network),
            len(images),
            len(table),
            accelerator.num_processes,
        )
    network, optimizer = accelerator.prepare(network, optimizer)

    loop = TrainingLoop(
        config, accelerator, network, ema, optimizer, images, val_images, table, normalizer, out,
        state, data=data,
    )  # fmt: skip
    with signals_request_stop(state):
        loop.run(progress and main, on_step)
    return out / "model"

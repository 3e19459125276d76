"""``phendiff train``: train one model over all conditions of a screen (or resume a run)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from phendiff.cli.defaults import add_device, add_option, device_from, with_default
from phendiff.config import (
    CROPS,
    LOSS_WEIGHTINGS,
    PREDICTIONS,
    PRESETS,
    SCHEDULES,
    TRAIN_PRECISIONS,
    ModelConfig,
    TrainConfig,
)
from phendiff.errors import PhendiffError

log = logging.getLogger("phendiff")

MODEL_OPTIONS = ("image_size", "prediction", "schedule", "zero_terminal_snr")
TRAIN_OPTIONS = (
    "steps",
    "batch_size",
    "learning_rate",
    "warmup_steps",
    "precision",
    "ema_halflife_images",
    "condition_dropout",
    "loss_weighting",
    "min_snr_gamma",
    "edm_p_mean",
    "edm_p_std",
    "seed",
    "compounds",
    "control",
    "channel_axis",
    "channel_names",
    "crop",
    "augment",
    "val_fraction",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
    "sample_every",
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add ``train`` to the subcommands ``sub``.

    Every option defaults to None ("not given"), so that a ``--config`` file or a resumed
    run supplies it; ``--help`` shows the value a run gets when nobody gives it.
    """
    p = sub.add_parser(
        "train",
        epilog="example: phendiff train screen --out run --model tiny --steps 4000 (resume: "
        "add --resume)",
        parents=[common],
        help="train a model on a screen",
        description="Train one class-conditional diffusion model over all "
        "conditions of DATA. Runs as is on a CPU or one GPU, and under "
        "'accelerate launch' on several GPUs or nodes.",
    )
    p.add_argument(
        "data",
        type=Path,
        metavar="DATA",
        help="folder per condition, a folder with manifest.csv, a manifest CSV, or "
        "BBBC021_v1_image.csv",
    )
    p.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN")
    _model_group(p.add_argument_group("model"))
    _optimisation_group(p.add_argument_group("optimisation"))
    _data_group(p.add_argument_group("data"))
    g = p.add_argument_group("outputs")
    g.add_argument(
        "--config", type=Path, metavar="YAML", help="options from a YAML file (flags override it)"
    )
    for name, what in (
        ("log_every", "steps between rows of metrics.jsonl"),
        ("checkpoint_every", "steps between checkpoints"),
        ("keep_checkpoints", "numbered checkpoints kept in RUN/checkpoints (the newest)"),
        ("sample_every", "steps between sample grids and validation losses"),
    ):
        flag = "--" + name.replace("_", "-")
        add_option(g, flag, TrainConfig, name, what, given_only=True, type=int, metavar="N")
    p.set_defaults(func=run)


def _model_group(g) -> None:
    sizes = ", ".join(f"{k} {v['image_size']}" for k, v in PRESETS.items())
    g.add_argument(
        "--model", choices=list(PRESETS), help=with_default("preset", ModelConfig, "preset")
    )
    g.add_argument(
        "--image-size", type=int, metavar="PX", help=f"crop side (default: the preset's: {sizes})"
    )
    add_option(g, "--prediction", ModelConfig, "prediction", "what the network predicts",
               given_only=True, choices=PREDICTIONS)  # fmt: skip
    add_option(g, "--schedule", ModelConfig, "schedule", "noise schedule", given_only=True,
               choices=SCHEDULES)  # fmt: skip
    g.add_argument(
        "--zero-terminal-snr",
        action=argparse.BooleanOptionalAction,
        help="schedule rescaled to pure noise at its last step (Lin et al. 2024; default on, "
        "with v-prediction; off by default with --prediction epsilon)",
    )
    g.add_argument(
        "--channel-names",
        metavar="A,B,C",
        help="one name per channel, e.g. DNA,tubulin,actin (default: from the files' "
        "metadata, else ch0,ch1,...)",
    )


OPTIMISATION = (  # flag, TrainConfig field, type, metavar, what it is
    ("--steps", "steps", int, "N", "optimizer steps"),
    ("--batch-size", "batch_size", int, "B", "global batch, split over processes"),
    ("--lr", "learning_rate", float, "LR", "peak learning rate (AdamW)"),
    ("--warmup-steps", "warmup_steps", int, "N", "linear warm-up, then cosine decay"),
    ("--ema-halflife", "ema_halflife_images", float, "IMAGES", "EMA half-life in images"),
    ("--condition-dropout", "condition_dropout", float, "P", "null-label probability (guidance)"),
    ("--min-snr-gamma", "min_snr_gamma", float, "G", "γ of --loss-weighting min_snr"),
    ("--edm-p-mean", "edm_p_mean", float, "M", "mean of ln σ under --loss-weighting edm"),
    ("--edm-p-std", "edm_p_std", float, "S", "standard deviation of ln σ under edm"),
    ("--seed", "seed", int, "S", "random seed"),
)


def _optimisation_group(g) -> None:
    for flag, name, kind, metavar, what in OPTIMISATION:
        add_option(g, flag, TrainConfig, name, what, given_only=True, type=kind, metavar=metavar)
    add_option(g, "--loss-weighting", TrainConfig, "loss_weighting", "noise levels the loss "
               "draws and weighs: uniform t and plain MSE; min-SNR-γ; or EDM's log-normal σ "
               "(val_loss stays the uniform MSE, comparable across them)", given_only=True,
               choices=LOSS_WEIGHTINGS)  # fmt: skip
    add_device(g)
    add_option(g, "--precision", TrainConfig, "precision", "autocast; auto: bf16, or fp16 on "
               "GPUs without bf16", given_only=True, choices=TRAIN_PRECISIONS)  # fmt: skip


def _data_group(g) -> None:
    g.add_argument(
        "--compounds",
        metavar="A,B",
        help="keep only these compounds (and the control if listed), e.g. DMSO,nocodazole "
        "(default: all)",
    )
    g.add_argument(
        "--control",
        metavar="NAME",
        help="the untreated condition the others are compared with, saved with the model and "
        "used by translate and evaluate: a condition without a dose, e.g. untreated, mock or "
        "PBS (default: DMSO)",
    )
    g.add_argument(
        "--channel-axis",
        type=int,
        metavar="AXIS",
        help="channel axis of 3-D TIFFs (default 0: files are (C, Y, X))",
    )
    add_option(g, "--crop", TrainConfig, "crop", "random crops of the image size, or resize "
               "whole fields", given_only=True, choices=CROPS)  # fmt: skip
    g.add_argument(
        "--no-augment",
        dest="augment",
        action="store_const",
        const=False,
        help="no flips / 90° rotations",
    )
    add_option(g, "--val-fraction", TrainConfig, "val_fraction", "share of images held out",
               given_only=True, type=float, metavar="F")  # fmt: skip


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options given on the command line, as TrainConfig fields."""
    split = {"compounds", "channel_names"}
    given = {
        k: getattr(args, k)
        for k in (*MODEL_OPTIONS, *TRAIN_OPTIONS)
        if getattr(args, k, None) is not None
    }
    for key in split & set(given):
        given[key] = tuple(s.strip() for s in given[key].split(",") if s.strip())
    overrides: dict[str, Any] = {k: v for k, v in given.items() if k in TRAIN_OPTIONS}
    model = {k: v for k, v in given.items() if k in MODEL_OPTIONS}
    if model:
        overrides["model"] = model
    return overrides


def build_train_config(args: argparse.Namespace) -> TrainConfig:
    """The run configuration: defaults < ``--config`` < ``--model`` preset < flags (or resumed)."""
    from phendiff.config import from_dict, load_config, to_dict
    from phendiff.train import resume_config

    overrides = train_overrides(args)
    if args.resume:
        if args.model is not None or args.config is not None:
            raise PhendiffError(
                "--resume continues a run with its saved options; drop --model "
                "and --config (only --steps and logging options may change)"
            )
        return resume_config(args.out, overrides)
    base = load_config(args.config) if args.config else TrainConfig()
    data = to_dict(base)
    if args.model is not None:
        data["model"] = to_dict(ModelConfig.from_preset(args.model))
    model = overrides.pop("model", {})
    if "prediction" in model and "zero_terminal_snr" not in model:
        model["zero_terminal_snr"] = None  # follows the prediction (ModelConfig)
    data["model"].update(model)
    data.update(overrides)
    return from_dict(TrainConfig, data, "command-line options")


def run(args: argparse.Namespace) -> None:
    """Train (or resume) and say where the model is."""
    from phendiff.train import train

    device = device_from(args.device)
    if device.startswith("cuda:"):
        raise PhendiffError(
            f"--device {device}: training places its processes itself; pick the GPU with "
            f"CUDA_VISIBLE_DEVICES={device.split(':')[1]} and --device cuda"
        )
    config = build_train_config(args)
    model = train(args.data, args.out, config, resume=args.resume, progress=not args.quiet,
                  device=device)  # fmt: skip
    log.info("model written to %s", model)

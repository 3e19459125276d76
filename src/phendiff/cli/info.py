"""``phendiff info``: describe a model folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add ``info`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "info", parents=[common], help="describe a model folder",
        epilog="example: phendiff info run   (conditions, channels, training, normalisation)",
    )  # fmt: skip
    p.add_argument("model", type=Path, metavar="MODEL", help="model folder or training run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Print the description."""
    print(describe_model(args.model))


def describe_model(path: Path) -> str:
    """Architecture, channels with their intensity range, training and conditions of a model."""
    from phendiff.model.checkpoint import load_model
    from phendiff.model.unet import count_parameters

    model = load_model(path)
    c, train = model.config, model.training
    norm = model.normalizer
    lines = [
        f"model        {model.path}",
        f"architecture {c.preset}: {count_parameters(model.network):,} parameters, "
        f"{c.prediction} prediction, {c.schedule} schedule, T={c.num_train_timesteps}",
        f"image size   {c.image_size} x {c.image_size} px",
        f"channels     {c.in_channels}: "
        + ", ".join(
            f"{n} [{lo:g}..{hi:g}]"
            for n, lo, hi in zip(c.channel_names, norm.low, norm.high, strict=True)
        ),
        f"trained      {train.get('steps', '?')} steps, "
        f"{train.get('images_seen', '?')} images seen",
        f"conditions   {len(model.conditions)} (label: name)",
    ]
    lines += [f"  {i:3d}: {cond.name}" for i, cond in enumerate(model.conditions)]
    lines.append(f"  {model.conditions.null_label:3d}: (no condition, for guidance)")
    return "\n".join(lines)

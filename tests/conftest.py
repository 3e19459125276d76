"""Shared fixtures: a small synthetic screen and a model small enough for CPU tests."""

from __future__ import annotations

import dataclasses

import pytest

from phendiff.config import ModelConfig, TrainConfig


def micro_model(**overrides) -> ModelConfig:
    """A ~40k-parameter UNet at 16 px: seconds per hundred steps on a CPU."""
    base = dict(
        image_size=16, block_out_channels=(16, 32), layers_per_block=1, attention_levels=(1,)
    )
    return ModelConfig(preset="tiny", **{**base, **overrides})


def micro_config(**overrides) -> TrainConfig:
    base = dict(
        model=micro_model(),
        steps=6,
        batch_size=4,
        warmup_steps=2,
        precision="fp32",
        log_every=1,
        checkpoint_every=100,
        sample_every=100,
        sample_steps=3,
        ema_halflife_images=20,
    )
    return dataclasses.replace(TrainConfig(), **{**base, **overrides})


@pytest.fixture(scope="session")
def screen(tmp_path_factory):
    """A synthetic screen with 4 fields per condition at 32 px (read-only: copy to modify)."""
    from phendiff.data.synthetic import generate_screen

    return generate_screen(
        tmp_path_factory.mktemp("screen") / "screen",
        per_condition=4,
        size=32,
        seed=1,
        progress=False,
    )


@pytest.fixture(scope="session")
def micro_model_dir(screen, tmp_path_factory):
    """A random-initialised micro model over the synthetic screen's conditions, on disk."""
    import torch

    from phendiff.conditions import ConditionTable
    from phendiff.data.normalize import Normalizer
    from phendiff.data.sources import load_source
    from phendiff.model.checkpoint import save_model
    from phendiff.model.unet import ConditionalUNet

    records = load_source(screen)
    table = ConditionTable.from_conditions(r.condition for r in records)
    normalizer = Normalizer.fit([r.load() for r in records])
    config = micro_model(channel_names=("DNA", "tubulin", "actin"))
    torch.manual_seed(0)
    net = ConditionalUNet(config, len(table))
    return save_model(
        tmp_path_factory.mktemp("model") / "micro",
        net.state_dict(),
        config,
        table,
        normalizer,
        {"steps": 0},
    )

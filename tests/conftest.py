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

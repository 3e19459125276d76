"""Options of ``phendiff baseline train``: one frozen dataclass for the three methods.

Each method's published optimiser settings are its defaults (``learning_rate`` and
``adam_betas`` of None resolve per method, see :data:`METHOD_DEFAULTS`); ``preset`` sets the
widths: ``cpu`` trains on a laptop, ``paper`` is the papers' width (64 channels in the image
translators' first layer, 512-dimensional StyleGAN latents, an 8-layer mapping network).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from phendiff.config import CROPS, ModelConfig, TrainConfig
from phendiff.config_checks import check_fields
from phendiff.errors import PhendiffError

METHODS = ("stargan", "cyclegan", "phenex")
LATENTS = ("w", "w+")
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"width": 32, "blocks": 6, "z_dim": 128, "mapping_layers": 4},
    "paper": {"width": 64, "blocks": 6, "z_dim": 512, "mapping_layers": 8},
}
# the papers' optimisers: StarGAN and CycleGAN Adam(1e-4 / 2e-4, β = (0.5, 0.999)) with a
# linear decay to 0 over the second half; StyleGAN2 Adam(2.5e-3, β = (0, 0.99)), constant
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "stargan": {"learning_rate": 1e-4, "adam_betas": (0.5, 0.999), "decay": True},
    "cyclegan": {"learning_rate": 2e-4, "adam_betas": (0.5, 0.999), "decay": True},
    "phenex": {"learning_rate": 2.5e-3, "adam_betas": (0.0, 0.99), "decay": False},
}


@dataclass(frozen=True)
class BaselineConfig:
    """Everything that determines a baseline's training run (written to ``RUN/baseline.yaml``).

    Attributes
    ----------
    method : "stargan", "cyclegan" (one model per control ↔ condition pair) or "phenex"
        (a class-conditional StyleGAN2).
    preset : "cpu" or "paper": the widths below, unless given.
    image_size : crop side in px (a power of 2 for stargan and phenex).
    width, blocks : the image translators' first-layer channels and residual blocks; the
        StyleGAN's channels at 64 px.
    z_dim, mapping_layers : StyleGAN latent size (z and w) and mapping depth.
    steps : optimizer steps of the critic (stargan, phenex) or of every pair (cyclegan).
    batch_size : global, split evenly over processes.
    n_critic : critic steps per generator step (StarGAN: 5).
    lambda_cls, lambda_rec, lambda_gp : StarGAN's loss weights (1, 10, 10).
    lambda_cycle, lambda_identity : CycleGAN's (10 and 0.5 × 10).
    r1_gamma : StyleGAN2's R1 weight γ.
    ema_halflife_images : the StyleGAN generator's EMA half-life (StyleGAN2: 10k images).
    class_mean_samples : latents per condition that estimate mean(w | condition) (PhenEx).
    """

    method: str = "stargan"
    preset: str = "cpu"
    image_size: int = 64
    width: int | None = None
    blocks: int | None = None
    z_dim: int | None = None
    mapping_layers: int | None = None
    steps: int = 2000
    batch_size: int = 16
    learning_rate: float | None = None
    adam_betas: tuple[float, float] | None = None
    n_critic: int = 5
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    r1_gamma: float = 0.05
    ema_halflife_images: float = 10_000.0
    class_mean_samples: int = 2048
    crop: str = "random"
    augment: bool = True
    percentiles: tuple[float, float] = (0.1, 99.9)
    channel_axis: int | None = None
    channel_names: tuple[str, ...] | None = None
    compounds: tuple[str, ...] | None = None
    control: str | None = None
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        check_fields(self)
        if self.method not in METHODS:
            raise PhendiffError(f"method={self.method!r}; expected one of {', '.join(METHODS)}")
        if self.preset not in PRESETS:
            raise PhendiffError(f"preset={self.preset!r}; expected one of {', '.join(PRESETS)}")
        if self.crop not in CROPS:
            raise PhendiffError(f"crop={self.crop!r}; expected 'random' or 'resize'")
        power = self.image_size & (self.image_size - 1) == 0
        if self.method != "cyclegan" and not power:
            raise PhendiffError(
                f"image_size={self.image_size}; {self.method} needs a power of 2 (e.g. 64)"
            )
        if self.image_size % 4:
            raise PhendiffError(f"image_size={self.image_size}; expected a multiple of 4")
        low, high = self.percentiles
        if not low < high:
            raise PhendiffError(f"percentiles={self.percentiles}; expected low < high")

    def resolved(self) -> BaselineConfig:
        """The configuration with every None replaced by its preset's or method's value."""
        filled = {k: v for k, v in PRESETS[self.preset].items() if getattr(self, k) is None}
        for k in ("learning_rate", "adam_betas"):
            if getattr(self, k) is None:
                filled[k] = METHOD_DEFAULTS[self.method][k]
        return dataclasses.replace(self, **filled)

    def learning_rate_at(self, step: int) -> float:
        """The learning rate of ``step``: constant, then (stargan, cyclegan) a linear decay to
        0 over the second half of ``steps``."""
        lr = self.learning_rate if self.learning_rate is not None else 0.0
        if not METHOD_DEFAULTS[self.method]["decay"]:
            return lr
        return lr * min(1.0, 2.0 * (1.0 - step / self.steps))

    def data_config(self) -> TrainConfig:
        """The :class:`~phendiff.config.TrainConfig` that loads this run's images (no split
        for validation: the baselines' papers train on everything)."""
        size = self.image_size
        model = ModelConfig(image_size=size, block_out_channels=(32,), attention_levels=())
        return TrainConfig(
            model=model, val_fraction=0.0, crop=self.crop, augment=self.augment,
            percentiles=self.percentiles, channel_axis=self.channel_axis,
            channel_names=self.channel_names, compounds=self.compounds, control=self.control,
            seed=self.seed, batch_size=self.batch_size,
        )  # fmt: skip


# options that may change when a run is resumed: they do not change what a step computes
RESUMABLE = {"steps", "log_every", "checkpoint_every"}

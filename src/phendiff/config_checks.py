"""Strict types and ranges for the option dataclasses of :mod:`phendiff.config`.

One mechanism for every field: its annotation says its type (an integer is an integer: 2.5,
``"3"`` and ``True`` are not; a float accepts an integer; NaN and infinity are never a
number a user meant), and :data:`RANGES` says which values make sense. Relations between
fields (``image_size`` divisible by the UNet's halvings, ...) stay in each class's
``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from phendiff.errors import PhendiffError


@dataclass(frozen=True)
class Range:
    """Allowed values of a number (or of each number of a tuple): ``low ≤ x ≤ high``."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False  # low < x
    high_open: bool = False  # x < high

    def __contains__(self, x: float) -> bool:
        above = x > self.low if self.low_open else x >= self.low
        below = x < self.high if self.high_open else x <= self.high
        return above and below

    def describe(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low == -math.inf:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        low = "<" if self.low_open else "<="
        high = "<" if self.high_open else "<="
        return f"{self.low:g} {low} x {high} {self.high:g}"


POSITIVE = Range(0, low_open=True)
AT_LEAST_1 = Range(1)
NOT_NEGATIVE = Range(0)
FRACTION = Range(0, 1, high_open=True)  # a probability that must leave something

# per class, per field; a field that is missing here may take any finite value of its type
RANGES: dict[str, dict[str, Range]] = {
    "ModelConfig": {
        "image_size": Range(8),
        "block_out_channels": AT_LEAST_1,
        "layers_per_block": AT_LEAST_1,
        "attention_levels": NOT_NEGATIVE,
        "dropout": FRACTION,
        "num_train_timesteps": Range(2),
        "beta_start": Range(0, 1, True, True),
        "beta_end": Range(0, 1, True, True),
    },
    "TrainConfig": {
        "steps": AT_LEAST_1,
        "batch_size": AT_LEAST_1,
        "learning_rate": POSITIVE,
        "warmup_steps": NOT_NEGATIVE,
        "weight_decay": NOT_NEGATIVE,
        "adam_betas": FRACTION,
        "grad_clip": NOT_NEGATIVE,  # 0: no clipping
        "condition_dropout": FRACTION,
        "min_snr_gamma": POSITIVE,
        "edm_p_std": POSITIVE,
        "ema_halflife_images": POSITIVE,
        "ema_rampup": NOT_NEGATIVE,
        "val_fraction": FRACTION,
        "percentiles": Range(0, 100),
        "seed": NOT_NEGATIVE,
        "log_every": AT_LEAST_1,
        "checkpoint_every": AT_LEAST_1,
        "keep_checkpoints": AT_LEAST_1,
        "sample_every": AT_LEAST_1,
        "sample_steps": AT_LEAST_1,
    },
    "TranslateOptions": {
        "steps": AT_LEAST_1,
        "depth": Range(0, 1, low_open=True),
        "guidance_above": Range(0, 1, high_open=True),
        "batch_size": AT_LEAST_1,
        "network_batch": AT_LEAST_1,
        "clip": POSITIVE,
        "max_pixels": AT_LEAST_1,
        "residual_depth": Range(0, 1),
        "seed": NOT_NEGATIVE,
        "fixed_point": NOT_NEGATIVE,
    },
    "EvaluateOptions": {
        "kid_subsets": AT_LEAST_1,
        "kid_subset_size": Range(2),
        "alpha": Range(0, 1, True, True),
        "seed": NOT_NEGATIVE,
    },
    "BaselineConfig": {
        "image_size": Range(8),
        "width": AT_LEAST_1,
        "blocks": NOT_NEGATIVE,
        "z_dim": AT_LEAST_1,
        "mapping_layers": AT_LEAST_1,
        "steps": AT_LEAST_1,
        "batch_size": Range(2),
        "learning_rate": POSITIVE,
        "adam_betas": FRACTION,
        "n_critic": AT_LEAST_1,
        "lambda_cls": NOT_NEGATIVE,
        "lambda_rec": NOT_NEGATIVE,
        "lambda_gp": NOT_NEGATIVE,
        "lambda_cycle": NOT_NEGATIVE,
        "lambda_identity": NOT_NEGATIVE,
        "r1_gamma": NOT_NEGATIVE,
        "ema_halflife_images": POSITIVE,
        "class_mean_samples": AT_LEAST_1,
        "percentiles": Range(0, 100),
        "seed": NOT_NEGATIVE,
        "log_every": AT_LEAST_1,
        "checkpoint_every": AT_LEAST_1,
    },
    "SynthOptions": {"per_condition": AT_LEAST_1, "size": Range(32), "seed": NOT_NEGATIVE},
    "DemoOptions": {"images": AT_LEAST_1, "steps": AT_LEAST_1},
}


def check_fields(config: Any) -> None:
    """Check (and normalise) every field of the frozen dataclass ``config`` in place.

    Integers given for float fields become floats and lists become tuples; anything else of
    the wrong type, not finite, or outside :data:`RANGES` is a one-line
    :class:`~phendiff.errors.PhendiffError` naming the option, the value and what is expected.
    """
    cls = type(config)
    hints = typing.get_type_hints(cls)
    ranges = RANGES.get(cls.__name__, {})
    for f in dataclasses.fields(cls):
        value = getattr(config, f.name)
        checked = _typed(f.name, value, hints[f.name])
        allowed = ranges.get(f.name)
        if allowed is not None and checked is not None:
            for x in checked if isinstance(checked, tuple) else (checked,):
                if isinstance(x, (int, float)) and x not in allowed:
                    raise PhendiffError(
                        f"{f.name}={value!r}; expected {allowed.describe()}"
                        + (" for each value" if isinstance(checked, tuple) else "")
                    )
        if checked is not value:
            object.__setattr__(config, f.name, checked)


def _typed(name: str, value: Any, hint: Any) -> Any:
    """``value`` as an instance of ``hint`` (int → float, list → tuple), or an error."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _typed(name, value, inner)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, (tuple, list)):
            raise _wrong(name, value, f"a list of {_name(args[0])}s")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(name, v, args[0]) for v in value)
        if len(value) != len(args):
            raise _wrong(name, value, f"a list of {len(args)} {_name(args[0])}s")
        return tuple(_typed(name, v, a) for v, a in zip(value, args, strict=True))
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, hint):
            raise _wrong(name, value, f"a {hint.__name__}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise _wrong(name, value, "true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(name, value, "an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong(name, value, "a number")
        if not math.isfinite(value):
            raise _wrong(name, value, "a finite number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _wrong(name, value, "text")
        return value
    return value


def _name(hint: Any) -> str:
    names = {int: "integer", float: "number", str: "name"}
    return names.get(hint, getattr(hint, "__name__", "value"))


def _wrong(name: str, value: Any, expected: str) -> PhendiffError:
    return PhendiffError(f"{name}={value!r} ({type(value).__name__}); expected {expected}")

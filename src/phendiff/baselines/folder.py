"""Baseline model folders: self-describing like phendiff's, safetensors + JSON, never unpickled.

``RUN/model/`` holds

``model.safetensors``  what translation uses: the generator(s) (CycleGAN: both of every pair;
                       PhenEx: the EMA generator and ``w_mean``, mean(w | condition))
``config.json``        format tag ``phendiff-baseline``, the method's resolved
                       :class:`~phendiff.baselines.config.BaselineConfig`, the channel names,
                       the intensity normalisation, the control, the training progress and the
                       SHA-256 of ``model.safetensors`` (checked on load)
``conditions.json``    the label ↔ (compound, concentration) table
``training/``          every network and optimiser state and the step, for ``--resume``

The folder is built aside and swapped in, so a kill leaves the previous one or the new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from phendiff.baselines.config import BaselineConfig
from phendiff.conditions import ConditionTable
from phendiff.config import from_dict, to_dict
from phendiff.data.atomic import replace_folder
from phendiff.data.normalize import Normalizer
from phendiff.errors import PhendiffError
from phendiff.model.checkpoint import check_weights, file_sha256

FORMAT = "phendiff-baseline"
FORMAT_VERSION = 1
WEIGHTS, CONFIG, CONDITIONS, TRAINING = (
    "model.safetensors", "config.json", "conditions.json", "training",
)  # fmt: skip


@dataclass(frozen=True)
class ImageSpec:
    """What translate_files needs to know of a model's images."""

    image_size: int
    channel_names: tuple[str, ...]

    @property
    def in_channels(self) -> int:
        """Number of channels."""
        return len(self.channel_names)


@dataclass
class BaselineModel:
    """A loaded baseline: its configuration, conditions, normalisation and weights."""

    config: BaselineConfig
    images: ImageSpec
    conditions: ConditionTable
    normalizer: Normalizer
    weights: dict[str, torch.Tensor]
    training: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def method(self) -> str:
        """"stargan", "cyclegan" or "phenex"."""
        return self.config.method


def save_baseline(
    folder: Path,
    config: BaselineConfig,
    channel_names: tuple[str, ...],
    conditions: ConditionTable,
    normalizer: Normalizer,
    weights: dict[str, torch.Tensor],
    training: dict[str, Any],
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> Path:
    """Write the model folder (and its ``training/`` resume state) atomically."""
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in weights.items()}
        save_file(tensors, tmp / WEIGHTS, metadata={"format": FORMAT})
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "weights_sha256": file_sha256(tmp / WEIGHTS),
            "baseline": to_dict(config),
            "channel_names": list(channel_names),
            "normalization": normalizer.to_dict(),
            "training": training,
        }
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
        (tmp / CONDITIONS).write_text(json.dumps(conditions.to_json(), indent=2) + "\n")
        state = tmp / TRAINING
        state.mkdir()
        save_file(
            {f"{m}/{k}": v.detach().cpu().contiguous() for m, mod in modules.items()
             for k, v in mod.state_dict().items()},
            state / "modules.safetensors",
        )  # fmt: skip
        save_file(_optimizer_tensors(modules, optimizers), state / "optimizers.safetensors")
        (state / "state.json").write_text(json.dumps(training, indent=2) + "\n")

    return replace_folder(folder, write)


def _param_names(modules: dict[str, torch.nn.Module]) -> dict[int, str]:
    return {id(p): f"{m}/{n}" for m, mod in modules.items() for n, p in mod.named_parameters()}


def _optimizer_tensors(modules, optimizers) -> dict[str, torch.Tensor]:
    names = _param_names(modules)
    out = {}
    for o, opt in optimizers.items():
        for p, s in opt.state.items():
            for key, value in s.items():
                tensor = torch.as_tensor(value).detach().cpu().contiguous()
                out[f"{o}::{names[id(p)]}::{key}"] = tensor
    return out


def load_training_state(
    folder: Path, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer]
) -> dict[str, Any]:
    """Restore every network and optimiser of a run from ``folder/training`` in place;
    returns ``state.json`` (steps, images seen)."""
    from safetensors.torch import load_file

    state = folder / TRAINING
    saved = load_file(state / "modules.safetensors")
    for m, mod in modules.items():
        prefix = f"{m}/"
        mod.load_state_dict({k[len(prefix):]: v for k, v in saved.items() if k.startswith(prefix)})
    tensors = load_file(state / "optimizers.safetensors")
    names = _param_names(modules)
    for o, opt in optimizers.items():
        params = [p for g in opt.param_groups for p in g["params"]]
        index = {names[id(p)]: i for i, p in enumerate(params)}
        per_param: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            owner, name, what = key.split("::")
            if owner == o:
                per_param.setdefault(index[name], {})[what] = value
        opt_state = opt.state_dict()
        opt_state["state"] = per_param
        opt.load_state_dict(opt_state)
    return json.loads((state / "state.json").read_text())


def resolve_baseline_folder(path: str | Path) -> Path:
    """A baseline model folder, or a ``phendiff baseline train`` run holding one in ``model/``."""
    path = Path(path)
    if not (path / CONFIG).is_file() and (path / "model" / CONFIG).is_file():
        path = path / "model"
    missing = [n for n in (WEIGHTS, CONFIG, CONDITIONS) if not (path / n).is_file()]
    if missing:
        raise PhendiffError(
            f"{path}: not a baseline model folder (missing {', '.join(missing)}); expected "
            "the run folder of 'phendiff baseline train' (RUN or RUN/model)"
        )
    return path


def load_baseline(path: str | Path) -> BaselineModel:
    """Load a baseline model folder (or a run's ``model/``), its weights' SHA-256 checked.

    Raises
    ------
    PhendiffError
        A missing or foreign folder (a diffusion model's is named as such), a newer format,
        damaged weights.
    """
    from safetensors.torch import load_file

    folder = resolve_baseline_folder(path)
    try:
        meta = json.loads((folder / CONFIG).read_text())
        table = ConditionTable.from_json(json.loads((folder / CONDITIONS).read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PhendiffError(f"{folder}: not readable JSON ({exc}); the folder is corrupt") from None
    kind = meta.get("format") if isinstance(meta, dict) else None
    if kind != FORMAT:
        diffusion = kind == "phendiff-model"
        hint = "; it is a diffusion model: use 'phendiff translate'" if diffusion else ""
        raise PhendiffError(f"{folder / CONFIG}: format {kind!r}, expected {FORMAT!r}{hint}")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise PhendiffError(f"{folder}: written by a newer phendiff; upgrade phendiff to read it")
    check_weights(folder, meta)
    config = from_dict(BaselineConfig, meta["baseline"], str(folder / CONFIG))
    names = tuple(meta["channel_names"])
    return BaselineModel(
        config=config,
        images=ImageSpec(config.image_size, names),
        conditions=table,
        normalizer=Normalizer.from_dict(meta["normalization"]),
        weights=load_file(folder / WEIGHTS),
        training=meta.get("training", {}),
        path=folder,
    )

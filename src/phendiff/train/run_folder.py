"""The run folder of ``phendiff train``: its configuration, resume state and metrics log.

``RUN/config.yaml`` holds the resolved configuration and the data path;
``RUN/checkpoints/step_NNNNNNN/`` the newest checkpoints and ``RUN/model/`` the newest of
them (:mod:`phendiff.train.checkpoints`), each a model folder (:mod:`phendiff.model.checkpoint`)
with ``training/`` inside it: the online weights, the AdamW state and the step count that
``--resume`` continues from; ``RUN/metrics.jsonl`` one JSON row per logging interval.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from phendiff.conditions import ConditionTable
from phendiff.config import TrainConfig, dump_yaml, from_dict, to_dict
from phendiff.data.atomic import write_text
from phendiff.data.normalize import Normalizer
from phendiff.data.outputs import check_writable
from phendiff.errors import PhendiffError
from phendiff.model.checkpoint import load_model
from phendiff.train.checkpoints import describe_progress, newest_checkpoint

log = logging.getLogger(__name__)

RUN_CONFIG = "config.yaml"
TRAINING = "training"
# options that may change when a run is resumed: they do not change what a step computes
RESUMABLE = {
    "steps",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
    "sample_every",
    "sample_steps",
}


def check_run_folder(out: Path, data: Path, config: TrainConfig, resume: bool) -> None:
    """Refuse to mix runs: a used --out needs --resume, and --resume needs the same run.

    Runs before anything is written. Also refuses an ``out`` that is a file or cannot be
    written, and a ``--resume`` of a run that made progress (metrics, samples) but holds no
    complete checkpoint: such a run is never restarted from step 0.

    Parameters
    ----------
    out : pathlib.Path
        The run folder (``--out``).
    data : pathlib.Path
        The screen being trained on.
    config : TrainConfig
        The configuration of this invocation.
    resume : bool
        Whether ``--resume`` was given.

    Raises
    ------
    PhendiffError
        One line saying what ``out`` holds and what to do.
    """
    check_writable(out)
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
    progress = describe_progress(out)
    if progress is not None and newest_checkpoint(out) is None:
        raise PhendiffError(
            f"--resume: {out} holds {progress} but no complete checkpoint to continue from; "
            f"it is not restarted from step 0 — to start fresh, delete {out} or choose "
            "another --out"
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
    """The saved configuration of the run in ``out``.

    Parameters
    ----------
    out : str or path-like
        The run folder.

    Returns
    -------
    dict
        ``{"data": path, "train": TrainConfig as dict}``.

    Raises
    ------
    PhendiffError
        ``RUN/config.yaml`` is missing, unreadable or not a valid configuration.
    """
    import yaml

    path = Path(out) / RUN_CONFIG
    try:
        saved = yaml.safe_load(path.read_text())
        from_dict(TrainConfig, saved["train"], str(path))
        return saved
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise PhendiffError(f"{path}: not a readable phendiff run configuration ({exc})") from None


def resume_config(out: str | Path, overrides: dict[str, Any]) -> TrainConfig:
    """The configuration of the run in ``out``, with ``overrides`` applied (for --resume).

    Parameters
    ----------
    out : str or path-like
        The run folder.
    overrides : dict
        TrainConfig fields given on the command line; a ``"model"`` entry holds
        ModelConfig fields.

    Returns
    -------
    TrainConfig
        The saved configuration with the overrides (checked by :func:`check_run_folder`).
    """
    saved = read_run_config(out)["train"]
    model_overrides = overrides.pop("model", {})
    saved["model"].update(model_overrides)
    saved.update(overrides)
    return from_dict(TrainConfig, saved, f"{Path(out) / RUN_CONFIG}")


def write_run_config(out: Path, data: Path, config: TrainConfig) -> None:
    """Write ``out/config.yaml`` atomically: the data path and the resolved configuration.

    Parameters
    ----------
    out : pathlib.Path
        The run folder (created if needed).
    data : pathlib.Path
        The screen being trained on.
    config : TrainConfig
        The resolved configuration (channel names filled in).
    """
    from phendiff import __version__

    out.mkdir(parents=True, exist_ok=True)
    text = f"# written by phendiff {__version__}\n" + dump_yaml(
        {"data": str(data), "train": to_dict(config)}
    )
    write_text(out / RUN_CONFIG, text)


def save_training_state(folder: Path, online: torch.nn.Module, optimizer, training: dict) -> None:
    """Write the resume state into ``folder`` (new): online weights, AdamW state, step count.

    Parameters
    ----------
    folder : pathlib.Path
        ``training/`` inside a model folder being built (must not exist).
    online : torch.nn.Module
        The unwrapped online network.
    optimizer : torch.optim.Optimizer
        AdamW over ``online``'s parameters; its per-parameter state is stored by name.
    training : dict
        ``steps``, ``images_seen`` and ``processes``, written to ``state.json``.
    """
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


def load_checkpoint(
    folder: Path, network, ema, optimizer, table: ConditionTable
) -> tuple[Normalizer, int, int]:
    """Restore a run's weights and optimizer in place.

    Parameters
    ----------
    folder : pathlib.Path
        A complete checkpoint (the run's ``model/`` after :func:`~.checkpoints.recover`).
    network, ema : torch.nn.Module
        The online and EMA networks, filled in place.
    optimizer : torch.optim.Optimizer
        AdamW over ``network``'s parameters, filled in place.
    table : ConditionTable
        The data's conditions; the checkpoint's must be the same.

    Returns
    -------
    tuple of (Normalizer, int, int)
        The stored normalisation, the step and the images seen.
    """
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
    return model.normalizer, int(info["steps"]), int(info["images_seen"])


def trim_metrics(path: Path, step: int) -> None:
    """Drop log rows past the checkpoint being resumed (they will be recomputed).

    A torn last line (a kill in the middle of a write) is dropped with a warning; a damaged
    line before it is an error, since the log would lose rows silently.

    Parameters
    ----------
    path : pathlib.Path
        ``RUN/metrics.jsonl`` (nothing happens if it does not exist).
    step : int
        The step being resumed from; rows with a larger ``step`` are dropped.
    """
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            keep = row["step"] <= step
        except (json.JSONDecodeError, KeyError, TypeError):
            if number == len(lines):
                log.warning("%s: dropped a torn last line (%r)", path, line[:60])
                break
            raise PhendiffError(
                f"{path}, line {number}: not a metrics row ({line[:60]!r}); repair or delete "
                "the line, then resume again"
            ) from None
        if keep:
            rows.append(line)
    write_text(path, "".join(r + "\n" for r in rows))

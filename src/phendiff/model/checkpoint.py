"""Model folders: self-describing, safetensors + JSON, never unpickled.

A model folder holds

``model.safetensors``  the network weights (the EMA weights of a training run), float32
``config.json``        format tag, :class:`~phendiff.config.ModelConfig`, the intensity
                       normalisation, what training produced it (steps, images seen), and
                       the SHA-256 of ``model.safetensors``, checked on every load
``conditions.json``    the label ↔ (compound, concentration) table

and, inside a training run, ``training/`` with the state needed to resume (see
:mod:`phendiff.train`); loading a model ignores it. Folders are written to a temporary
sibling and swapped in, so a crash never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from phendiff.conditions import ConditionTable
from phendiff.config import ModelConfig, from_dict, to_dict
from phendiff.data.atomic import replace_folder
from phendiff.data.normalize import Normalizer
from phendiff.errors import PhendiffError
from phendiff.model.unet import ConditionalUNet

FORMAT = "phendiff-model"
FORMAT_VERSION = 1
WEIGHTS, CONFIG, CONDITIONS = "model.safetensors", "config.json", "conditions.json"


@dataclass
class PhendiffModel:
    """A loaded model: the network and everything needed to use it on real images."""

    network: ConditionalUNet
    config: ModelConfig
    conditions: ConditionTable
    normalizer: Normalizer
    training: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_model(
    folder: str | Path,
    state_dict: dict[str, torch.Tensor],
    config: ModelConfig,
    conditions: ConditionTable,
    normalizer: Normalizer,
    training: dict[str, Any] | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write a model folder atomically, recording the SHA-256 of its weights.

    Parameters
    ----------
    folder : str or path-like
        The model folder; an existing one is replaced (built aside, then swapped in).
    state_dict : dict of str to torch.Tensor
        The network's weights, stored as float32.
    config : ModelConfig
        The network's configuration.
    conditions : ConditionTable
        The label ↔ condition table.
    normalizer : Normalizer
        The intensity normalisation fitted on the training data.
    training : dict, optional
        What training produced the model (steps, images seen), stored in ``config.json``.
    extra : callable, optional
        ``extra(tmp)`` adds files to the folder being built (e.g. training state).

    Returns
    -------
    pathlib.Path
        ``folder``.
    """
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        tensors = {
            k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state_dict.items()
        }
        save_file(tensors, tmp / WEIGHTS, metadata={"format": FORMAT})
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "weights_sha256": file_sha256(tmp / WEIGHTS),
            "model": to_dict(config),
            "normalization": normalizer.to_dict(),
            "training": training or {},
        }
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
        (tmp / CONDITIONS).write_text(json.dumps(conditions.to_json(), indent=2) + "\n")
        if extra is not None:
            extra(tmp)

    return replace_folder(folder, write)


def resolve_model_folder(path: str | Path) -> Path:
    """A model folder, or a training run folder holding one in ``model/``."""
    path = Path(path)
    if not path.exists():
        raise PhendiffError(
            f"{path}: no such model folder; expected a folder written by "
            "'phendiff train' (RUN or RUN/model)"
        )
    if not (path / CONFIG).exists() and (path / "model" / CONFIG).exists():
        return path / "model"
    return path


def read_model_meta(path: str | Path) -> tuple[Path, dict[str, Any], ConditionTable]:
    """(folder, config.json contents, condition table) without loading weights."""
    folder = resolve_model_folder(path)
    missing = [n for n in (WEIGHTS, CONFIG, CONDITIONS) if not (folder / n).is_file()]
    if missing:
        raise PhendiffError(
            f"{folder}: not a phendiff model folder (missing {', '.join(missing)}); expected "
            f"{WEIGHTS}, {CONFIG} and {CONDITIONS} as written by 'phendiff train'"
        )
    meta = _read_json(folder / CONFIG)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PhendiffError(
            f"{folder / CONFIG}: not a phendiff model configuration (format "
            f"{meta.get('format') if isinstance(meta, dict) else None!r}, expected {FORMAT!r})"
        )
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise PhendiffError(
            f"{folder}: written by a newer phendiff (format {meta['format_version']}); "
            "upgrade phendiff to read it"
        )
    table = ConditionTable.from_json(_read_json(folder / CONDITIONS))
    return folder, meta, table


def load_model(path: str | Path, device: str | torch.device = "cpu") -> PhendiffModel:
    """Load a model folder (or a training run's ``model/``) onto ``device``, in eval mode.

    Parameters
    ----------
    path : str or path-like
        A model folder, or a run folder holding one in ``model/``.
    device : str or torch.device, default "cpu"
        Where the network goes.

    Returns
    -------
    PhendiffModel
        The network (eval mode, no gradients), its configuration, conditions and
        normalisation.

    Raises
    ------
    PhendiffError
        A missing or foreign folder, weights whose SHA-256 differs from the one recorded in
        ``config.json`` (damaged or changed), unreadable or non-finite weights, or weights of
        another architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder, meta, table = read_model_meta(path)
    where = str(folder / CONFIG)
    config = from_dict(ModelConfig, meta.get("model"), where)
    try:
        normalizer = Normalizer.from_dict(meta["normalization"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PhendiffError(
            f"{where}: normalization entry is missing or malformed ({exc})"
        ) from None
    if len(normalizer.low) != config.in_channels:
        raise PhendiffError(
            f"{where}: normalization has {len(normalizer.low)} channels but the "
            f"model has {config.in_channels}; the folder is inconsistent"
        )
    check_weights(folder, meta)
    try:
        state = load_file(folder / WEIGHTS)
    except (SafetensorError, OSError) as exc:
        raise PhendiffError(
            f"{folder / WEIGHTS}: cannot read weights ({exc}); the file is "
            "corrupt or not safetensors — re-export or retrain the model"
        ) from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if bad:
        raise PhendiffError(
            f"{folder / WEIGHTS}: non-finite weights (NaN or inf) in {bad[0]}"
            + (f" and {len(bad) - 1} more tensors" if len(bad) > 1 else "")
            + "; the training diverged — use an earlier checkpoint, or retrain with a lower "
            "learning rate"
        )
    network = ConditionalUNet(config, len(table))
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise PhendiffError(
            f"{folder / WEIGHTS}: weights do not match {CONFIG} ({first}); the folder mixes "
            "files from different models"
        ) from None
    network.to(device).eval().requires_grad_(False)
    return PhendiffModel(network, config, table, normalizer, meta.get("training", {}), folder)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (weights can be gigabytes).

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    str
        64 lowercase hex digits, as ``sha256sum`` prints them.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_weights(folder: Path, meta: dict[str, Any]) -> None:
    """The weights file must be the one ``config.json`` recorded.

    Folders written before the hash was recorded (no ``weights_sha256``) are not checked.

    Parameters
    ----------
    folder : pathlib.Path
        A model folder.
    meta : dict
        Its ``config.json`` contents.

    Raises
    ------
    PhendiffError
        One line naming the file: its SHA-256 differs from the recorded one.
    """
    expected = meta.get("weights_sha256")
    if expected is None:
        return
    found = file_sha256(folder / WEIGHTS)
    if found != expected:
        raise PhendiffError(
            f"{folder / WEIGHTS}: damaged or changed — its SHA-256 {found[:12]}… differs from "
            f"the {expected[:12]}… recorded in {CONFIG}; copy the model folder again, or "
            "retrain (or --resume) to write it anew"
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PhendiffError(
            f"{path}: not readable JSON ({exc}); the model folder is corrupt"
        ) from None

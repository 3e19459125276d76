"""Numbered checkpoints of a training run, and finding the newest complete one on resume.

Each checkpoint is a whole model folder with its resume state, ``RUN/checkpoints/step_NNNNNNN/``,
built in a hidden sibling and renamed into place, so it is complete or absent. ``RUN/model``
is then made the newest one (hard links to the checkpoint's files where the file system has
them, a copy otherwise; swapped in by :func:`~phendiff.data.atomic.replace_folder`), and the
oldest checkpoints beyond the kept count are deleted.

A kill can stop this sequence anywhere. :func:`recover` therefore looks at every place a
complete checkpoint can be (the numbered ones, ``RUN/model``, and the ``.model.old-*`` that a
kill between the two renames of the swap leaves), makes the newest of them ``RUN/model`` again,
and removes the leftovers of an interrupted write.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from phendiff.data.atomic import replace_folder
from phendiff.errors import PhendiffError
from phendiff.model.checkpoint import check_weights, read_model_meta

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
MODEL = "model"
TRAINING = "training"
TRAINING_FILES = ("state.json", "online.safetensors", "optimizer.safetensors")


def checkpoint_path(out: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives in the run folder ``out``."""
    return out / CHECKPOINTS / f"step_{step:07d}"


def publish(checkpoint: Path, out: Path, keep: int) -> None:
    """Make ``checkpoint`` the run's ``model/``, then keep only the ``keep`` newest checkpoints."""
    replace_folder(out / MODEL, lambda tmp: _link_tree(checkpoint, tmp))
    numbered = sorted((out / CHECKPOINTS).glob("step_*"), key=lambda p: p.name)
    for old in numbered[:-keep]:
        if old != checkpoint:
            shutil.rmtree(old, ignore_errors=True)


def _link_tree(src: Path, dst: Path) -> None:
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)  # files are never modified in place: sharing them is safe
        except OSError:
            shutil.copy2(path, target)


def complete_step(folder: Path) -> int | None:
    """The step of the checkpoint in ``folder`` if it is complete (weights match their hash,
    resume state readable), else None."""
    try:
        if not all((folder / TRAINING / name).is_file() for name in TRAINING_FILES):
            return None
        info = json.loads((folder / TRAINING / "state.json").read_text())
        step = int(info["steps"])
        _, meta, _ = read_model_meta(folder)
        check_weights(folder, meta)
    except (OSError, ValueError, KeyError, TypeError, PhendiffError):
        return None
    return step


def candidates(out: Path) -> list[Path]:
    """Every folder of ``out`` that may hold a complete checkpoint."""
    return [
        *sorted((out / CHECKPOINTS).glob("step_*")),
        out / MODEL,
        *sorted(out.glob(f".{MODEL}.old-*")),
    ]


def newest_checkpoint(out: Path) -> tuple[Path, int] | None:
    """The newest complete checkpoint of the run in ``out`` and its step, or None."""
    best: tuple[Path, int] | None = None
    for folder in candidates(out):
        step = complete_step(folder)
        if step is not None and (best is None or step > best[1]):
            best = (folder, step)
    return best


def recover(out: Path, keep: int) -> int | None:
    """Make the newest complete checkpoint ``out/model`` and clean what a kill left behind.

    Returns the step of that checkpoint, or None when the run has none.
    """
    found = newest_checkpoint(out)
    if found is not None:
        folder, step = found
        if folder != out / MODEL and complete_step(out / MODEL) != step:
            log.warning("resuming from %s (step %d): %s/model was older or missing",
                        folder, step, out)  # fmt: skip
            publish(folder, out, keep)
    for leftover in (*out.glob(f".{MODEL}.tmp-*"), *out.glob(f".{MODEL}.old-*"),
                     *(out / CHECKPOINTS).glob(".*")):  # fmt: skip
        shutil.rmtree(leftover, ignore_errors=True)
    return None if found is None else found[1]


def describe_progress(out: Path) -> str | None:
    """What in ``out`` shows that a run made progress (metrics, samples, checkpoints), or None."""
    found = []
    metrics = out / "metrics.jsonl"
    if metrics.is_file() and metrics.stat().st_size > 0:
        found.append(f"metrics.jsonl ({len(metrics.read_text().splitlines())} rows)")
    samples = sorted((out / "samples").glob("*.png")) if (out / "samples").is_dir() else []
    if samples:
        found.append(f"{len(samples)} sample grid(s)")
    damaged = [p.name for p in candidates(out) if p.exists()]
    if damaged:
        found.append(f"incomplete or damaged checkpoints ({', '.join(damaged)})")
    return ", ".join(found) or None

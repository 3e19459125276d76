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
    """Where the checkpoint of ``step`` lives in the run folder ``out``.

    Parameters
    ----------
    out : pathlib.Path
        The run folder.
    step : int
        Optimizer steps taken when the checkpoint was written.

    Returns
    -------
    pathlib.Path
        ``out/checkpoints/step_NNNNNNN`` (seven digits, so names sort by step).
    """
    return out / CHECKPOINTS / f"step_{step:07d}"


def publish(checkpoint: Path, out: Path, keep: int) -> None:
    """Make ``checkpoint`` the run's ``model/``, then keep only the ``keep`` newest checkpoints.

    Parameters
    ----------
    checkpoint : pathlib.Path
        A complete checkpoint folder (numbered, or a leftover ``.model.old-*`` on recovery).
    out : pathlib.Path
        The run folder.
    keep : int
        Numbered checkpoints to keep (at least 1); older ones are deleted only after
        ``model/`` is in place, and ``checkpoint`` itself never.
    """
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


def _claimed_step(folder: Path) -> int | None:
    """The step ``folder``'s resume state claims (cheap: no weights are read), or None."""
    try:
        if not all((folder / TRAINING / name).is_file() for name in TRAINING_FILES):
            return None
        return int(json.loads((folder / TRAINING / "state.json").read_text())["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def complete_step(folder: Path) -> int | None:
    """The step of the checkpoint in ``folder`` if it is complete, else None.

    Complete means: the resume state (``training/state.json``, online weights, optimizer
    state) is there and readable, and ``model.safetensors`` matches the SHA-256 recorded in
    ``config.json`` (which hashes the whole file).

    Parameters
    ----------
    folder : pathlib.Path
        A checkpoint folder (numbered, ``RUN/model`` or a leftover ``.model.old-*``).

    Returns
    -------
    int or None
        Optimizer steps of the checkpoint; None if it is incomplete or damaged.
    """
    step = _claimed_step(folder)
    if step is None:
        return None
    try:
        _, meta, _ = read_model_meta(folder)
        check_weights(folder, meta)
    except (OSError, ValueError, KeyError, TypeError, PhendiffError):
        return None
    return step


def candidates(out: Path) -> list[Path]:
    """Every folder of ``out`` that may hold a complete checkpoint.

    Parameters
    ----------
    out : pathlib.Path
        The run folder.

    Returns
    -------
    list of pathlib.Path
        ``RUN/model``, the numbered checkpoints, and the ``.model.old-*`` that a kill between
        the two renames of a swap leaves (the paths need not exist).
    """
    return [
        out / MODEL,
        *sorted((out / CHECKPOINTS).glob("step_*")),
        *sorted(out.glob(f".{MODEL}.old-*")),
    ]


def newest_checkpoint(out: Path) -> tuple[Path, int] | None:
    """The newest complete checkpoint of the run in ``out`` and its step, or None.

    Folders are tried newest first by the step their resume state claims (``RUN/model`` first
    among equals), and only until one is complete, so a resume hashes one set of weights, not
    every checkpoint's.

    Parameters
    ----------
    out : pathlib.Path
        The run folder.

    Returns
    -------
    tuple of (pathlib.Path, int) or None
        The folder and its step; None when no checkpoint is complete.
    """
    claimed = [(step, i, folder) for i, folder in enumerate(candidates(out))
               if (step := _claimed_step(folder)) is not None]  # fmt: skip
    for _, _, folder in sorted(claimed, key=lambda c: (-c[0], c[1])):
        step = complete_step(folder)
        if step is not None:
            return folder, step
    return None


def recover(out: Path, keep: int) -> int | None:
    """Make the newest complete checkpoint ``out/model`` and clean what a kill left behind.

    Removes the leftovers of an interrupted write (``.model.tmp-*``, ``.model.old-*``, hidden
    folders in ``checkpoints/``) after ``model/`` holds the newest complete checkpoint.

    Parameters
    ----------
    out : pathlib.Path
        The run folder.
    keep : int
        Numbered checkpoints to keep (see :func:`publish`).

    Returns
    -------
    int or None
        The step of that checkpoint, or None when the run has none.
    """
    found = newest_checkpoint(out)
    if found is not None:
        folder, step = found
        # RUN/model comes first among equal steps: any other winner means it is older,
        # missing or damaged
        if folder != out / MODEL:
            log.warning("resuming from %s (step %d): %s/model was older or missing",
                        folder, step, out)  # fmt: skip
            publish(folder, out, keep)
    for leftover in (*out.glob(f".{MODEL}.tmp-*"), *out.glob(f".{MODEL}.old-*"),
                     *(out / CHECKPOINTS).glob(".*")):  # fmt: skip
        shutil.rmtree(leftover, ignore_errors=True)
    return None if found is None else found[1]


def describe_progress(out: Path) -> str | None:
    """What in ``out`` shows that a run made progress, for a refusal message.

    Parameters
    ----------
    out : pathlib.Path
        The run folder.

    Returns
    -------
    str or None
        E.g. ``"metrics.jsonl (12 rows), 2 sample grid(s)"``; None when there is nothing
        (metrics, samples, or checkpoint folders, which are called incomplete or damaged
        since this is asked only when none is complete).
    """
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

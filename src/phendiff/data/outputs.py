"""One output-folder policy for every command that writes a folder of results.

A command's outputs are written into a fresh hidden sibling of OUT (``.<name>.tmp-<random>``,
on the same file system) and moved into OUT only when the command has finished, so a failure
or a kill leaves OUT as it was. OUT keeps a manifest of what each command wrote there
(``.phendiff-<command>.json``: paths relative to OUT). ``overwrite`` then means one thing
everywhere: the files this command writes replace files of the same name, and the files its
previous run recorded but this run does not write are removed; nothing else in OUT is touched.

Some folders are never an output folder under ``overwrite`` (the current folder, the home
folder, a file-system root), and none ever is when it holds the command's inputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from phendiff.data.atomic import write_text
from phendiff.errors import PhendiffError


def manifest_path(out: Path, command: str) -> Path:
    """Where ``command`` records the files it wrote into ``out``."""
    return out / f".phendiff-{command}.json"


def check_output_folder(
    out: str | os.PathLike, overwrite: bool, inputs: Iterable[str | os.PathLike] = ()
) -> Path:
    """Refuse an output folder that cannot or must not receive a command's outputs.

    Checked before any work: OUT is not a file; OUT is new or empty unless ``overwrite``;
    OUT is not the current folder, the home folder or a file-system root under ``overwrite``;
    OUT does not hold any of ``inputs`` (files or folders); and OUT (or the nearest existing
    folder above it) is writable.

    Returns
    -------
    pathlib.Path
        ``out`` made absolute (symbolic links resolved).
    """
    given = Path(out)
    out = Path(os.path.abspath(given)).resolve()
    if out.exists() and not out.is_dir():
        raise PhendiffError(
            f"{given} is a file; expected a folder for the outputs — pass a new folder"
        )
    if overwrite and out in _protected():
        raise PhendiffError(
            f"{given} is {_protected()[out]}; --overwrite never writes there — pass a new "
            "folder (e.g. --out results)"
        )
    for item in inputs:
        item = Path(os.path.abspath(item)).resolve()
        if item == out or out in item.parents:
            raise PhendiffError(
                f"{given} holds the input {item}; outputs never go into an input's folder — "
                "pass another folder"
            )
    if out.is_dir() and not overwrite and any(out.iterdir()):
        raise PhendiffError(
            f"{given} exists and is not empty; pass --overwrite to replace the files this "
            "command wrote there (nothing else is touched), or choose another folder"
        )
    check_writable(out)
    return out


def check_writable(out: str | os.PathLike) -> None:
    """Refuse ``out`` if it, or the nearest existing folder above it, cannot be written."""
    out = Path(os.path.abspath(out))
    if out.exists() and not out.is_dir():
        raise PhendiffError(f"{out} is a file; expected a folder — pass a new folder")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise PhendiffError(f"{existing} is a file; expected a folder to create {out} in")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PhendiffError(
            f"{existing}: not writable (read-only or no permission); cannot create the outputs "
            f"in {out} — choose a writable folder"
        )


def _protected() -> dict[Path, str]:
    folders = {Path(os.path.abspath(os.curdir)).resolve(): "the current folder"}
    with contextlib.suppress(RuntimeError):  # no home folder known
        folders.setdefault(Path.home().resolve(), "the home folder")
    for root in {Path(p.anchor) for p in folders} | {Path("/")}:
        folders.setdefault(root, "a file-system root")
    return folders


def begin_output(
    out: str | os.PathLike,
    command: str,
    overwrite: bool,
    inputs: Iterable[str | os.PathLike] = (),
) -> Path:
    """Check ``out`` (:func:`check_output_folder`) and create its fresh staging folder."""
    out = check_output_folder(out, overwrite, inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))


def commit_output(stage: Path, out: str | os.PathLike, command: str, overwrite: bool) -> Path:
    """Move everything in ``stage`` into ``out`` and record it in ``out``'s manifest.

    A new (or missing) ``out`` is the staging folder renamed; otherwise each file is moved in
    with :func:`os.replace` and the files of this command's previous run that this run did not
    write are removed (``overwrite``). Returns ``out`` (absolute).
    """
    out = Path(os.path.abspath(out)).resolve()
    written = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
    record = json.dumps({"command": command, "files": written}, indent=1) + "\n"
    if not out.exists():
        write_text(manifest_path(stage, command), record)
        os.replace(stage, out)
        return out
    for rel in sorted(set(_recorded(out, command)) - set(written)):
        (out / rel).unlink(missing_ok=True)
        _remove_empty_parents(out / rel, out)
    for rel in written:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, out / rel)
    write_text(manifest_path(out, command), record)
    shutil.rmtree(stage, ignore_errors=True)
    return out


@contextlib.contextmanager
def output_folder(
    out: str | os.PathLike,
    command: str,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
) -> Iterator[Path]:
    """Yield a staging folder for ``command``'s outputs; move them into ``out`` on success.

    On an exception (or Ctrl-C) the staging folder is deleted and ``out`` is left as it was.

    Examples
    --------
    >>> with output_folder(tmp_path / "report", "evaluate") as stage:  # doctest: +SKIP
    ...     (stage / "index.html").write_text("<p>hello</p>")
    """
    stage = begin_output(out, command, overwrite, inputs)
    try:
        yield stage
        commit_output(stage, out, command, overwrite)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _recorded(out: Path, command: str) -> list[str]:
    path = manifest_path(out, command)
    if not path.is_file():
        return []
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError):
        raise PhendiffError(
            f"{path}: damaged manifest of a previous run; delete it (the files it listed are "
            "then kept) and rerun"
        ) from None
    # a manifest names files inside OUT only: anything else is ignored, never deleted
    return [f for f in files if isinstance(f, str) and _inside(out, f)]


def _inside(out: Path, rel: str) -> bool:
    target = Path(os.path.abspath(out / rel))
    return out in target.parents and not Path(rel).is_absolute()


def _remove_empty_parents(path: Path, out: Path) -> None:
    for parent in path.parents:
        if parent == out or out not in parent.parents:
            return
        try:
            parent.rmdir()
        except OSError:  # not empty: holds something else
            return

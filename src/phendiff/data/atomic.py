"""Atomic writes: a reader (or a crash) never sees a half-written file or folder.

Every output phendiff writes goes through one of these two functions. A file is written to a
hidden temporary sibling (``.<name>.<random>.tmp``, same folder, so the final move is a rename
on one file system) and moved into place; a folder is built as a hidden sibling and swapped in,
the previous folder moved aside first and deleted last.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from phendiff.errors import PhendiffError


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], object], overwrite: bool = True
) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then move it into place.

    Parameters
    ----------
    path : str or path-like
        The destination file; parent folders are created.
    write : callable
        Writes the whole file at the path it is given (e.g. ``lambda p: p.write_text(s)``).
    overwrite : bool, default True
        Replace an existing ``path``. When False, a file that exists, or appears while
        ``write`` runs, is an error (a hard link never replaces its target).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> atomic_write(tmp_path / "a.txt", lambda p: p.write_text("hello"))  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_into_place(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, replacing an existing file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _link_into_place(tmp: Path, path: Path) -> None:
    try:
        # a hard link fails if the target appeared meanwhile, unlike os.replace
        os.link(tmp, path)
    except FileExistsError:
        raise already_exists(path) from None
    except OSError:  # file systems without hard links
        os.replace(tmp, path)


def already_exists(path: Path) -> PhendiffError:
    """The error for an output file that must not be replaced."""
    return PhendiffError(
        f"{path}: already exists; expected a new file — pass overwrite=True "
        "(--overwrite) or choose another output folder"
    )


def replace_folder(target: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a fresh hidden sibling folder of ``target``, then swap it in.

    An existing ``target`` is moved aside before the swap and deleted after it; if ``write``
    fails, ``target`` is left as it was and the temporary folder is removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write(tmp)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return target

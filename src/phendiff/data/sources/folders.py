"""Images in condition folders: ``ROOT/<condition>/*.tif``, one folder per condition."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from phendiff.conditions import Condition
from phendiff.data.io import IMAGE_SUFFIXES
from phendiff.data.sources.records import ImageRecord, _filter_compounds
from phendiff.errors import PhendiffError

logger = logging.getLogger(__name__)

_CONDITION_FORM = (
    "the control's name ('DMSO', 'untreated', ...) or '<compound>@<concentration in µM>' "
    "(e.g. 'nocodazole@0.3')"
)


def from_folders(
    root: str | os.PathLike, *, compounds: Iterable[str] | None = None
) -> list[ImageRecord]:
    """Images in condition folders: ``ROOT/<condition>/*.tif|tiff|png|jpg``.

    Parameters
    ----------
    root : str or path-like
        Folder whose sub-folders are named ``<compound>@<concentration µM>`` or, for
        the control, by its name alone (``DMSO``, ``untreated``).
        Hidden folders and files (starting with ``.``) and non-image files are skipped.
    compounds : iterable of str, optional
        Compounds to keep (case-insensitive); the control is kept only if listed.

    Returns
    -------
    list of ImageRecord
        One record per file, sorted by condition (DMSO first, compounds A→Z, dose up),
        then path. Plate, well and split are unknown.
    """
    root = Path(root)
    expected = f"expected a folder of condition folders, e.g. {root}/DMSO/a.tif"
    if not root.exists():
        raise PhendiffError(f"{root}: folder not found; {expected} — check the path")
    if not root.is_dir():
        raise PhendiffError(f"{root}: not a folder; {expected}, or a manifest CSV")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise PhendiffError(
            f"{root}: no condition folders; {expected} with folders named {_CONDITION_FORM}"
        )
    records = []
    for folder in folders:
        records += _folder_records(root, folder)
    if not records:
        raise PhendiffError(
            f"{root}: no images in condition folders {[f.name for f in folders]}; expected "
            f"files ending in {', '.join(IMAGE_SUFFIXES)} — check the folder"
        )
    records.sort(key=lambda r: (r.condition.sort_key(), str(r.paths[0])))
    return _filter_compounds(records, compounds, str(root))


def _folder_records(root: Path, folder: Path) -> list[ImageRecord]:
    try:
        condition = Condition.parse(folder.name)
    except PhendiffError:
        raise PhendiffError(
            f"{folder}: folder name {folder.name!r} is not a condition; expected "
            f"{_CONDITION_FORM} — rename the folder or move it out of {root}"
        ) from None
    images = sorted(
        f for f in folder.iterdir()
        if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file()
    )
    if not images:
        logger.warning("%s: no images in this condition folder; it is skipped", folder)
    return [ImageRecord((f,), condition) for f in images]

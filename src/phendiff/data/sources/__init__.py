"""Where images come from: condition folders, a manifest CSV, or BBBC021's metadata CSV.

Every source produces the same table, a ``list[ImageRecord]``: the file(s) of one image,
its condition, and where known its plate, well and split. :func:`load_source` picks the
source from the path; :func:`assign_splits` fills in train/val splits without letting a
well straddle them; :func:`scan_images` reads everything once and reports problems
before training starts.

One module per input layout, :mod:`~phendiff.data.sources.folders`,
:mod:`~phendiff.data.sources.manifest` and :mod:`~phendiff.data.sources.bbbc021`, all built on
:mod:`~phendiff.data.sources.records` (the record, the compound filter, shared CSV helpers);
then :mod:`~phendiff.data.sources.splits` and :mod:`~phendiff.data.sources.scan`. This package
re-exports their public names and holds :func:`load_source`, which picks among the layouts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from phendiff.data.sources.bbbc021 import BBBC021_CHANNELS, from_bbbc021
from phendiff.data.sources.folders import from_folders
from phendiff.data.sources.manifest import from_manifest
from phendiff.data.sources.records import SPLITS, ImageRecord, _read_header
from phendiff.data.sources.scan import ScanResult, scan_images
from phendiff.data.sources.splits import assign_splits
from phendiff.errors import PhendiffError

__all__ = [
    "BBBC021_CHANNELS",
    "SPLITS",
    "ImageRecord",
    "ScanResult",
    "assign_splits",
    "from_bbbc021",
    "from_folders",
    "from_manifest",
    "load_source",
    "scan_images",
]


def load_source(
    path: str | os.PathLike, compounds: Iterable[str] | None = None
) -> list[ImageRecord]:
    """Load the image table from whatever ``path`` is.

    * a CSV whose header has ``Image_FileName_DAPI`` → :func:`from_bbbc021`;
    * any other CSV → :func:`from_manifest`;
    * a folder containing ``manifest.csv`` → that manifest;
    * any other folder → :func:`from_folders`.

    ``compounds`` keeps only those compounds (case-insensitive; the control only if listed).
    """
    path = Path(path)
    if not path.exists():
        raise PhendiffError(
            f"{path}: not found; expected a folder of condition folders, a folder with "
            "manifest.csv, a manifest CSV or BBBC021_v1_image.csv — check the path"
        )
    if path.is_dir():
        if (path / "manifest.csv").is_file():
            return from_manifest(path / "manifest.csv", compounds=compounds)
        return from_folders(path, compounds=compounds)
    if path.suffix.lower() != ".csv":
        raise PhendiffError(
            f"{path}: not a folder or a .csv file; expected a folder of condition folders, "
            "a manifest CSV or BBBC021_v1_image.csv"
        )
    if "Image_FileName_DAPI" in _read_header(path):
        return from_bbbc021(path, compounds=compounds)
    return from_manifest(path, compounds=compounds)

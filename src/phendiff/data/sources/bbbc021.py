"""BBBC021 images from its own metadata file, ``BBBC021_v1_image.csv``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from phendiff.conditions import Condition
from phendiff.data.sources.records import (
    ImageRecord,
    _check_files_exist,
    _missing_columns_error,
    _read_csv,
    _row_condition,
    _wanted_compounds,
)
from phendiff.errors import PhendiffError

BBBC021_CHANNELS = ("DAPI", "Tubulin", "Actin")
_BBBC021_COLUMNS = (
    *(f"Image_{kind}_{ch}" for ch in BBBC021_CHANNELS for kind in ("FileName", "PathName")),
    "Image_Metadata_Plate_DAPI",
    "Image_Metadata_Well_DAPI",
    "Image_Metadata_Compound",
    "Image_Metadata_Concentration",
)


def _bbbc021_path(root: Path, path_name: str, file_name: str) -> Path:
    """``root/PathName/FileName``, else ``root/<last part of PathName>/FileName``.

    BBBC021's CSV says ``Week1/Week1_22123`` while its zips unpack to ``Week1_22123/``.
    """
    path_name = PurePosixPath(path_name.replace("\\", "/").strip("/"))
    candidates = [root / path_name / file_name, root / path_name.name / file_name]
    return next((p for p in candidates if p.is_file()), candidates[-1])


def from_bbbc021(
    csv_path: str | os.PathLike,
    root: str | os.PathLike | None = None,
    compounds: Iterable[str] | None = None,
) -> list[ImageRecord]:
    """BBBC021 images from its metadata file ``BBBC021_v1_image.csv``.

    Each image is three single-channel files in the order DAPI, Tubulin, Actin; plate and
    well come from ``Image_Metadata_Plate_DAPI`` and ``Image_Metadata_Well_DAPI``.

    Parameters
    ----------
    csv_path : str or path-like
        ``BBBC021_v1_image.csv``.
    root : str or path-like, optional
        Folder holding the unzipped plate folders (``Week1_22123/`` ...); defaults to the
        CSV's folder. Files are looked up as ``root/PathName/FileName`` and then as
        ``root/<last part of PathName>/FileName``.
    compounds : iterable of str, optional
        Compounds to keep (case-insensitive), e.g.
        ``["DMSO", "nocodazole", "latrunculin B", "herbimycin A"]``; DMSO is kept only if
        listed. Only the kept images' files need to exist.

    Returns
    -------
    list of ImageRecord
        In CSV order; ``DMSO`` rows are the control whatever their concentration.
    """
    csv_path = Path(csv_path)
    root = csv_path.parent if root is None else Path(root)
    header, rows = _read_csv(csv_path)
    missing = [c for c in _BBBC021_COLUMNS if c not in header]
    if missing:
        raise _missing_columns_error(
            csv_path, header, missing, "BBBC021's own BBBC021_v1_image.csv"
        )
    conditions = [
        _row_condition(
            f"{csv_path} line {line}",
            row["Image_Metadata_Compound"], row["Image_Metadata_Concentration"],
        )
        for line, row in rows
    ]
    wanted = _wanted_compounds(compounds, (c.compound for c in conditions), str(csv_path))
    records = [
        _bbbc021_record(root, row, condition)
        for (_, row), condition in zip(rows, conditions, strict=True)
        if wanted is None or condition.compound.lower() in wanted
    ]
    if not records:
        raise PhendiffError(f"{csv_path}: no image rows; expected one row per image")
    _check_files_exist(
        records, csv_path,
        f"expected BBBC021's unzipped plate folders (e.g. Week1_22123/) under {root} — "
        "unzip the image archives there or pass root",
    )
    return records


def _bbbc021_record(root: Path, row: dict[str, str], condition: Condition) -> ImageRecord:
    paths = tuple(
        _bbbc021_path(root, row[f"Image_PathName_{ch}"], row[f"Image_FileName_{ch}"])
        for ch in BBBC021_CHANNELS
    )
    return ImageRecord(
        paths, condition,
        plate=row["Image_Metadata_Plate_DAPI"] or None,
        well=row["Image_Metadata_Well_DAPI"] or None,
        channels=BBBC021_CHANNELS,
    )

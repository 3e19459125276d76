"""Images listed in a manifest CSV: one row per image with its path(s) and condition."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from phendiff.data.sources.records import (
    ImageRecord,
    _check_files_exist,
    _filter_compounds,
    _missing_columns_error,
    _read_csv,
    _row_condition,
)
from phendiff.errors import PhendiffError

_SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test",
}


def _manifest_columns(csv_path: Path, header: list[str]) -> tuple[list[str], dict[str, str]]:
    """Path columns in channel order, and the other known columns by lower-case name."""
    by_lower = {h.lower(): h for h in header}
    path_columns = [h for h in header if h.lower().startswith("path_")]
    if "path" in by_lower:
        if path_columns:
            raise PhendiffError(
                f"{csv_path}: both 'path' and {path_columns} columns; expected either one "
                "'path' column (multi-channel files) or one 'path_<channel>' column per channel"
            )
        path_columns = [by_lower["path"]]
    missing = [] if path_columns else ["path (or path_<channel>)"]
    missing += [name for name in ("compound", "concentration") if name not in by_lower]
    if missing:
        raise _missing_columns_error(
            csv_path, header, missing,
            "'path' (or one 'path_<channel>' per channel), 'compound', 'concentration' "
            "and optionally 'plate', 'well', 'field', 'split'",
        )
    return path_columns, by_lower


def _optional(row: dict[str, str], columns: dict[str, str], name: str) -> str:
    return row[columns[name]] if name in columns else ""


def _parse_split(where: str, value: str) -> str | None:
    if not value:
        return None
    split = _SPLIT_ALIASES.get(value.lower())
    if split is None:
        raise PhendiffError(
            f"{where}: split {value!r} is not valid; expected train, val, test or empty"
        )
    return split


def from_manifest(
    csv_path: str | os.PathLike, *, compounds: Iterable[str] | None = None
) -> list[ImageRecord]:
    """Images listed in a manifest CSV, one row per image.

    Columns: ``path`` (one multi-channel file) or several ``path_<channel>`` (one file per
    channel; the column order is the channel order), ``compound``, ``concentration`` (µM;
    empty for the control: ``DMSO``, or the name given to ``--control``), and optionally
    ``plate``, ``well``, ``field``, ``split`` (``train``/``val``/``test``). Column names are
    case-insensitive. Relative paths are resolved against the manifest's folder.

    Parameters
    ----------
    csv_path : str or path-like
        The manifest.
    compounds : iterable of str, optional
        Compounds to keep (case-insensitive); the control is kept only if listed.

    Returns
    -------
    list of ImageRecord
        In manifest order.
    """
    csv_path = Path(csv_path)
    header, rows = _read_csv(csv_path)
    path_columns, columns = _manifest_columns(csv_path, header)
    # "path_DNA" names its channel; a single "path" column names none
    named = path_columns[0].lower().startswith("path_")
    channels = tuple(c[5:] for c in path_columns) if named else None
    base = csv_path.parent
    records = []
    for line, row in rows:
        where = f"{csv_path} line {line}"
        paths = []
        for column in path_columns:
            if not row[column]:
                raise PhendiffError(f"{where}: column {column!r} is empty; expected an image path")
            paths.append(Path(os.path.normpath(base / Path(row[column]).expanduser())))
        records.append(ImageRecord(
            tuple(paths),
            _row_condition(where, row[columns["compound"]], row[columns["concentration"]]),
            plate=_optional(row, columns, "plate") or None,
            well=_optional(row, columns, "well") or None,
            field=_optional(row, columns, "field") or None,
            split=_parse_split(where, _optional(row, columns, "split")),
            channels=channels,
        ))
    if not records:
        raise PhendiffError(f"{csv_path}: no rows; expected one row per image below the header")
    records = _filter_compounds(records, compounds, str(csv_path))
    _check_files_exist(
        records, csv_path,
        f"relative paths are resolved against the manifest folder {os.path.abspath(base)} "
        "— fix the paths or move the manifest",
        base=base,
    )
    return records

"""The image table's row, :class:`ImageRecord`, and what the CSV sources share.

Holds the record itself, the compound filter every source applies, and the CSV helpers of
the manifest and BBBC021 readers: reading a header and rows, parsing a row's condition,
and one error listing every image file that is missing.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phendiff.conditions import CONTROL, Condition
from phendiff.data.io import read_channels, read_image
from phendiff.errors import PhendiffError

SPLITS = ("train", "val", "test")
# a well (row A–P, two-digit column) and a field number as whole parts of a file name
_WELL = re.compile(r"(?:^|(?<=[_\-. ]))([A-Pa-p])(\d{2})(?=$|[_\-. ])")
_FIELD = re.compile(r"(?:^|(?<=[_\-. ]))(?:s|f|site|field)(\d{1,4})(?=$|[_\-. ])", re.IGNORECASE)


@dataclass(frozen=True)
class ImageRecord:
    """One image of the table.

    Attributes
    ----------
    paths : tuple of pathlib.Path
        One multi-channel file, or one single-channel file per channel in channel order.
    condition : Condition
        Its condition (a string such as ``"nocodazole@0.3"`` is parsed).
    plate, well : str or None
        Where the image was taken, when known; used to keep a well within one split.
    field : str or None
        The field (site) of the well, when the source gives it (a manifest's ``field``
        column); :meth:`location` also reads it from the file name.
    split : {"train", "val", "test"} or None
        ``None`` means not assigned yet (see :func:`assign_splits`).
    channels : tuple of str or None
        Channel names when the source names them (``path_<channel>`` columns, BBBC021).
    """

    paths: tuple[Path, ...]
    condition: Condition
    plate: str | None = None
    well: str | None = None
    split: str | None = None
    channels: tuple[str, ...] | None = None
    field: str | None = None

    def __post_init__(self) -> None:
        paths = self.paths
        if isinstance(paths, (str, os.PathLike)):
            paths = (paths,)
        paths = tuple(Path(p) for p in paths)
        if not paths:
            raise PhendiffError("image record has no file paths; expected at least one file")
        condition = self.condition
        if not isinstance(condition, Condition):
            condition = Condition.parse(condition)
        if self.split is not None and self.split not in SPLITS:
            raise PhendiffError(
                f"{paths[0]}: split {self.split!r} is not valid; expected one of "
                f"{', '.join(SPLITS)} or None"
            )
        object.__setattr__(self, "paths", paths)
        object.__setattr__(self, "condition", condition)

    @property
    def name(self) -> str:
        """The image's file, for messages (the first file when channels are separate)."""
        extra = len(self.paths) - 1
        return f"{self.paths[0]} (+{extra} channel files)" if extra else str(self.paths[0])

    @property
    def group(self) -> str:
        """Key for grouped splitting: ``plate/well`` when the well is known, else the path."""
        if self.well is not None:
            return f"{self.plate or ''}/{self.well}"
        return str(self.paths[0])

    def location(self) -> dict[str, str]:
        """``{"plate", "well", "field"}`` of the image, ``""`` where unknown.

        The source's values come first. Where the source gives no well or field, they are
        read from the file name's last ``_B02_``-like part (a row letter A–P and two digits)
        and its last ``_s3_`` / ``_f007`` / ``_site3`` / ``_field3`` part (separators ``_``,
        ``-``, ``.`` or a space; leading zeros dropped), the conventions of BBBC021, of
        most plate readers and of ``phendiff synth``. The plate is never guessed.
        """
        stem = self.paths[0].stem
        wells = _WELL.findall(stem)
        fields = _FIELD.findall(stem)
        well = self.well or (f"{wells[-1][0].upper()}{wells[-1][1]}" if wells else "")
        field = self.field or (str(int(fields[-1])) if fields else "")
        return {"plate": self.plate or "", "well": well, "field": field}

    def load(self, channel_axis: int | None = None) -> np.ndarray:
        """Read the image as ``(C, Y, X)`` in the file's dtype (see ``io.read_image``).

        ``channel_axis`` applies to a single multi-channel file; per-channel files are 2-D.
        """
        if len(self.paths) == 1:
            return read_image(self.paths[0], channel_axis)
        return read_channels(self.paths)


# ---------------------------------------------------------------------------- compounds filter


def _wanted_compounds(
    compounds: Iterable[str] | None, available: Iterable[str], source: str
) -> set[str] | None:
    """Lower-case compound names to keep, or None for all; unknown names are an error."""
    if compounds is None:
        return None
    if isinstance(compounds, str):
        compounds = [compounds]  # a single name, not its letters
    wanted = {str(c).strip() for c in compounds}
    available = sorted(set(available), key=str.lower)
    known = {name.lower() for name in available}
    unknown = sorted(name for name in wanted if name.lower() not in known)
    if not wanted or unknown:
        raise PhendiffError(
            f"{source}: compound filter {sorted(wanted)} names unknown compound(s) "
            f"{unknown}; available: {', '.join(available)} — the control is kept only if "
            "listed"
        )
    return {name.lower() for name in wanted}


def _filter_compounds(
    records: list[ImageRecord], compounds: Iterable[str] | None, source: str
) -> list[ImageRecord]:
    wanted = _wanted_compounds(compounds, (r.condition.compound for r in records), source)
    if wanted is None:
        return records
    return [r for r in records if r.condition.compound.lower() in wanted]


# ---------------------------------------------------------------------------- CSV helpers


def _read_header(csv_path: Path) -> list[str]:
    return _read_csv(csv_path, header_only=True)[0]


def _read_csv(
    csv_path: Path, header_only: bool = False
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and ``(line number, row)`` pairs; blank rows are skipped, values stripped."""
    if not csv_path.is_file():
        raise PhendiffError(f"{csv_path}: file not found; expected a CSV file — check the path")
    try:
        # utf-8-sig: spreadsheet programs often prepend a byte-order mark
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            rows = [] if header_only else [(reader.line_num, v) for v in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PhendiffError(
            f"{csv_path}: cannot be read as CSV ({' '.join(str(exc).split())}); expected a "
            "UTF-8 comma-separated file"
        ) from None
    if not any(header):
        raise PhendiffError(f"{csv_path}: empty file; expected a header row and one row per image")
    duplicated = sorted(h for h, n in Counter(header).items() if h and n > 1)
    if duplicated:
        raise PhendiffError(f"{csv_path}: duplicate column(s) {duplicated}; expected unique names")
    rows = [(line, v) for line, v in rows if any(map(str.strip, v))]
    return header, [(line, _row_dict(csv_path, header, line, v)) for line, v in rows]


def _row_dict(csv_path: Path, header: list[str], line: int, values: list[str]) -> dict[str, str]:
    values = [v.strip() for v in values]
    if len(values) > len(header) and any(values[len(header):]):
        raise PhendiffError(
            f"{csv_path} line {line}: {len(values)} values for {len(header)} columns; expected "
            "one value per column — quote values that contain commas"
        )
    values = values[: len(header)] + [""] * (len(header) - len(values))
    return dict(zip(header, values, strict=True))


def _missing_columns_error(csv_path: Path, header: list[str], missing, expected: str):
    hint = ""
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        hint = " — the file seems to use ';' or tabs; save it comma-separated"
    return PhendiffError(
        f"{csv_path}: missing column(s) {missing}; found {header}; expected {expected}{hint}"
    )


def _row_condition(where: str, compound: str, concentration: str) -> Condition:
    """Condition of one CSV row: an empty concentration is a condition without a dose (the
    control: ``DMSO``, ``untreated``, ...); DMSO's concentration (a vehicle's %) is ignored."""
    if not compound:
        raise PhendiffError(
            f"{where}: empty compound; expected a compound name or the control's (e.g. '{CONTROL}')"
        )
    if not concentration or compound.upper() == CONTROL:
        return _checked(where, compound, 0.0)
    try:
        value = float(concentration)
    except ValueError:
        raise PhendiffError(
            f"{where}: concentration {concentration!r} for {compound!r} is not a number; "
            "expected the concentration in µM, e.g. 0.3"
        ) from None
    return _checked(where, compound, value)


def _checked(where: str, compound: str, concentration: float) -> Condition:
    try:
        return Condition(compound, concentration)
    except PhendiffError as exc:
        raise PhendiffError(f"{where}: {exc}") from None


def _outside(path: Path, base: Path) -> bool:
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    return rel == os.pardir or rel.startswith(os.pardir + os.sep)


def _check_files_exist(
    records: list[ImageRecord], source: Path, how: str, base: Path | None = None
) -> None:
    """One error for all missing files, naming the first few and how paths were resolved.

    With ``base``, the message also says when missing files lie outside that folder.
    """
    paths = [p for r in records for p in r.paths]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        outside = base is not None and any(_outside(p, base) for p in missing)
        raise PhendiffError(
            f"{source}: {len(missing)} of {len(paths)} image files not found: {shown}{more}"
            f"{' (some point outside ' + os.path.abspath(base) + ')' if outside else ''}; {how}"
        )

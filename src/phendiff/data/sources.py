"""Where images come from: condition folders, a manifest CSV, or BBBC021's metadata CSV.

Every source produces the same table, a ``list[ImageRecord]``: the file(s) of one image,
its condition, and where known its plate, well and split. :func:`load_source` picks the
source from the path; :func:`assign_splits` fills in train/val splits without letting a
well straddle them; :func:`scan_images` reads everything once and reports problems
before training starts.
"""

from __future__ import annotations

import csv
import logging
import os
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm.auto import tqdm

from phendiff.conditions import CONTROL, Condition
from phendiff.data.io import IMAGE_SUFFIXES, read_channels, read_image
from phendiff.errors import PhendiffError

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test",
}
BBBC021_CHANNELS = ("DAPI", "Tubulin", "Actin")
_BBBC021_COLUMNS = (
    *(f"Image_{kind}_{ch}" for ch in BBBC021_CHANNELS for kind in ("FileName", "PathName")),
    "Image_Metadata_Plate_DAPI",
    "Image_Metadata_Well_DAPI",
    "Image_Metadata_Compound",
    "Image_Metadata_Concentration",
)
_CONDITION_FORM = "'DMSO' or '<compound>@<concentration in µM>' (e.g. 'nocodazole@0.3')"


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
            f"{unknown}; available: {', '.join(available)} — the control is '{CONTROL}' "
            "and is kept only if listed"
        )
    return {name.lower() for name in wanted}


def _filter_compounds(
    records: list[ImageRecord], compounds: Iterable[str] | None, source: str
) -> list[ImageRecord]:
    wanted = _wanted_compounds(compounds, (r.condition.compound for r in records), source)
    if wanted is None:
        return records
    return [r for r in records if r.condition.compound.lower() in wanted]


# ---------------------------------------------------------------------------- folders


def from_folders(
    root: str | os.PathLike, *, compounds: Iterable[str] | None = None
) -> list[ImageRecord]:
    """Images in condition folders: ``ROOT/<condition>/*.tif|tiff|png|jpg``.

    Parameters
    ----------
    root : str or path-like
        Folder whose sub-folders are named ``DMSO`` or ``<compound>@<concentration µM>``.
        Hidden folders and files (starting with ``.``) and non-image files are skipped.
    compounds : iterable of str, optional
        Compounds to keep (case-insensitive); the control is kept only if ``"DMSO"`` is listed.

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
    """Condition of one CSV row; the control's concentration is ignored."""
    if not compound:
        raise PhendiffError(f"{where}: empty compound; expected a compound name or '{CONTROL}'")
    if compound.upper() == CONTROL:
        return Condition(CONTROL)
    try:
        value = float(concentration)
    except ValueError:
        raise PhendiffError(
            f"{where}: concentration {concentration!r} for {compound!r} is not a number; "
            "expected the concentration in µM, e.g. 0.3"
        ) from None
    try:
        return Condition(compound, value)
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


# ---------------------------------------------------------------------------- manifest


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
            "and optionally 'plate', 'well', 'split'",
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
    empty or 0 for ``DMSO``), and optionally ``plate``, ``well``, ``split``
    (``train``/``val``/``test``). Column names are case-insensitive. Relative paths are
    resolved against the manifest's folder.

    Parameters
    ----------
    csv_path : str or path-like
        The manifest.
    compounds : iterable of str, optional
        Compounds to keep (case-insensitive); the control is kept only if ``"DMSO"`` is listed.

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


# ---------------------------------------------------------------------------- BBBC021


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


# ---------------------------------------------------------------------------- dispatch


def load_source(
    path: str | os.PathLike, compounds: Iterable[str] | None = None
) -> list[ImageRecord]:
    """Load the image table from whatever ``path`` is.

    * a CSV whose header has ``Image_FileName_DAPI`` → :func:`from_bbbc021`;
    * any other CSV → :func:`from_manifest`;
    * a folder containing ``manifest.csv`` → that manifest;
    * any other folder → :func:`from_folders`.

    ``compounds`` keeps only those compounds (case-insensitive; DMSO only if listed).
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


# ---------------------------------------------------------------------------- splits


def _primary_condition(records: Sequence[ImageRecord], members: list[int]) -> Condition:
    # a group normally has one condition; if not, stratify it by its most frequent one
    counts = Counter(records[i].condition for i in members)
    return min(counts, key=lambda c: (-counts[c], c.sort_key()))


def _pick_val_groups(keys: list[str], val_fraction: float, seed: int, condition: Condition):
    if val_fraction == 0 or len(keys) < 2:
        return set()
    n_val = min(max(1, round(val_fraction * len(keys))), len(keys) - 1)
    # one stream per condition, so adding a condition does not reshuffle the others
    rng = np.random.default_rng([seed, zlib.crc32(condition.name.encode())])
    order = rng.permutation(len(keys))
    return {keys[i] for i in order[:n_val]}


def assign_splits(
    records: Iterable[ImageRecord], val_fraction: float = 0.1, seed: int = 0
) -> list[ImageRecord]:
    """Assign ``"train"``/``"val"`` to records without a split, one group at a time.

    Records are grouped by :attr:`ImageRecord.group` (plate/well when known, else the file),
    and a group never straddles splits. Within each condition, ``round(val_fraction * n)``
    of its ``n`` groups go to val — at least one when the condition has two or more groups,
    and never all of them (a condition with a single group stays in train).

    Records with an explicit split keep it, and unassigned records of the same group join
    that group's (most frequent) explicit split. ``"test"`` records therefore stay out of
    both train and val; the caller should drop them from training.

    Parameters
    ----------
    records : iterable of ImageRecord
    val_fraction : float
        Fraction of each condition's groups held out for validation, in ``[0, 1)``;
        0 puts every unassigned record in train.
    seed : int
        Non-negative; the same seed and records give the same splits.

    Returns
    -------
    list of ImageRecord
        The records in input order, each with its split set.
    """
    records = list(records)
    if not 0 <= val_fraction < 1:
        raise PhendiffError(f"val_fraction={val_fraction}; expected a number in [0, 1)")
    if int(seed) != seed or seed < 0:
        raise PhendiffError(f"seed={seed}; expected a non-negative integer")
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        by_group[record.group].append(i)
    splits = [r.split for r in records]
    open_groups: dict[Condition, list[str]] = defaultdict(list)
    for key, members in by_group.items():
        explicit = [splits[i] for i in members if splits[i] is not None]
        if explicit:
            follow = Counter(explicit).most_common(1)[0][0]
            for i in members:
                splits[i] = splits[i] or follow
        else:
            open_groups[_primary_condition(records, members)].append(key)
    for condition, keys in open_groups.items():
        val_keys = _pick_val_groups(sorted(keys), val_fraction, int(seed), condition)
        for key in keys:
            for i in by_group[key]:
                splits[i] = "val" if key in val_keys else "train"
    return [
        r if r.split == s else replace(r, split=s) for r, s in zip(records, splits, strict=True)
    ]


# ---------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class ScanResult:
    """What :func:`scan_images` found.

    Attributes
    ----------
    n_channels : int
        Channels per image (the same for all).
    dtype : str
        The images' numpy dtype name, or the widest one if they differ (``np.result_type``).
    shapes : list of (int, int)
        ``(Y, X)`` of each image, in record order.
    max_value : float
        Largest pixel value over all images.
    """

    n_channels: int
    dtype: str
    shapes: list[tuple[int, int]]
    max_value: float


def _common_channel_count(records: list[ImageRecord], counts: list[int]) -> int:
    tally = Counter(counts)
    majority, n_majority = tally.most_common(1)[0]
    odd = [i for i, n in enumerate(counts) if n != majority]
    if odd:
        first = odd[0]
        more = f" (and {len(odd) - 1} more files differ)" if len(odd) > 1 else ""
        raise PhendiffError(
            f"{records[first].name}: {counts[first]} channel(s) but {n_majority} of "
            f"{len(counts)} images have {majority}{more}; expected the same channels in every "
            "image — fix or drop that file, or check channel_axis (--channel-axis)"
        )
    return majority


def scan_images(
    records: Iterable[ImageRecord],
    channel_axis: int | None = None,
    min_size: int | None = None,
    progress: bool = True,
) -> ScanResult:
    """Read every image once and check that they can be trained on together.

    Parameters
    ----------
    records : iterable of ImageRecord
    channel_axis : int, optional
        Passed to :meth:`ImageRecord.load`.
    min_size : int, optional
        The crop size: images smaller than this in Y or X are an error.
    progress : bool
        Show a progress bar.

    Returns
    -------
    ScanResult

    Raises
    ------
    PhendiffError
        Unreadable or corrupt images, NaN/inf pixels, images smaller than ``min_size``,
        or channel counts that differ between images.
    """
    records = list(records)
    if not records:
        raise PhendiffError("no images to scan; expected at least one image record")
    counts, dtypes, shapes, max_value = [], set(), [], -np.inf
    for record in tqdm(records, desc="checking images", unit="image", disable=not progress):
        image = record.load(channel_axis)
        if min_size is not None and min(image.shape[1:]) < min_size:
            raise PhendiffError(
                f"{record.name}: shape {image.shape} (C, Y, X) is smaller than the crop size "
                f"{min_size} in Y or X; expected at least {min_size}×{min_size} — pass a "
                "smaller --image-size or use resize"
            )
        counts.append(image.shape[0])
        dtypes.add(image.dtype)
        shapes.append((int(image.shape[1]), int(image.shape[2])))
        max_value = max(max_value, float(image.max()))
    return ScanResult(
        n_channels=_common_channel_count(records, counts),
        dtype=np.result_type(*sorted(dtypes, key=str)).name,
        shapes=shapes,
        max_value=max_value,
    )

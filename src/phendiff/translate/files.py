"""Translate image files and write everything a biologist looks at.

``translate_files`` reads inputs (image files, a folder per condition, a manifest or
BBBC021's CSV), translates each image to every target with one inversion, and writes under
OUT:

``OUT/translations.csv``                one row per (input, target): the files below and the
                                         input's reconstruction error (normalised units)
``OUT/<id>/<target>.tif``               translated image, the input's dtype, channels (order
                                         and names) and pixel size; its OME metadata records
                                         source, target, model and phendiff version
``OUT/<id>/<target>.png``               its preview (a fixed colour per channel)
``OUT/<id>/<target>_diff.tif``          signed difference translated − input, float32, input units
``OUT/<id>/input.png``                  the input's preview
``OUT/<id>/reconstruction.tif``         the same-condition round trip (quality control)
``OUT/<id>/differences.png``            signed difference maps, one row per target
``OUT/<id>/dose_series.png``            input at left, a row per compound, doses left to right
``OUT/<id>/dose_series_differences.png``  the same with |difference| maps
``OUT/translate.json``                  the resolved options, model and targets

Input channel names are matched with the model's first (:mod:`phendiff.translate.channels`).
Under ``accelerate launch`` the inputs are sharded across processes; each writes its own
images and the main process writes the index.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from phendiff.conditions import Condition
from phendiff.config import TranslateOptions
from phendiff.data.atomic import write_text
from phendiff.data.io import read_channel_names, write_tiff
from phendiff.data.metadata import read_physical_size
from phendiff.data.outputs import begin_output, check_output_folder, commit_output
from phendiff.data.sources import ImageRecord, scan_images
from phendiff.errors import PhendiffError
from phendiff.model.checkpoint import PhendiffModel
from phendiff.translate.arrays import Translation, model_denoiser, resolve_targets, translate
from phendiff.translate.channels import channel_order
from phendiff.translate.core import evaluations_per_image
from phendiff.translate.figures import difference_figure, dose_series_figure, save_preview
from phendiff.translate.progress import image_progress

log = logging.getLogger(__name__)

COMMAND = "translate"
INDEX = "translations.csv"
MAX_ID = 96
COLUMNS = (
    "id",
    "input",
    "source",
    "target",
    "translated",
    "preview",
    "difference",
    "reconstruction",
    "recon_mse",
    "recon_psnr",
    "recon_l2",
    "recon_l2_255",
    "plate",
    "well",
    "field",
)
# where the input was taken (ImageRecord.location): empty where unknown, absent from the
# indexes of earlier versions
LOCATION = ("plate", "well", "field")


def output_ids(records: Sequence[ImageRecord]) -> list[str]:
    """Unique, file-system-safe folder names: ``<condition>_<file stem>``.

    A name longer than ``MAX_ID`` characters is cut and ends in a hash of the whole name, so
    folder and file names stay within every file system's 255-byte limit.
    """
    ids, seen = [], set()
    for r in records:
        stem = r.paths[0].name.split(".")[0]
        base = re.sub(r"[^A-Za-z0-9@._-]+", "_", f"{r.condition.name}_{stem}")
        if len(base) > MAX_ID:
            digest = hashlib.sha256(base.encode()).hexdigest()[:10]
            base = f"{base[: MAX_ID - 11]}-{digest}"
        name, k = base, 2
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        ids.append(name)
    return ids


def translate_files(
    model: PhendiffModel,
    records: Sequence[ImageRecord],
    targets: Sequence[str | Condition],
    out: str | Path,
    options: TranslateOptions | None = None,
    channel_axis: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    channel_names: Mapping[str, str] | None = None,
    ignore_channel_names: bool = False,
    translator: Translator | None = None,
) -> Path:
    """Translate ``records`` to ``targets`` and write the outputs under ``out`` (see above).

    ``channel_names`` maps input channel names to the model's (``{"DAPI": "DNA"}``);
    ``ignore_channel_names`` takes every file's channels in file order whatever their names.
    ``translator``: another method (a GAN baseline) writing the same layout; ``model`` is
    then the translator itself (see :class:`Translator`) and ``options`` only sets the batch.
    """
    from accelerate import PartialState

    options = options or TranslateOptions()
    out = Path(out)
    inputs = [p for r in records for p in r.paths]
    check_output_folder(out, overwrite, inputs)
    target_list = resolve_targets(model, targets)
    unknown = sorted({r.condition.name for r in records} - set(model.conditions.names))
    if unknown:
        raise PhendiffError(
            f"{len(unknown)} input condition(s) unknown to this model: "
            f"{', '.join(unknown[:6])}{' ...' if len(unknown) > 6 else ''}; it knows "
            f"{', '.join(model.conditions.names)} — keep the known compounds with --compounds "
            f"(e.g. --compounds {model.conditions.control_name or model.conditions.compounds[0]})"
        )
    for r in records:
        _check_name(r.paths[0])
    _check_files(model, records, channel_axis, progress)
    layouts = _layouts(model, records, channel_names, ignore_channel_names)
    state = PartialState()
    denoiser = None
    if translator is None:
        denoiser = model_denoiser(model, options.precision, network_batch=options.network_batch)
    ids = output_ids(records)
    stage = _shared_stage(out, overwrite, inputs, state)
    try:
        rows: list[dict] = []
        work = list(zip(ids, records, layouts, strict=True))
        with state.split_between_processes(work) as mine:
            sources = {r.condition for r in records}
            others = len(target_list) - (len(sources) == 1 and next(iter(sources)) in target_list)
            shown = progress and state.is_main_process
            if translator is None:
                per_image = evaluations_per_image(options, others, len(denoiser.alpha_bar))
                bar, ticking, batch = image_progress(len(mine), shown, denoiser, per_image)
                run = functools.partial(translate, options=options, denoiser=ticking)
            else:
                bar, batch = _count_progress(len(mine), shown)
                run = lambda _, *a: translator.translate(*a)  # noqa: E731
            for start in range(0, len(mine), options.batch_size):
                chunk = mine[start : start + options.batch_size]
                batch(len(chunk))
                rows += _translate_chunk(model, run, chunk, target_list, stage, channel_axis)
            batch(0)
            bar.close()
        _write_index(stage, rows, state)
        if state.is_main_process:
            meta = {
                "model": str(model.path),
                "control": model.conditions.control_name,
                "targets": [t.name for t in target_list],
                "options": translator.describe() if translator is not None
                else {**asdict(options), "fixed_point": options.refinements},
                "inputs": len(records),
            }
            write_text(stage / "translate.json", json.dumps(meta, indent=2) + "\n")
        state.wait_for_everyone()
        if state.is_main_process:
            commit_output(stage, out, COMMAND, overwrite)
        state.wait_for_everyone()
    finally:
        if state.is_main_process:
            shutil.rmtree(stage, ignore_errors=True)
    return out / INDEX


class Translator(Protocol):
    """Another translation method behind :func:`translate_files` (the GAN baselines).

    Has the attributes of a model that the files' checks and writers read — ``config``
    (``image_size``, ``in_channels``, ``channel_names``), ``conditions``, ``normalizer``,
    ``path`` — and ``translate(self, images, sources, targets)`` returning a
    :class:`~phendiff.translate.arrays.Translation`; ``describe()`` gives the options
    recorded in ``translate.json``.
    """

    def translate(self, images, sources, targets) -> Translation: ...

    def describe(self) -> dict: ...


def _count_progress(total: int, enabled: bool):
    """A bar over ``total`` images that moves when each batch is written."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="translating", unit="image", disable=not enabled)
    pending = [0]

    def batch(n: int) -> None:
        bar.update(pending[0])
        pending[0] = n

    return bar, batch


def _shared_stage(out: Path, overwrite: bool, inputs, state) -> Path:
    """The main process creates the staging folder; every process learns its path."""
    stage = [str(begin_output(out, COMMAND, overwrite, inputs)) if state.is_main_process else ""]
    if state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(stage)
    return Path(stage[0])


def _check_name(path: Path) -> None:
    """Input paths go into UTF-8 tables: refuse a name that cannot be written there."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise PhendiffError(
            f"{os.fsencode(path)!r}: the file name is not valid UTF-8; rename the file "
            "(phendiff records each input's path in UTF-8 tables)"
        ) from None


def _check_files(model, records, channel_axis, progress) -> None:
    """Read every input once before writing anything: bad input fails up front."""
    c = model.config
    scan = scan_images(records, channel_axis=channel_axis, min_size=c.image_size, progress=progress)
    if scan.n_channels != c.in_channels:
        raise PhendiffError(
            f"inputs have {scan.n_channels} channels; the model expects {c.in_channels} "
            f"({', '.join(c.channel_names)}) — give images with the model's channels, or "
            "--channel-axis if they are on another axis"
        )


@dataclass(frozen=True)
class _Layout:
    """How one input's file relates to the model: channel order, names, pixel size."""

    order: tuple[int, ...] | None  # file → model order (None: the same)
    names: tuple[str, ...]  # the file's channel names (the model's if it names none)
    physical_size: tuple[float, float] | None  # µm per pixel (y, x)

    def to_model(self, image: np.ndarray) -> np.ndarray:
        return image if self.order is None else image[list(self.order)]

    def to_file(self, image: np.ndarray) -> np.ndarray:
        return image if self.order is None else image[list(np.argsort(self.order))]


def _layouts(model, records, mapping, ignore) -> list[_Layout]:
    """Every input's channel order and pixel size, checked before any work."""
    model_names = tuple(model.config.channel_names)
    out, sizes = [], {}
    for r in records:
        given = r.channels if len(r.paths) > 1 else (r.channels or read_channel_names(r.paths[0]))
        order = channel_order(given, model_names, mapping, ignore, where=r.name)
        names = (
            tuple(given) if given is not None and len(given) == len(model_names) else model_names
        )
        size = read_physical_size(r.paths[0])
        if size is not None:
            sizes.setdefault(size, r.name)
        out.append(_Layout(order, names, size))
    if len(sizes) > 1:
        listed = "; ".join(f"{y:g}×{x:g} µm ({name})" for (y, x), name in list(sizes.items())[:3])
        log.warning(
            "inputs have %d different pixel sizes (%s); each output keeps its own input's",
            len(sizes), listed,
        )  # fmt: skip
    return out


def _write_output(folder, layout, record, model, name, array, **notes) -> None:
    """One output TIFF in the input's channel order, names and pixel size, with provenance."""
    from phendiff import __version__

    notes = {"source": record.condition.name, **notes, "model": model, "phendiff": __version__,
             "input": str(record.paths[0])}  # fmt: skip
    write_tiff(folder / name, layout.to_file(array), layout.names, overwrite=True,
               physical_size=layout.physical_size, notes=notes)  # fmt: skip


def _translate_chunk(model, run, chunk, targets, out, channel_axis) -> list[dict]:
    images = [layout.to_model(r.load(channel_axis)) for _, r, layout in chunk]
    sources = [r.condition for _, r, _ in chunk]
    result = run(model, images, sources, targets)
    names = model.config.channel_names
    rows = []
    for k, (id_, record, layout) in enumerate(chunk):
        folder = out / id_
        image = images[k]
        x = model.normalizer.normalize(image)
        save_preview(folder / "input.png", x, names)

        write = functools.partial(_write_output, folder, layout, record, str(model.path))
        write("reconstruction.tif", result.reconstruction[k], target=record.condition.name,
              kind="reconstruction")  # fmt: skip
        diffs, series = [], []
        for t, target in enumerate(targets):
            y = result.translated[k][t]
            diff = y.astype(np.float32) - image.astype(np.float32)
            write(f"{target.name}.tif", y, target=target.name, kind="translation")
            write(f"{target.name}_diff.tif", diff, target=target.name,
                  kind="difference (translated - input)")  # fmt: skip
            yn = model.normalizer.normalize(y)
            save_preview(folder / f"{target.name}.png", yn, names)
            diffs.append((target.name, yn - x))
            series.append((target, yn))
            rows.append(_row(out, id_, record, target, result.metrics[k]))
        difference_figure(folder / "differences.png", diffs, names)
        if len(targets) > 1:
            label = record.condition.name
            control = model.conditions.control_name
            dose_series_figure(folder / "dose_series.png", (label, x), series, names,
                               control=control)  # fmt: skip
            dose_series_figure(folder / "dose_series_differences.png", (label, x), series,
                               names, differences=True, control=control)  # fmt: skip
    return rows


def _row(out: Path, id_: str, record: ImageRecord, target: Condition, metrics: dict) -> dict:
    rel = lambda name: f"{id_}/{name}"  # noqa: E731
    return {
        "id": id_,
        "input": str(record.paths[0]),
        "source": record.condition.name,
        "target": target.name,
        "translated": rel(f"{target.name}.tif"),
        "preview": rel(f"{target.name}.png"),
        "difference": rel(f"{target.name}_diff.tif"),
        "reconstruction": rel("reconstruction.tif"),
        **{f"recon_{k}": f"{v:.6g}" for k, v in metrics.items()},
        **record.location(),
    }


def _write_index(out: Path, rows: list[dict], state) -> None:
    """Each process writes its rows; the main process merges them in input order."""
    part = out / f".translations.part{state.process_index}.json"
    write_text(part, json.dumps(rows))
    state.wait_for_everyone()
    if not state.is_main_process:
        return
    merged = []
    for i in range(state.num_processes):
        path = out / f".translations.part{i}.json"
        merged += json.loads(path.read_text())
        path.unlink()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(merged)
    write_text(out / INDEX, buffer.getvalue())


def read_index(out: str | Path) -> list[dict]:
    """Rows of ``OUT/translations.csv`` (for evaluation), checked against :data:`COLUMNS`.

    A missing column, an empty cell or a reconstruction error that is not a number (an
    edited or damaged index) is an error naming the line. The location columns (plate,
    well, field) may be empty or absent; rows then have them as ``""``.
    """
    path = Path(out) / INDEX
    if not path.is_file():
        raise PhendiffError(
            f"{out}: no {INDEX}; expected the output folder of 'phendiff translate'"
        )
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PhendiffError(f"{path}: not a readable CSV index ({exc}); rerun translate") from None
    required = [c for c in COLUMNS if c not in LOCATION]
    missing = [c for c in required if c not in header]
    if missing:
        raise PhendiffError(
            f"{path}: no column {', '.join(missing)}; expected the columns phendiff translate "
            f"writes ({', '.join(required)}) — restore the file or rerun translate"
        )
    for line, row in enumerate(rows, start=2):
        empty = [c for c in required if not (row.get(c) or "").strip()]
        numbers = [c for c in COLUMNS if c.startswith("recon_")]
        bad = [c for c in numbers if c not in empty and not _is_number(row[c])]
        if empty or bad:
            what = f"empty {', '.join(empty)}" if empty else f"{bad[0]}={row[bad[0]]!r}"
            raise PhendiffError(
                f"{path}, line {line}: {what}; expected the values translate wrote (reconstruction "
                "errors are numbers) — restore the file or rerun translate"
            )
        for c in LOCATION:
            row[c] = (row.get(c) or "").strip()
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

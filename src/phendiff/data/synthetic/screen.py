"""Writing the screen to disk: the plate map, the two tables and :func:`generate_screen`."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from phendiff.conditions import Condition
from phendiff.config import SynthOptions
from phendiff.data.atomic import atomic_write, write_text
from phendiff.data.outputs import output_folder
from phendiff.data.synthetic.render import _check_int, render_field
from phendiff.data.synthetic.truth import (
    _REFERENCE_SIZE,
    BASELINE,
    CHANNELS,
    _mean_seeded_cells,
    screen_conditions,
    true_parameters,
)

_PLATES = 4
_WELLS = [f"{row}{col:02d}" for row in "ABCDEFGH" for col in range(1, 13)]
_FIELDS_PER_WELL = 4


def _plate_map(n_conditions: int, per_condition: int) -> list[list[tuple[str, str]]]:
    """``(plate, well)`` of every field of every condition.

    Fields of a condition go round-robin over 4 plates, then fill wells of up to a few fields;
    each plate shifts the layout so that no condition sits in the same well on every plate.
    """
    per_plate = math.ceil(per_condition / _PLATES)
    wells_per_condition = min(
        max(1, len(_WELLS) // n_conditions), math.ceil(per_plate / _FIELDS_PER_WELL)
    )
    fields_per_well = math.ceil(per_plate / wells_per_condition)
    layout = []
    for ci in range(n_conditions):
        rows = []
        for j in range(per_condition):
            plate, k = j % _PLATES, j // _PLATES
            slot = ci * wells_per_condition + k // fields_per_well
            rows.append((f"P{plate + 1}", _WELLS[(slot + 11 * plate) % len(_WELLS)]))
        layout.append(rows)
    return layout


def _concentration_text(condition: Condition) -> str:
    # the same decimal spelling as the condition's name ("0.3", "1"); 0 for the control
    return condition.name.partition("@")[2] or "0"


def _write_tables(
    root: Path, manifest: list[list[str]], conditions: list[Condition], size: int
) -> None:
    header = ["path", "compound", "concentration", "plate", "well"]
    _write_csv(root / "manifest.csv", [header, *manifest])
    truth = [["condition", "compound", "concentration", *BASELINE]]
    # cells per field of the fields actually written, not of the 64×64 reference
    area_scale = _mean_seeded_cells(size) / _mean_seeded_cells(_REFERENCE_SIZE)
    for c in conditions:
        params = true_parameters(c)
        params["expected_cells_per_field"] *= area_scale
        values = map(repr, params.values())
        truth.append([c.name, c.compound, _concentration_text(c), *values])
    _write_csv(root / "ground_truth.csv", truth)
    write_text(
        root / "README.txt",
        "Synthetic phendiff screen: <condition>/<condition>_<plate>_<well>_f<NNN>.tif, uint16 "
        "(3, Y, X) TIFFs, channels DNA, tubulin, actin.\n"
        "manifest.csv lists every image (path relative to this folder) with its compound, "
        "concentration (µM, 0 for DMSO), plate and well.\n"
        "ground_truth.csv gives the true phenotype parameters of each condition "
        "(phendiff.data.synthetic.true_parameters).\n",
    )


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)  # rows end in "\r\n", the csv module's default
    # newline="": written as is, so the "\r\n" never becomes "\r\r\n" on Windows
    atomic_write(path, lambda tmp: tmp.write_text(buffer.getvalue(), encoding="utf-8", newline=""))


def generate_screen(
    out: str | Path,
    per_condition: int = SynthOptions.per_condition,
    size: int = SynthOptions.size,
    seed: int = SynthOptions.seed,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write the synthetic screen to ``out``, atomically.

    Parameters
    ----------
    out : str or Path
        Folder to write. The screen is built in a hidden sibling ``.<name>.tmp-<random>`` and
        moved in at the end (:mod:`phendiff.data.outputs`), so an interrupted run never
        leaves a half-written screen.
    per_condition : int, default 64
        Fields per condition (≥ 1), spread over 4 plates and several wells per plate.
    size : int, default 64
        Field side in px (≥ 32).
    seed : int, default 0
        Field ``f`` of condition ``k`` (index in :func:`screen_conditions`) is rendered from
        ``numpy.random.default_rng([seed, k, f])``, independent of generation order.
    overwrite : bool, default False
        Write into a non-empty ``out``: the screen's files replace those of the same name and
        those a previous ``synth`` recorded there are removed; nothing else is touched.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    Path
        ``out``, holding ``<condition.name>/<condition.name>_<plate>_<well>_f<NNN>.tif``
        (uint16, ``(3, size, size)``, axes ``CYX``), ``manifest.csv``
        (``path,compound,concentration,plate,well``), ``ground_truth.csv`` (one row per
        condition: ``condition,compound,concentration`` and every true parameter, with
        ``expected_cells_per_field`` for fields of this ``size``) and ``README.txt``.
    """
    per_condition = _check_int("per_condition", per_condition, 1)
    size = _check_int("size", size, 32)
    seed = _check_int("seed", seed, 0)
    out = Path(out)
    with output_folder(out, "synth", overwrite) as stage:
        _write_screen(stage, per_condition, size, seed, progress)
    return out


def _write_screen(root: Path, per_condition: int, size: int, seed: int, progress: bool) -> None:
    """Render every field of every condition into the empty folder ``root``, then the tables."""
    import tifffile
    from tqdm.auto import tqdm

    conditions = screen_conditions()
    layout = _plate_map(len(conditions), per_condition)
    digits = max(3, len(str(per_condition - 1)))
    manifest = []
    bar = tqdm(
        total=len(conditions) * per_condition,
        desc="synthetic screen",
        unit="field",
        disable=not progress,
    )
    with bar:
        for k, condition in enumerate(conditions):
            (root / condition.name).mkdir()
            for f, (plate, well) in enumerate(layout[k]):
                image = render_field(condition, np.random.default_rng([seed, k, f]), size)
                rel = f"{condition.name}/{condition.name}_{plate}_{well}_f{f:0{digits}d}.tif"
                tifffile.imwrite(
                    root / rel, image, photometric="minisblack", ome=True,
                    metadata={"axes": "CYX", "Channel": {"Name": list(CHANNELS)}},
                )
                manifest.append(
                    [rel, condition.compound, _concentration_text(condition), plate, well]
                )
                bar.update()
    _write_tables(root, manifest, conditions, size)

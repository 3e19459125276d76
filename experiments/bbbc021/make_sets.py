"""Split BBBC021's fields of the kept compounds into the DMSO inputs and the real screen.

Reads ``BBBC021_v1_image.csv`` with phendiff's own reader (the ``Week1/Week1_22123`` path
quirk, DAPI/Tubulin/Actin files, the compound filter) and writes, under OUT:

- ``inputs.csv``: ``N`` DMSO fields to translate, whole wells drawn at random (seeded), the
  last well cut to make exactly ``N``. Each field is copied to ``inputs/<field>.ome.tif``, one
  ``(3, Y, X)`` uint16 OME-TIFF naming its channels DAPI, Tubulin, Actin (7.5 MiB per
  1280 × 1024 field). Why a copy: ``translations.csv`` records an input by its first file
  only (the DAPI file of a BBBC021 field) and ``phendiff evaluate`` reads the copy-source
  image from there, so per-channel inputs fail at evaluate ("array of shape (1, Y, X);
  expected ... C = 3 channels"); one file per field avoids it.
- ``real.csv``: the real images evaluate scores against, in place (columns
  ``path_DAPI,path_Tubulin,path_Actin``, absolute paths): every other DMSO field (so DMSO's
  copy-source FID compares two disjoint sets of real DMSO fields) and every field of the
  other kept compounds.

Both manifests carry ``compound``, ``concentration`` (µM), ``plate``, ``well``, ``field``.
Prints the number of fields per condition. Nothing is written into the BBBC021 folder.

    python experiments/bbbc021/make_sets.py BBBC021_v1_image.csv OUT \
        --compounds "DMSO,latrunculin B" [--n 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from phendiff.data.io import write_tiff
from phendiff.data.sources import from_bbbc021

CHANNELS = ("DAPI", "Tubulin", "Actin")
CONTROL = "DMSO"  # BBBC021's control
META = ["compound", "concentration", "plate", "well", "field"]


def _meta(record) -> list[str]:
    c = record.condition
    where = record.location()
    # the concentration as phendiff spells it ("0.3", "1"); empty for DMSO
    return [c.compound, c.name.partition("@")[2], where["plate"], where["well"], where["field"]]


def _write(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header + META)
        writer.writerows(rows)


def _stacked(record, folder: Path) -> Path:
    """The field as one (3, Y, X) OME-TIFF named after its DAPI file, minus ``_w1<UUID>``."""
    stem = re.sub(r"_w1[^_]*$", "", record.paths[0].name.split(".")[0])
    path = folder / f"{stem}.ome.tif"
    if not path.is_file():
        write_tiff(path, record.load(), channel_names=CHANNELS)
    return path


def split(records, n: int, seed: int):
    """(inputs, real): ``n`` DMSO fields from randomly drawn whole wells, and the rest."""
    wells: dict[str, list] = {}
    for r in records:
        if r.condition.name == CONTROL:
            wells.setdefault(r.group, []).append(r)
    groups = list(wells.values())
    inputs: list = []
    for i in np.random.default_rng(seed).permutation(len(groups)):
        inputs += groups[i][: n - len(inputs)]
        if len(inputs) >= n:
            break
    chosen = {id(r) for r in inputs}
    return inputs, [r for r in records if id(r) not in chosen]


def main(csv_path: Path, out: Path, compounds: list[str], n: int, seed: int) -> None:
    records = from_bbbc021(csv_path, compounds=compounds)
    n_control = sum(r.condition.name == CONTROL for r in records)
    if n_control < n + 2:
        sys.exit(
            f"{csv_path}: {n_control} DMSO fields among the kept compounds; expected at least "
            f"N + 2 = {n + 2} (N inputs and two real DMSO fields) — lower N_FIELDS"
        )
    inputs, real = split(records, n, seed)
    (out / "inputs").mkdir(parents=True, exist_ok=True)
    rows = [[str(_stacked(r, out / "inputs").resolve()), *_meta(r)] for r in inputs]
    _write(out / "inputs.csv", ["path"], rows)
    rows = [[*(str(p.resolve()) for p in r.paths), *_meta(r)] for r in real]
    _write(out / "real.csv", [f"path_{ch}" for ch in CHANNELS], rows)
    print(f"{out}/inputs.csv: {len(inputs)} DMSO fields from {len({r.group for r in inputs})} "
          f"wells; {out}/real.csv, real fields per condition:")  # fmt: skip
    for name, k in Counter(r.condition.name for r in real).items():
        print(f"  {name}: {k}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path, help="BBBC021_v1_image.csv")
    parser.add_argument("out", type=Path)
    parser.add_argument("--compounds", required=True, help='e.g. "DMSO,latrunculin B"')
    parser.add_argument("--n", type=int, default=1000, help="DMSO fields to translate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.csv, args.out, [c.strip() for c in args.compounds.split(",")], args.n, args.seed)

"""Write a small folder in BBBC021's own layout, for ``run.sh --check``.

What the real download looks like after unzipping, in miniature:

- ``BBBC021_v1_image.csv`` with BBBC021's columns (``TableNumber``, ``ImageNumber``,
  ``Image_FileName_DAPI``, ``Image_PathName_DAPI``, ... ``Image_Metadata_Compound``,
  ``Image_Metadata_Concentration`` in µM); ``Image_PathName_*`` says ``Week1/Week1_22123``
  while the files sit in ``Week1_22123/`` (the quirk of the real zips);
- per field three single-channel 16-bit TIFFs, ``Week1_150607_<well>_s<field>_w1<UUID>.tif`` (DAPI),
  ``_w2`` (Tubulin), ``_w4`` (Actin), two plates of two "weeks";
- DMSO, latrunculin B at three doses, nocodazole and herbimycin A at two, and taxol rows
  whose files were never unzipped (``--compounds`` must leave them alone).

Fields are rendered by phendiff's synthetic screen (``phendiff.data.synthetic``: DNA,
tubulin, actin, with known dose responses) at ``--width`` × ``--height`` px (default
160 × 128: not square, larger than the tiny model's 64 px crops, like BBBC021's 1280 × 1024).

    python experiments/bbbc021/make_fake.py OUT [--fields-per-well 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import uuid
from pathlib import Path

import numpy as np
import tifffile

from phendiff.conditions import Condition
from phendiff.data.synthetic import render_field

HEADER = [
    "TableNumber", "ImageNumber", "Image_FileName_DAPI", "Image_PathName_DAPI",
    "Image_FileName_Tubulin", "Image_PathName_Tubulin", "Image_FileName_Actin",
    "Image_PathName_Actin", "Image_Metadata_Plate_DAPI", "Image_Metadata_Well_DAPI",
    "Replicate", "Image_Metadata_Compound", "Image_Metadata_Concentration",
]  # fmt: skip
PLATES = (("Week1", "150607", "Week1_22123"), ("Week2", "180607", "Week2_24121"))
CHANNEL_CODES = ("w1", "w2", "w4")  # DAPI, Tubulin, Actin, as in BBBC021's file names
# BBBC021 name → the synthetic compound that renders it; concentrations in µM
COMPOUNDS = {
    "DMSO": (None, (0.0,), 3),  # synthetic name, doses, wells per plate
    "latrunculin B": ("latrunculin", (0.3, 1.0, 3.0), 1),
    "nocodazole": ("nocodazole", (0.3, 3.0), 1),
    "herbimycin A": ("herbimycin", (0.3, 3.0), 1),
    "taxol": (None, (0.1,), 1),  # rows only: its plate zip "was not unzipped"
}
WELLS = [f"{row}{col:02d}" for row in "BCDEFG" for col in range(2, 12)]


def render(compound: str, dose: float, rng: np.random.Generator, height: int, width: int):
    """(3, height, width) uint16 field of ``compound`` at ``dose`` µM."""
    synthetic = COMPOUNDS[compound][0]
    condition = Condition("DMSO") if compound == "DMSO" else Condition(synthetic, dose)
    return render_field(condition, rng, size=max(height, width))[:, :height, :width]


def main(out: Path, fields_per_well: int, seed: int, height: int, width: int) -> None:
    rows, number = [HEADER], 0
    for p, (week, date, plate) in enumerate(PLATES):
        wells = iter(WELLS[p * 5 :] + WELLS[: p * 5])  # another layout on each plate
        for compound, (_, doses, n_wells) in COMPOUNDS.items():
            for dose in doses:
                for _ in range(n_wells):
                    well = next(wells)
                    for s in range(1, fields_per_well + 1):
                        number += 1
                        rng = np.random.default_rng([seed, number])
                        names = [
                            f"{week}_{date}_{well}_s{s}_{code}"
                            f"{str(uuid.UUID(bytes=rng.bytes(16))).upper()}.tif"
                            for code in CHANNEL_CODES
                        ]
                        if compound != "taxol":
                            image = render(compound, dose, rng, height, width)
                            for name, channel in zip(names, image, strict=True):
                                path = out / plate / name
                                path.parent.mkdir(parents=True, exist_ok=True)
                                tifffile.imwrite(path, channel, photometric="minisblack")
                        cells = [v for name in names for v in (name, f"{week}/{plate}")]
                        rows.append(
                            [p + 1, number, *cells, plate, well, p + 1, compound, dose]
                        )
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "BBBC021_v1_image.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    print(f"{out}: {number} fields in BBBC021's layout ({len(PLATES)} plates)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--fields-per-well", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=160)
    args = parser.parse_args()
    main(args.out, args.fields_per_well, args.seed, args.height, args.width)

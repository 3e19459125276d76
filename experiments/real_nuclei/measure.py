"""Nuclear area, count and brightness per condition, measured by segmentation, against the truth.

Each field is smoothed (Gaussian, σ = 1 px) and thresholded at one level per set: Otsu's
level of the set's DMSO fields pooled (a per-field level would split the noise of fields with
few nuclei into objects); connected objects of at least 10 px are nuclei. Per condition:
the mean nuclear area, nuclei per field and the mean signal above the background median
inside nuclei, each as a ratio to DMSO of the same set, beside the true factor of
ground_truth.csv (area factor, survival, intensity factor).

    python experiments/real_nuclei/measure.py SCREEN/ground_truth.csv SET [SET ...]

A SET is a folder per condition (``OUT/heldout``) or a ``phendiff translate`` output folder
(its translations, grouped by target).
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from phendiff.data.io import read_image
from phendiff.data.sources import load_source
from phendiff.translate import read_index

MIN_AREA = 10


def smooth(field: np.ndarray) -> np.ndarray:
    """The first channel of a (C, Y, X) field, Gaussian-smoothed (σ = 1 px), float64."""
    return ndimage.gaussian_filter(field[0].astype(np.float64), 1.0)


def measure(field: np.ndarray, level: float) -> tuple[float, int, float]:
    """(mean nuclear area in px², nuclei, mean signal above background) of a (1, Y, X) field."""
    x = smooth(field)
    mask = x > level
    labels, n = ndimage.label(mask)
    areas = np.bincount(labels.ravel())[1:]
    keep = areas >= MIN_AREA
    objects = np.isin(labels, np.flatnonzero(keep) + 1)
    signal = float(x[objects].mean() - np.median(x[~mask])) if objects.any() else np.nan
    return float(areas[keep].mean()) if keep.any() else np.nan, int(keep.sum()), signal


def fields_of(folder: Path) -> dict[str, list[np.ndarray]]:
    """Fields per condition of a screen folder or of a translation folder."""
    out: dict[str, list[np.ndarray]] = defaultdict(list)
    if (folder / "translations.csv").exists():
        for row in read_index(folder):
            out[row["target"]].append(read_image(folder / row["translated"]))
    else:
        for record in load_source(folder):
            out[record.condition.name].append(record.load())
    return out


def table(folder: Path) -> dict[str, tuple[float, float, float]]:
    """Condition → (area, count, signal) ratios to DMSO."""
    fields_by = fields_of(folder)
    level = threshold_otsu(np.concatenate([smooth(f).ravel() for f in fields_by["DMSO"]]))
    means = {}
    for name, fields in fields_by.items():
        values = np.array([measure(f, level) for f in fields], dtype=float)
        means[name] = np.nanmean(values, axis=0)
    ref = means["DMSO"]
    return {name: tuple(m / ref) for name, m in means.items()}


def main(truth_csv: Path, sets: list[Path]) -> None:
    with open(truth_csv, newline="") as f:
        truth = {row["condition"]: row for row in csv.DictReader(f)}
    tables = [table(s) for s in sets]
    head = " | ".join(f"{s.name}: area, count, signal" for s in sets)
    print(f"| condition | true area, survival, intensity | {head} |")
    print("|---|---|" + "---|" * len(sets))
    for name, t in truth.items():
        true = f"{float(t['area_factor']):.2f}, {float(t['survival']):.2f}, " \
               f"{float(t['intensity_factor']):.2f}"  # fmt: skip
        cells = [", ".join(f"{v:.2f}" for v in tab[name]) if name in tab else "—" for tab in tables]
        print(f"| {name} | {true} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-4])
    main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])

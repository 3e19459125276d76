"""Nuclear area, count, brightness and texture per condition, by segmentation, against the truth.

Each field is smoothed (Gaussian, σ = 1 px) and thresholded at one level per set: Otsu's
level of the set's DMSO fields pooled (a per-field level would split the noise of fields with
few nuclei into objects); connected objects of at least 10 px are nuclei. Per condition:
the mean nuclear area, nuclei per field, the mean signal above the background median
inside nuclei and their fine texture relative to that signal (:func:`roughness`), each as a
ratio to DMSO of the same set, beside the true factors of ground_truth.csv (area factor,
survival, intensity factor, texture factor).

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
CORE_PX = 2  # texture is read this far inside a nucleus, away from its steep rim


def smooth(field: np.ndarray) -> np.ndarray:
    """The first channel of a (C, Y, X) field, Gaussian-smoothed (σ = 1 px), float64."""
    return ndimage.gaussian_filter(field[0].astype(np.float64), 1.0)


def roughness(field: np.ndarray, objects: np.ndarray, background: np.ndarray) -> float:
    """Fine texture of the objects' cores, relative to their signal (first channel, raw pixels).

    The RMS difference of neighbouring pixels (Haralick's contrast at distance 1, horizontal
    and vertical pairs, square-rooted) over pairs with both pixels at least ``CORE_PX`` inside
    an object, divided by the cores' mean level above the ``background`` pixels' median: it
    grows with texture and noise finer than a few pixels, and a brightening alone leaves it.
    nan if no object has a core.
    """
    x = field[0].astype(np.float64)
    core = ndimage.binary_erosion(objects, iterations=CORE_PX)
    if not core.any():
        return np.nan
    d = np.concatenate([
        (x[:, 1:] - x[:, :-1])[core[:, 1:] & core[:, :-1]],
        (x[1:] - x[:-1])[core[1:] & core[:-1]],
    ])  # fmt: skip
    signal = x[core].mean() - np.median(x[background])
    return float(np.sqrt(np.mean(d**2)) / signal) if len(d) and signal > 0 else np.nan


def measure(field: np.ndarray, level: float) -> tuple[float, int, float, float]:
    """(mean nuclear area in px², nuclei, mean signal above background, texture) of a field."""
    x = smooth(field)
    mask = x > level
    labels, n = ndimage.label(mask)
    areas = np.bincount(labels.ravel())[1:]
    keep = areas >= MIN_AREA
    objects = np.isin(labels, np.flatnonzero(keep) + 1)
    signal = float(x[objects].mean() - np.median(x[~mask])) if objects.any() else np.nan
    area = float(areas[keep].mean()) if keep.any() else np.nan
    return area, int(keep.sum()), signal, roughness(field, objects, ~mask)


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


def table(folder: Path) -> dict[str, tuple[float, float, float, float]]:
    """Condition → (area, count, signal, texture) ratios to DMSO."""
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
    head = " | ".join(f"{s.name}: area, count, signal, texture" for s in sets)
    print(f"| condition | true area, survival, intensity, texture | {head} |")
    print("|---|---|" + "---|" * len(sets))
    for name, t in truth.items():
        keys = ("area_factor", "survival", "intensity_factor", "texture_factor")
        true = ", ".join(f"{float(t[k]):.2f}" if k in t else "—" for k in keys)
        cells = [", ".join(f"{v:.2f}" for v in tab[name]) if name in tab else "—" for tab in tables]
        print(f"| {name} | {true} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-4])
    main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])

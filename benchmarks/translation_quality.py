"""Translation quality against steps, inversion and precision, on the shipped demo model.

Fresh synthetic DMSO fields are translated to every condition of the demo screen. For each
inversion (exact = per-step residuals, bdia, ddim), network precision and step count:

- ``recon``: MSE of the same-condition round trip (normalised units);
- ``vs ref``: RMS distance of the translations from a reference translation (exact
  inversion, fp32, ``--ref-steps`` steps), as a fraction of the reference's own change
  (RMS of reference − input): how far a cheaper setting is from the converged answer;
- ``texture``: Laplacian energy of the translations / that of fresh *real* fields of the
  target conditions (1 = as fine-grained as real images; > 1 speckle, < 1 blur);
- ``s``: seconds for the whole setting (2-core CPU numbers are only comparable in one run);

and, per step count, how far the bf16 network's translations are from the fp32 network's.

    python benchmarks/translation_quality.py [--images 8] [--steps 10 25 50] [--ref-steps 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--ref-steps", type=int, default=200)
    args = parser.parse_args()

    from phendiff.conditions import Condition
    from phendiff.data.synthetic import render_field
    from phendiff.demo import demo_model_path
    from phendiff.model.checkpoint import load_model
    from phendiff.translate import TranslateOptions, translate
    from phendiff.translate.metrics import laplacian_energy

    model = load_model(demo_model_path())
    size, n = model.config.image_size, args.images
    dmso = Condition("DMSO")
    inputs = [render_field(dmso, np.random.default_rng([7, i]), size) for i in range(n)]
    targets = [c for c in model.conditions.conditions if c != model.conditions.control]
    real = {
        c: np.stack([render_field(c, np.random.default_rng([9, k, i]), size) for i in range(n)])
        for k, c in enumerate(targets)
    }
    real_texture = np.mean([laplacian_energy(real[c]) for c in targets])

    def run(inversion: str, precision: str, steps: int):
        options = TranslateOptions(
            steps=steps, inversion=inversion, precision=precision, batch_size=n
        )
        tic = time.perf_counter()
        result = translate(model, inputs, "DMSO", targets, options)
        seconds = time.perf_counter() - tic
        out = model.normalizer.normalize(np.stack(result.translated).astype(np.float64))
        return out, result, seconds

    ref, _, ref_s = run("exact", "fp32", args.ref_steps)
    x = model.normalizer.normalize(np.stack(inputs).astype(np.float64))[:, None]
    change = np.sqrt(((ref - x) ** 2).mean())
    print(
        f"{n} fresh DMSO fields x {len(targets)} targets, {size} px; reference: exact, fp32, "
        f"{args.ref_steps} steps ({ref_s:.0f} s), RMS change {change:.3f} (normalised)"
    )
    print(f"{'inversion':<9} {'network':<7} {'steps':>5} {'recon':>9} {'vs ref':>7} "
          f"{'texture':>7} {'s':>6}")  # fmt: skip
    settings = [("exact", "fp32"), ("exact", "bf16"), ("bdia", "bf16"), ("ddim", "bf16")]
    outs = {}
    for steps in args.steps:
        for inversion, precision in settings:
            out, result, seconds = run(inversion, precision, steps)
            outs[(inversion, precision, steps)] = out
            recon = np.mean([m["mse"] for m in result.metrics])
            distance = np.sqrt(((out - ref) ** 2).mean()) / change
            texture = laplacian_energy(np.stack(result.translated)) / real_texture
            print(
                f"{inversion:<9} {precision:<7} {steps:>5} {recon:>9.2g} {distance:>7.1%} "
                f"{texture:>7.2f} {seconds:>6.1f}"
            )
    for steps in args.steps:
        a, b = outs[("exact", "fp32", steps)], outs[("exact", "bf16", steps)]
        print(f"exact, {steps} steps: bf16 vs fp32 network, RMS distance "
              f"{np.sqrt(((a - b) ** 2).mean()) / change:.1%} of the change")  # fmt: skip


if __name__ == "__main__":
    main()

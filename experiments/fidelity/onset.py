"""At which noise levels a translation's change arises, and what the inverted latent looks like.

Inverts the first N DMSO fields of INPUTS exactly (25 quadratic steps, unguided) with 0 and 4
fixed-point refinements, prints the latent's standard deviation, kurtosis (3 for Gaussian
noise) and low-frequency power (mean of the 4×4 lowest frequencies over the mean of all: 1
for white noise), then regenerates each target with the target's label only at timesteps
t ≥ τ (the source label below) and prints the mean change of the first channel (normalised
units) for each τ: where the change stops growing as τ falls, the levels below add nothing.

    python experiments/fidelity/onset.py INPUTS MODEL ... [--targets bright@3 loss@3] [--n 32]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from phendiff.data.sources import load_source
from phendiff.diffusion import exact
from phendiff.diffusion.schedule import steps_down, steps_up, timestep_grid
from phendiff.model.checkpoint import load_model
from phendiff.translate import model_denoiser

ONSETS = (0, 250, 500, 750)


def latent_stats(top: torch.Tensor) -> tuple[float, float, float]:
    """(std, kurtosis, low-frequency power ratio) of latents (N, C, Y, X)."""
    z = (top - top.mean()) / top.std()
    power = torch.fft.rfft2(top).abs().pow(2).mean(dim=(0, 1))
    return float(top.std()), float(z.pow(4).mean()), float(power[:4, :4].mean() / power.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", type=Path)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--targets", nargs="+", default=["bright@3", "loss@3", "shrink@3"])
    parser.add_argument("--n", type=int, default=32)
    a = parser.parse_args()
    fields = [r.load() for r in load_source(a.inputs) if not r.condition.dosed][: a.n]
    print("| model | refinements | latent std | kurtosis | low-freq power | target | "
          + " | ".join(f"change, target at t ≥ {t}" for t in ONSETS) + " |")  # fmt: skip
    for path in a.models:
        model = load_model(path)
        den = model_denoiser(model, "fp32")
        x = torch.as_tensor(model.normalizer.normalize(np.stack(fields).astype(np.float64)))
        grid = timestep_grid(25, len(den.alpha_bar), 1.0, "quadratic")
        up, down = steps_up(grid), steps_down(grid)
        source = torch.full((len(x),), model.conditions.label("DMSO"))
        for refinements in (0, 4):
            latent = exact.invert(den, x, source, up, None, refinements)
            std, kurtosis, low = latent_stats(latent.x_top)
            for target in a.targets:
                label = torch.full((len(x),), model.conditions.label(target))
                changes = []
                for onset in ONSETS:

                    def network(xt, t, labels, onset=onset, label=label, den=den, src=source):
                        return den.network(xt, t, torch.where(t >= onset, label, src))

                    switched = dataclasses.replace(den, network=network)
                    y = exact.generate(switched, latent, label, down)
                    changes.append(float((y[:, 0] - x[:, 0]).mean()))
                print(
                    f"| {path.name} | {refinements} | {std:.3f} | {kurtosis:.2f} | {low:.2f} | "
                    f"{target} | " + " | ".join(f"{c:+.3f}" for c in changes) + " |"
                )


if __name__ == "__main__":
    main()

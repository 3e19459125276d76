"""How Gaussian is the inverted latent, and does the target trajectory still remove cells?

Translation runs the target condition's DDIM trajectory from the latent of a real image.
A perfect inversion maps real images to Gaussian noise, and from Gaussian noise the model
draws the target's whole population, cell loss included. This script inverts the first
32 DMSO fields of SCREEN (exact inversion, STEPS steps), prints the latent's kurtosis (3 for
Gaussian noise) and its power at the lowest spatial frequencies relative to the mean (about
1 for white noise; large when the image still shows through), and the mean cells per field
of the input, of its translation to TARGET, and of TARGET drawn from fresh noise.
``--spacing quadratic`` places the steps at t = T·u² (u evenly spaced) instead of phendiff's
even ("trailing") spacing: finer steps near the data, coarser near the noise.

    python experiments/synthetic_screen/latents.py MODEL SCREEN [--steps N] [--target T]
        [--spacing even|quadratic]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from phendiff.data.sources import load_source
from phendiff.data.synthetic import CHANNELS
from phendiff.diffusion import ddim, exact
from phendiff.diffusion.schedule import steps_down, steps_up, timestep_grid
from phendiff.evaluate.features import image_table, measure_images
from phendiff.evaluate.inputs import feature_scale
from phendiff.model.checkpoint import load_model
from phendiff.translate import model_denoiser

N, LOW = 32, 4  # fields; lowest frequencies |k_y|, |k_x| <= LOW


def cells_per_field(images: np.ndarray, scale: float) -> float:
    table = measure_images([(im, {}) for im in images], CHANNELS, "DNA", "actin",
                           scale=scale, progress=False)  # fmt: skip
    return float(image_table(table)["cell_count"].mean())


def quadratic_grid(steps: int, num_train_timesteps: int) -> list[int]:
    """``[-1, t_1, ..., t_n]`` with t_i = T·(i/n)² − 1, like ``timestep_grid``'s layout."""
    ts = [round(num_train_timesteps * ((i + 1) / steps) ** 2) - 1 for i in range(steps)]
    if len(set(ts)) != steps or ts[0] < 0:
        raise SystemExit(f"{steps} quadratic steps do not fit in {num_train_timesteps} timesteps")
    return [-1, *ts]


def main(
    model_path: Path,
    screen: Path,
    steps: int = 25,
    target: str = "latrunculin@3",
    spacing: str = "even",
) -> None:
    model = load_model(model_path)
    c = model.config
    denoiser = model_denoiser(model)
    if spacing == "quadratic":
        grid = quadratic_grid(steps, c.num_train_timesteps)
    else:
        grid = timestep_grid(steps, c.num_train_timesteps)
    records = [r for r in load_source(screen) if not r.condition.dosed][:N]
    raw = np.stack([r.load() for r in records]).astype(np.float64)
    x = torch.from_numpy(model.normalizer.normalize(raw))
    source = torch.full((len(x),), model.conditions.label("DMSO"))
    labels = torch.full((len(x),), model.conditions.label(target))
    latent = exact.invert(denoiser, x, source, steps_up(grid))
    top = latent.x_top
    kurtosis = float(((top - top.mean()) / top.std()).pow(4).mean())
    power = torch.fft.fft2(top).abs().pow(2).mean(dim=(0, 1))
    k = torch.tensor([*range(LOW + 1), *range(-LOW, 0)])
    low = float(power[k][:, k].mean() / power.mean())
    translated = exact.generate(denoiser, latent, labels, steps_down(grid))
    noise = torch.randn(top.shape, generator=torch.Generator().manual_seed(0), dtype=top.dtype)
    drawn = ddim.generate(denoiser, noise, labels, steps_down(grid))  # the same grid
    scale = feature_scale(list(raw))
    print(f"{len(x)} DMSO fields, {steps} {spacing} steps: latent kurtosis {kurtosis:.1f} "
          f"(Gaussian 3), low-frequency power {low:.1f}x the mean (white noise ~1)")  # fmt: skip
    for name, images in [("input", x), (f"translated to {target}", translated),
                         (f"{target} from fresh noise", drawn)]:  # fmt: skip
        n = cells_per_field(model.normalizer.denormalize(images).numpy(), scale)
        print(f"cells per field, {name}: {n:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("screen", type=Path)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--target", default="latrunculin@3")
    parser.add_argument("--spacing", choices=("even", "quadratic"), default="even")
    a = parser.parse_args()
    main(a.model, a.screen, a.steps, a.target, a.spacing)

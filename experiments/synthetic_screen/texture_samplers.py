"""Is herbimycin's missing chromatin texture the sampler's fault or the model's?

Herbimycin roughens the DNA texture of nuclei at the pixel scale (true factor 1.34 at 3 µM,
measured ``Nuclei_Texture_Contrast_DNA_3`` about 1.23–1.29 times DMSO's). The demo model
draws it at 1.00 from noise with 25 DDIM steps. Deterministic DDIM is known to smooth fine
detail; stochastic (DDPM-like, η = 1) sampling re-injects noise at every step and often
keeps more of it. This script renders N fresh fields per condition (the same cells under
both), draws N per condition from the model with the same noise under each sampler, and
prints the herbimycin 3 µM / DMSO ratio of the mean nuclear DNA texture contrast for each.

    python experiments/synthetic_screen/texture_samplers.py MODEL [N] [SAMPLER ...]

A sampler is ``ddim:STEPS`` or ``ddpm:STEPS[:BELOW]`` (η = 1 at every step, or only at steps
whose noise level t is below BELOW; deterministic above). Default: ``ddim:25 ddim:100
ddpm:100 ddpm:50 ddpm:50:300``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from phendiff.conditions import Condition
from phendiff.data.synthetic import CHANNELS, render_field
from phendiff.diffusion.schedule import steps_down, timestep_grid
from phendiff.evaluate.features import aggregate, measure_images
from phendiff.evaluate.inputs import feature_scale
from phendiff.model.checkpoint import load_model
from phendiff.translate import model_denoiser

CONDITIONS = (Condition("DMSO", 0.0), Condition("herbimycin", 3.0))
FEATURE = "Nuclei_Texture_Contrast_DNA_3"
DEFAULT = ("ddim:25", "ddim:100", "ddpm:100", "ddpm:50", "ddpm:50:300")


def render(n: int, seed: int = 7) -> dict[str, list[np.ndarray]]:
    """n fresh fields per condition; field i is the same cells under every condition."""
    return {
        c.name: [render_field(c, np.random.default_rng([seed, i])) for i in range(n)]
        for c in CONDITIONS
    }


@torch.no_grad()
def draw(model, denoiser, condition: str, z: torch.Tensor, sampler: str) -> torch.Tensor:
    """Images of ``condition`` from noise z with ``sampler`` (normalised units, float64).

    One step from t to t' < t: x_t' = √ᾱ' x̂0 + √(1 − ᾱ' − σ²) ε̂ + σ ξ with DDPM's
    σ = η √((1 − ᾱ') / (1 − ᾱ)) √(1 − ᾱ / ᾱ'), ξ fresh noise; η = 0 is DDIM.
    """
    kind, steps, *below = sampler.split(":")
    threshold = int(below[0]) if below else None
    eta = 0.0 if kind == "ddim" else 1.0
    levels = timestep_grid(int(steps), model.config.num_train_timesteps)
    labels = torch.full((len(z),), model.conditions.label(condition))
    gen = torch.Generator().manual_seed(1)
    x = z.clone()
    for t, t_next in steps_down(levels):
        eps, x0 = denoiser(x, t, labels)
        ab, ab_next = denoiser.alpha_bar_at(t), denoiser.alpha_bar_at(t_next)
        on = eta if threshold is None or t < threshold else 0.0
        sigma = on * ((1 - ab_next) / (1 - ab) * (1 - ab / ab_next)).clamp(min=0).sqrt()
        fresh = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        x = ab_next.sqrt() * x0 + (1 - ab_next - sigma**2).clamp(min=0).sqrt() * eps
        x = x + sigma * fresh
    return x


def to_pixels(model, x: torch.Tensor, dtype: np.dtype) -> list[np.ndarray]:
    """Model-space images ``x`` back to the real fields' integer pixels (rounded, clipped)."""
    info = np.iinfo(dtype)
    pixels = model.normalizer.denormalize(x).numpy()
    return list(np.clip(np.rint(pixels), info.min, info.max).astype(dtype))


def texture(sets: dict[str, dict[str, list[np.ndarray]]], scale: float) -> dict[str, tuple]:
    """Per set: (DMSO mean, herbimycin mean, ratio) of the nuclear DNA texture contrast."""
    items = [
        (im, {"image": f"{kind}/{cond}/{i}", "condition": cond, "kind": kind})
        for kind, by_condition in sets.items()
        for cond, images in by_condition.items()
        for i, im in enumerate(images)
    ]
    cells = measure_images(items, CHANNELS, "DNA", "actin", scale=scale, progress=False)
    means = aggregate(cells, by=("kind", "condition", "image"), how="mean")
    per = means.groupby(["kind", "condition"])[FEATURE].mean()
    dmso, treated = CONDITIONS[0].name, CONDITIONS[1].name
    return {k: (per[k, dmso], per[k, treated], per[k, treated] / per[k, dmso]) for k in sets}


def main(model_path: Path, n: int, samplers: list[str]) -> None:
    model = load_model(model_path)
    denoiser = model_denoiser(model)
    real = render(n)
    scale = feature_scale([im for ims in real.values() for im in ims])
    first = real[CONDITIONS[0].name][0]
    shape = (n, first.shape[0], model.config.image_size, model.config.image_size)
    z = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sets = {"real": real}
    for sampler in samplers:
        sets[sampler] = {}
        for c in CONDITIONS:
            x = draw(model, denoiser, c.name, z, sampler)
            sets[sampler][c.name] = to_pixels(model, x, first.dtype)
        print(f"drew {sampler}", file=sys.stderr, flush=True)
    print_table(sets, scale, f"images (N = {n} per condition)")


def print_table(sets: dict[str, dict[str, list[np.ndarray]]], scale: float, head: str) -> None:
    """The texture of each set (``texture``) as a markdown table, ``head`` the first column's."""
    print(f"| {head} | DNA texture, DMSO | herbimycin 3 µM | ratio |")
    print("|---|---|---|---|")
    for kind, (d, h, r) in texture(sets, scale).items():
        print(f"| {kind} | {d:.4f} | {h:.4f} | {r:.3f} |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.split("\n\n")[-2].strip())
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    main(Path(sys.argv[1]), count, sys.argv[3:] or list(DEFAULT))

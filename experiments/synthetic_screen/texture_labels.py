"""Does the condition reach the pixel scale? One denoising step from real fields, per label.

The demo model draws herbimycin's chromatin roughening at 1.00 of DMSO's (real 1.18–1.23),
under every sampler (``texture_samplers.py``). This asks the network directly: N fresh
herbimycin 3 µM fields are noised to level t (the same noise for both labels) and denoised
once, under the DMSO label and under the herbimycin 3 µM label; the script prints the mean
nuclear ``Nuclei_Texture_Contrast_DNA_3`` of the two x̂0 sets and their ratio. A denoiser
that uses the condition keeps more texture under the herbimycin label: the optimal x̂0 is
the posterior mean, which smooths a texture less where the prior says it is stronger.

    python experiments/synthetic_screen/texture_labels.py MODEL [N] [T ...]

Default N = 24 and T = 10 30 100 250.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from phendiff.evaluate.inputs import feature_scale
from phendiff.model.checkpoint import load_model
from phendiff.translate import model_denoiser

sys.path.insert(0, str(Path(__file__).parent))
from texture_samplers import CONDITIONS, print_table, render, to_pixels  # noqa: E402

DEFAULT_LEVELS = (10, 30, 100, 250)


@torch.no_grad()
def denoise_once(model, denoiser, images: list[np.ndarray], t: int, gen) -> dict[str, list]:
    """x̂0 of ``images`` noised to level t, under each condition's label (pixels as the input)."""
    x0 = model.normalizer.normalize(torch.tensor(np.stack(images).astype(np.float64)))
    ab = denoiser.alpha_bar_at(t)
    noise = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    out = {}
    for c in CONDITIONS:
        labels = torch.full((len(images),), model.conditions.label(c.name))
        _, x0_hat = denoiser(xt, t, labels)
        out[c.name] = to_pixels(model, x0_hat, images[0].dtype)
    return out


def main(model_path: Path, n: int, levels: list[int]) -> None:
    model = load_model(model_path)
    denoiser = model_denoiser(model)
    real = render(n)
    scale = feature_scale([im for ims in real.values() for im in ims])
    gen = torch.Generator().manual_seed(0)
    treated = real[CONDITIONS[1].name]
    sets = {"real fields (DMSO / herbimycin 3 µM)": real}
    for t in levels:
        sets[f"x̂0 at t = {t}, herbimycin fields"] = denoise_once(model, denoiser, treated, t, gen)
    print_table(sets, scale, f"N = {n}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.split("\n\n")[-2].strip())
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    main(Path(sys.argv[1]), count, [int(a) for a in sys.argv[3:]] or list(DEFAULT_LEVELS))

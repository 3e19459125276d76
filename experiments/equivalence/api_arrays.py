"""Translate through the public API under every setting; save every output array to one npz.

    python experiments/equivalence/api_arrays.py OUT.npz [MODEL]   (default: the demo model)
"""

import sys

import numpy as np

from phendiff.conditions import Condition
from phendiff.data.synthetic import render_field
from phendiff.demo import demo_model_path
from phendiff.model.checkpoint import load_model
from phendiff.translate import TranslateOptions, translate

out = sys.argv[1]
model = load_model(sys.argv[2] if len(sys.argv) > 2 else demo_model_path())
imgs = np.stack(
    [render_field(Condition("DMSO"), np.random.default_rng([7, i]), 64) for i in range(3)]
)
targets = ["latrunculin@3", "nocodazole@0.3", "herbimycin@1", "DMSO"]
settings = {
    "default": dict(),
    "bdia": dict(inversion="bdia", steps=10),
    "ddim": dict(inversion="ddim", steps=10),
    "guid2": dict(guidance=2.0, steps=10),
    "cfg": dict(guidance=1.5, guidance_kind="cfg", steps=10),
    "fp32": dict(precision="fp32", steps=10),
    "fp64": dict(precision="fp64", steps=5),
    "depth": dict(depth=0.5, steps=10),
    "clip": dict(clip=1.0, steps=10),
    "netbatch": dict(network_batch=4, batch_size=2, steps=10),
}
arrays = {}
for name, kw in settings.items():
    r = translate(model, imgs, "DMSO", targets, TranslateOptions(**kw))
    arrays[f"{name}_t"] = np.stack(r.translated)
    arrays[f"{name}_r"] = np.stack(r.reconstruction)
    arrays[f"{name}_m"] = np.array([[m[k] for k in sorted(m)] for m in r.metrics])
# mixed sources and odd sizes (padding), and tiling through a small max_pixels
odd = [render_field(Condition("DMSO"), np.random.default_rng([8, 0]), 80)[:, :72, :70]]
r = translate(model, odd, "latrunculin@1", targets, TranslateOptions(steps=6))
arrays["odd_t"], arrays["odd_r"] = np.stack(r.translated), np.stack(r.reconstruction)
big = [render_field(Condition("DMSO"), np.random.default_rng([9, 0]), 320)]
r = translate(model, big, "DMSO", targets[:2], TranslateOptions(steps=4, max_pixels=200 * 200))
arrays["tile_t"], arrays["tile_r"] = np.stack(r.translated), np.stack(r.reconstruction)
mixed = translate(
    model, imgs, ["DMSO", "latrunculin@3", "DMSO"], targets, TranslateOptions(steps=6)
)
arrays["mixed_t"] = np.stack(mixed.translated)
np.savez(out, **arrays)
print("saved", len(arrays), "arrays to", out)

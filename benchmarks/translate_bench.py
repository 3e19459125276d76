"""Dose-series translation: phendiff vs the diffusers-pipeline way, side by side.

For the same model, images and dose series of 8 targets:

(a) **baseline** — what a diffusers user writes, as the PhenDiff reference code does:
    ``DDIMInverseScheduler`` 100 steps under the source label, then ``DDIMScheduler`` 100
    steps under the target, re-inverting for every target; fp32; schedulers at their
    defaults (``clip_sample=True``, as in the reference code);
(b) **phendiff** — ``phendiff.translate.translate`` at its defaults (one exact inversion per
    image shared by all targets).

Each runs in its own child process (peak memory is its own). Reported per translated image:
wall time, network evaluations (images through the UNet), peak memory, and the
reconstruction error of the same-condition round trip (MSE, normalised units). The last line
is ``speedup=<baseline time / phendiff time> reconstruction_ratio=<baseline MSE / phendiff MSE>
matched_speedup=<baseline time / time of the cheapest setting whose quality is no worse than
the 100-step translation>``; that setting comes from ``--quality``, the JSON that
``benchmarks/translation_quality.py --json`` writes (quality measured there, time here).

    python benchmarks/translate_bench.py                 # the shipped demo model, 64 px
    python benchmarks/translate_bench.py --model paper   # random-initialised paper preset, 128 px
    python benchmarks/translate_bench.py --ablation      # + each optimisation switched on in turn
    python benchmarks/translate_bench.py --repeats 3     # median of 3 alternating runs
    python benchmarks/translate_bench.py --quality quality.json   # + matched_speedup
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TARGETS = ["latrunculin@all", "nocodazole@all"]  # 8 doses


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def images_for(model_name: str, n: int):
    """(model, n fresh DMSO fields (N, C, Y, X) uint16, the 8 target names)."""
    import torch

    from phendiff.conditions import Condition, ConditionTable
    from phendiff.config import ModelConfig
    from phendiff.data.normalize import Normalizer
    from phendiff.data.synthetic import render_field, screen_conditions
    from phendiff.demo import demo_model_path
    from phendiff.model.checkpoint import PhendiffModel, load_model
    from phendiff.model.unet import ConditionalUNet

    if model_name == "demo":
        model = load_model(demo_model_path())
    else:
        torch.manual_seed(0)
        config = ModelConfig.from_preset("paper")
        table = ConditionTable.from_conditions(screen_conditions())
        net = ConditionalUNet(config, len(table)).eval().requires_grad_(False)
        model = PhendiffModel(net, config, table, Normalizer((100.0,) * 3, (2000.0,) * 3))
    size = model.config.image_size
    images = np.stack(
        [render_field(Condition("DMSO"), np.random.default_rng([5, i]), size) for i in range(n)]
    )
    targets = [c.name for spec in TARGETS for c in model.conditions.resolve(spec)]
    return model, images, targets


class Counted:
    """A model callable that counts images through the network."""

    def __init__(self, fn):
        self.fn, self.images = fn, 0

    def __call__(self, x, t, labels):
        self.images += x.shape[0]
        return self.fn(x, t, labels)


def run_baseline(model, images, targets) -> dict:
    import torch
    from diffusers import DDIMInverseScheduler, DDIMScheduler

    c = model.config
    scheduler = DDIMScheduler(
        num_train_timesteps=c.num_train_timesteps,
        beta_start=c.beta_start,
        beta_end=c.beta_end,
        beta_schedule=c.schedule,
    )
    inverse = DDIMInverseScheduler.from_config(scheduler.config)
    net = Counted(lambda x, t, y: model.network(x, t, y))
    x0 = model.normalizer.normalize(torch.from_numpy(images.astype(np.float32)))
    src = torch.full((len(x0),), model.conditions.label("DMSO"))

    def round_trip(label: int) -> torch.Tensor:
        inverse.set_timesteps(100)
        x = x0
        for t in inverse.timesteps:
            x = inverse.step(net(x, t.repeat(len(x)), src), t, x).prev_sample
        scheduler.set_timesteps(100)
        labels = torch.full_like(src, label)
        for t in scheduler.timesteps:
            x = scheduler.step(net(x, t.repeat(len(x)), labels), t, x).prev_sample
        return x

    with torch.inference_mode():
        tic = time.perf_counter()
        for target in targets:  # re-inverting for every target, as the reference code does
            round_trip(model.conditions.label(target))
        seconds = time.perf_counter() - tic
        evals = net.images
        recon = round_trip(model.conditions.label("DMSO"))
    mse = float(((recon - x0) ** 2).mean())
    return {"seconds": seconds, "evals": evals, "mse": mse}


# The optimisations switched on one at a time, each row adding one to the row above; the last
# row is phendiff's defaults. per_target: one translate() call per target (each re-inverts,
# and each also regenerates under the source as its quality check); network_batch None: as
# many images per network call as are inverted together, so targets go one after another;
# cl False: the contiguous memory layout instead of channels-last.
LADDER = [
    (
        "re-invert per target, 100 steps, fp32, contiguous",
        dict(per_target=True, steps=100, precision="fp32", network_batch=None, cl=False),
    ),
    (
        "+ invert once for all targets",
        dict(steps=100, precision="fp32", network_batch=None, cl=False),
    ),
    ("+ 25 steps", dict(precision="fp32", network_batch=None, cl=False)),
    ("+ bf16 autocast network", dict(network_batch=None, cl=False)),
    ("+ channels_last", dict(network_batch=None)),
    ("+ targets in one network batch (the defaults)", {}),
]


def run_phendiff(model, images, targets, variant: dict) -> dict:
    import dataclasses

    import torch

    import phendiff.translate as T

    chosen = T.TranslateOptions(**variant.get("options", {}))  # a setting's own options
    options = dataclasses.replace(
        chosen,
        steps=variant.get("steps", chosen.steps),
        precision=variant.get("precision", chosen.precision),
        network_batch=variant.get("network_batch", chosen.network_batch) or len(images),
        batch_size=len(images),
    )
    fmt = torch.channels_last if variant.get("cl", True) else torch.contiguous_format
    calls = [[t] for t in targets] if variant.get("per_target") else [targets]
    tic = time.perf_counter()
    # as the CLI: fixed-size network calls, except in the rows that model other tools
    fixed = None if variant.get("network_batch", 0) is None else options.network_batch
    denoiser = T.model_denoiser(model, options.precision, memory_format=fmt, network_batch=fixed)
    counted = Counted(denoiser.network)
    denoiser = dataclasses.replace(denoiser, network=counted)
    results = [
        T.translate(model, list(images), "DMSO", c, options=options, denoiser=denoiser)
        for c in calls
    ]
    seconds = time.perf_counter() - tic
    return {
        "seconds": seconds,
        "evals": counted.images,
        "mse": float(np.mean([m["mse"] for r in results for m in r.metrics])),
    }


def child(method: str, model_name: str, n: int, variant: dict) -> dict:
    rss0 = _rss_mb()
    model, images, targets = images_for(model_name, n)
    if method == "baseline":
        out = run_baseline(model, images, targets)
    else:
        out = run_phendiff(model, images, targets, variant)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0
    out["translated"] = n * len(targets)
    return out


def _spawn(method: str, model_name: str, n: int, variant: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", method, model_name, str(n), json.dumps(variant)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{method} child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["demo", "paper"], default="demo")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="also run phendiff with its optimisations switched on one at a time",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of every row, alternating (median time)"
    )
    parser.add_argument(
        "--quality",
        type=Path,
        metavar="JSON",
        help="translation_quality.py --json output: also time its cheapest setting no worse "
        "than the 100-step translation, for matched_speedup",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # method, model, images, variant as JSON
        method, model_name, n, variant = args.child
        print(json.dumps(child(method, model_name, int(n), json.loads(variant))))
        return
    variants = LADDER if args.ablation else [("phendiff", {})]
    rows = [("baseline", "baseline", {})] + [("phendiff", name, v) for name, v in variants]
    matched = _matched_setting(args.quality) if args.quality else None
    if matched is not None:
        name, options = matched
        rows.append(("phendiff", f"matched: {name}", {"options": options}))
    runs: dict[str, list[dict]] = {name: [] for _, name, _ in rows}
    for _ in range(args.repeats):  # alternating, so drifts of a shared machine hit all rows
        for method, name, variant in rows:
            runs[name].append(_spawn(method, args.model, args.images, variant))
    results = {}
    for name, rs in runs.items():
        results[name] = {**rs[0], "seconds": statistics.median(r["seconds"] for r in rs)}
        results[name]["peak_mb"] = max(r["peak_mb"] for r in rs)
    b = results["baseline"]
    print(
        f"model {args.model}, {args.images} DMSO images x 8 targets, median of {args.repeats}; "
        "per translated image:"
    )
    width = max(len(name) for name in results)
    print(
        f"{'method':<{width}} {'seconds':>8} {'network evals':>14} {'peak MiB':>9} "
        f"{'recon MSE':>10} {'speedup':>8}"
    )
    for name, r in results.items():
        n = r["translated"]
        print(
            f"{name:<{width}} {r['seconds'] / n:>8.3f} {r['evals'] / n:>14.1f} "
            f"{r['peak_mb']:>9.0f} {r['mse']:>10.3g} {b['seconds'] / r['seconds']:>8.2f}"
        )
    p = results[variants[-1][0]]  # phendiff at its defaults
    if matched is not None:
        m = results[rows[-1][1]]
        match = f"matched_speedup={b['seconds'] / m['seconds']:.2f}"
    elif args.quality:
        match = "matched_speedup=none (no setting matched the 100-step translation)"
    else:
        match = "matched_speedup=unmeasured (pass --quality from translation_quality.py --json)"
    # an exact round trip can be exactly 0 (the quadratic grid): the ratio is then infinite
    ratio = f"{b['mse'] / p['mse']:.3g}" if p["mse"] > 0 else "inf"
    print(f"speedup={b['seconds'] / p['seconds']:.2f} reconstruction_ratio={ratio} {match}")


def _matched_setting(path: Path) -> tuple[str, dict] | None:
    """(name, TranslateOptions fields) of the cheapest setting no worse than the reference."""
    quality = json.loads(path.read_text())
    name = quality["cheapest_match"]
    if name is None:
        return None
    row = next(r for r in quality["rows"] if r["setting"] == name)
    return name, {k: v for k, v in row["options"].items() if k not in ("batch_size",)}


if __name__ == "__main__":
    main()

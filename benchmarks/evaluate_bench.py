"""``phendiff evaluate`` before and after the fast FID path, side by side on the same folders.

**old**: every FID's trace term from :func:`scipy.linalg.sqrtm` of the D×D product (D = 2048
for Inception), the copy-source set's features extracted again for every target and the
real-vs-real floor's halves extracted again (the evaluate of commit 18c329e).
**new**: today's :func:`phendiff.evaluate.analyses.fid_table`: the trace from the singular
values of an N×M matrix, each image set through the network once.

Both run on the same loaded images with the same FID network, in this process, alternating
old/new for ``--repeats``; the FID values must agree to 1e-6 relative (KID is not compared: its
subsets are now at most half the set, a deliberate change). By default the folders are those
of ``experiments/synthetic_screen/run.sh`` (13 conditions × 32 images); missing ones are made
with the shipped demo model (synth, then translate 25 steps, as run.sh does).

    python benchmarks/evaluate_bench.py [--workdir runs/synthetic_screen] [--images 32]
    python benchmarks/evaluate_bench.py --fid-only       # the FID stage alone, not all of evaluate

Last line: ``evaluate_speedup=<old/new whole evaluate> fid_speedup=<old/new FID stage>``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FID_COLUMNS = ("fid_translated", "fid_copy", "fid_real_split")


def old_fid_table(sets, options, progress, extractor):
    """The FID stage as it was: features per (set, target), floor halves re-extracted."""
    import pandas as pd

    from phendiff.data.normalize import Normalizer
    from phendiff.evaluate import fid as F
    from phendiff.evaluate.analyses import _too_few
    from phendiff.evaluate.inputs import same_size

    normalizer = Normalizer.fit([im for ims in sets.real.values() for im in ims], seed=options.seed)
    cache = {}

    def features_of(images):
        batch = np.stack([normalizer.normalize(im) for im in same_size(images)])
        return F.extract_features(extractor, batch, sets.channel_names)

    def feats(key, images):
        if key not in cache:
            cache[key] = features_of(images)
        return cache[key]

    kw = dict(kid_subsets=options.kid_subsets, kid_subset_size=options.kid_subset_size,
              seed=options.seed)  # fmt: skip
    copies = [im for _, im in sets.sources.values()]
    rows = []
    with _sqrtm_fid():
        for target, items in sets.translated.items():
            real = sets.real.get(target, [])
            row = {"condition": target, "n_real": len(real), "n_translated": len(items),
                   "n_copy": len(copies), "extractor": extractor.name}  # fmt: skip
            why = _too_few(real, items)
            if why:
                rows.append({**row, "note": why})
                continue
            row["note"] = ""
            ref = feats(f"real:{target}", real)
            for name, images in (("translated", [im for _, im in items]), ("copy", copies)):
                score = F.fid_kid(ref, feats(f"{name}:{target}", images), **kw)
                row |= {f"fid_{name}": score["fid"], f"kid_{name}": score["kid_mean"],
                        f"kid_std_{name}": score["kid_std"]}  # fmt: skip
            if len(real) >= 4:
                order = np.random.default_rng(options.seed).permutation(len(real))
                half = len(real) // 2
                a = features_of([real[i] for i in order[:half]])
                b = features_of([real[i] for i in order[half:]])
                score = F.fid_kid(a, b, **kw)
                row |= {"fid_real_split": score["fid"], "kid_real_split": score["kid_mean"]}
            rows.append(row)
    return pd.DataFrame(rows)


@contextlib.contextmanager
def _sqrtm_fid():
    """Every FID computed with the D×D ``scipy.linalg.sqrtm`` path."""
    from phendiff.evaluate.fid import metrics

    fast = metrics.fid_from_features
    metrics.fid_from_features = functools.partial(fast, method="sqrtm")
    try:
        yield
    finally:
        metrics.fid_from_features = fast


@contextlib.contextmanager
def _old_evaluate():
    from phendiff.evaluate import analyses

    new = analyses.fid_table
    analyses.fid_table = lambda sets, options, progress, extractor=None: old_fid_table(
        sets, options, progress, extractor or analyses.fid_extractor(options)
    )
    try:
        yield
    finally:
        analyses.fid_table = new


RUN_SH_TARGETS = ["DMSO", "latrunculin@all", "nocodazole@all", "herbimycin@all"]


def _make_folders(work: Path, images: int, steps: int, targets: list[str]) -> tuple[Path, Path]:
    """``heldout`` and ``translated`` as run.sh makes them, with the demo model if needed."""
    from phendiff.demo import demo_model_path

    real, inputs, translated = work / "heldout", work / "inputs", work / "translated"
    run = [sys.executable, "-m", "phendiff"]
    for folder, seed in ((real, 1), (inputs, 2)):
        if not folder.exists():
            subprocess.run([*run, "synth", str(folder), "--per-condition", str(images),
                            "--seed", str(seed), "-q"], check=True)  # fmt: skip
    if not translated.exists():
        subprocess.run([*run, "translate", str(demo_model_path()), str(inputs / "DMSO"),
                        "--source", "DMSO", "--out", str(translated), "--steps", str(steps),
                        *[a for t in targets for a in ("--target", t)], "-q"],
                       check=True)  # fmt: skip
    return real, translated


def _agree(old, new) -> float:
    """Largest relative difference of the FID columns; raises if they are not all present."""
    merged = old.merge(new, on="condition", suffixes=("_old", "_new"))
    worst = 0.0
    for column in FID_COLUMNS:
        a, b = merged[f"{column}_old"].to_numpy(float), merged[f"{column}_new"].to_numpy(float)
        ok = ~np.isnan(a)
        if not np.array_equal(ok, ~np.isnan(b)):
            raise SystemExit(f"{column}: old and new computed FID for different conditions")
        worst = max(worst, float(np.max(np.abs(a[ok] - b[ok]) / np.abs(a[ok]), initial=0.0)))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/synthetic_screen"))
    parser.add_argument("--images", type=int, default=32, help="per condition, for new folders")
    parser.add_argument("--steps", type=int, default=25, help="translate steps, for new folders")
    parser.add_argument("--targets", nargs="+", default=RUN_SH_TARGETS,
                        help="translate targets, for a new translated folder")  # fmt: skip
    parser.add_argument("--fid-weights", default="auto", help="as phendiff evaluate's")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--fid-only", action="store_true", help="skip the whole-evaluate timing")
    args = parser.parse_args()

    from phendiff.config import EvaluateOptions
    from phendiff.evaluate import analyses
    from phendiff.evaluate.inputs import load_sets

    real, translated = _make_folders(args.workdir, args.images, args.steps, args.targets)
    options = EvaluateOptions(fid_weights=args.fid_weights)
    extractor = analyses.fid_extractor(options)
    if isinstance(extractor, str):
        raise SystemExit(f"{extractor} (this benchmark needs a FID network)")
    sets = load_sets(real, translated)
    sizes = sorted({len(v) for v in sets.real.values()})
    print(f"{len(sets.translated)} targets, {sizes} real images per condition, "
          f"{len(sets.sources)} inputs; FID network {extractor.name}")  # fmt: skip

    times = {"old": [], "new": []}
    tables = {}
    for _ in range(args.repeats):
        for name, run in (("old", old_fid_table), ("new", analyses.fid_table)):
            tic = time.perf_counter()
            tables[name] = run(sets, options, False, extractor)
            times[name].append(time.perf_counter() - tic)
    worst = _agree(tables["old"], tables["new"])
    fid = {k: float(np.median(v)) for k, v in times.items()}
    print(f"FID stage: old {fid['old']:.1f} s, new {fid['new']:.1f} s; FID values agree to "
          f"{worst:.1e} relative")  # fmt: skip
    if worst > 1e-6:
        raise SystemExit(f"old and new FID differ by {worst:.2e} relative (> 1e-6)")

    whole = {"old": float("nan"), "new": float("nan")}
    if not args.fid_only:
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("old", "new"):
                out = Path(tmp) / name
                tic = time.perf_counter()
                with _old_evaluate() if name == "old" else contextlib.nullcontext():
                    analyses.evaluate(real, translated, out, options, progress=False)
                whole[name] = time.perf_counter() - tic
                shutil.rmtree(out)
        print(f"whole evaluate: old {whole['old']:.1f} s, new {whole['new']:.1f} s")
    print(f"evaluate_speedup={whole['old'] / whole['new']:.2f} "
          f"fid_speedup={fid['old'] / fid['new']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

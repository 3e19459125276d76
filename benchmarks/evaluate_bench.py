"""``phendiff evaluate`` before and after the fast FID path, side by side on the same folders.

**old**: every FID's trace term from :func:`scipy.linalg.sqrtm` of the D×D product (D = 2048
for Inception), the copy-source set's features extracted again for every target and the
real-vs-real floor's halves extracted again (the evaluate of commit 18c329e).
**new**: today's :func:`phendiff.evaluate.analyses.fid_table`: the trace from the singular
values of an N×M matrix, each image set through the network once.

Both run on the same loaded images with the same FID network, in this process, alternating
old/new for ``--repeats``; the time spent in the network is reported apart from the FID
arithmetic. The FID values must agree to 1e-6 relative; where they do not, the least-agreeing
value is recomputed on one set of features by both methods and exactly (40-digit mpmath), and
the new path must be within 1e-6 of the exact value (KID is not compared: its subsets are now
at most half the set, a deliberate change). By default the folders are those
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
def _network_clock():
    """Seconds spent in the FID network's feature extraction while the block runs."""
    from phendiff.evaluate import fid as F

    original, clock = F.extract_features, [0.0]

    def timed(*args, **kw):
        tic = time.perf_counter()
        try:
            return original(*args, **kw)
        finally:
            clock[0] += time.perf_counter() - tic

    F.extract_features = timed
    try:
        yield clock
    finally:
        F.extract_features = original


@contextlib.contextmanager
def _old_evaluate():
    from phendiff.evaluate import analyses

    new = analyses.fid_table
    analyses.fid_table = lambda sets, options, progress, extractor=None, device=None: old_fid_table(
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


def _agree(old, new) -> dict[str, tuple[float, str]]:
    """Per FID column, the largest relative difference and its condition."""
    merged = old.merge(new, on="condition", suffixes=("_old", "_new"))
    worst = {}
    for column in FID_COLUMNS:
        a, b = merged[f"{column}_old"].to_numpy(float), merged[f"{column}_new"].to_numpy(float)
        ok = ~np.isnan(a)
        if not np.array_equal(ok, ~np.isnan(b)):
            raise SystemExit(f"{column}: old and new computed FID for different conditions")
        rel = np.abs(a[ok] - b[ok]) / np.abs(a[ok])
        k = int(np.argmax(rel)) if rel.size else 0
        worst[column] = (float(rel[k]) if rel.size else 0.0, merged["condition"][ok].iloc[k])
    return worst


def exact_fid(f1: np.ndarray, f2: np.ndarray, digits: int = 40) -> float:
    """FID in ``digits``-digit arithmetic (mpmath): means, traces and the singular values of
    A Bᵀ (A, B the centred features over √(N−1)), all from the float64 features."""
    import mpmath

    with mpmath.workdps(digits):

        def centred(f):
            rows = [[mpmath.mpf(float(v)) for v in row] for row in f]
            mean = [mpmath.fsum(col) / len(f) for col in zip(*rows, strict=True)]
            scale = mpmath.sqrt(len(f) - 1)
            return [[(v - m) / scale for v, m in zip(row, mean, strict=True)] for row in rows], mean

        a, mu1 = centred(f1)
        b, mu2 = centred(f2)
        cross = mpmath.matrix([[mpmath.fdot(x, y) for y in b] for x in a])
        singular = mpmath.svd_r(cross, compute_uv=False)
        total = mpmath.fsum((x - y) ** 2 for x, y in zip(mu1, mu2, strict=True))
        total += mpmath.fsum(v * v for row in a for v in row)
        total += mpmath.fsum(v * v for row in b for v in row)
        return float(total - 2 * mpmath.fsum(singular))


def reference_check(sets, options, extractor, column: str, condition: str) -> float:
    """For the least-agreeing (column, condition): the old and new arithmetic and the exact
    value on the same features, and for the floor the old re-extracted halves; returns the
    new path's relative error against the exact value."""
    from phendiff.data.normalize import Normalizer
    from phendiff.evaluate import fid as F
    from phendiff.evaluate.fid.metrics import fid_from_features
    from phendiff.evaluate.inputs import same_size

    normalizer = Normalizer.fit([im for ims in sets.real.values() for im in ims], seed=options.seed)

    def features(images):
        batch = np.stack([normalizer.normalize(im) for im in same_size(images)])
        found = F.extract_features(extractor, batch, sets.channel_names)
        if len(found) != 1:
            raise SystemExit("reference check: only single-view (3-channel) features")
        return next(iter(found.values()))

    real = sets.real[condition]
    ref = features(real)
    if column == "fid_translated":
        other = features([im for _, im in sets.translated[condition]])
    elif column == "fid_copy":
        other = features([im for _, im in sets.sources.values()])
    else:
        order = np.random.default_rng(options.seed).permutation(len(real))
        half = len(real) // 2
        ref, other = ref[order[:half]], ref[order[half:]]
        apart = [features([real[i] for i in idx]) for idx in (order[:half], order[half:])]
        print(f"  {column} {condition}: old path's halves extracted apart, sqrtm: "
              f"{fid_from_features(*apart, method='sqrtm'):.10g}")  # fmt: skip
    exact = exact_fid(ref, other)
    new = fid_from_features(ref, other)
    old = fid_from_features(ref, other, method="sqrtm")
    print(f"  {column} {condition} on the same features: exact {exact:.10g}; singular values "
          f"{new:.10g} ({abs(new - exact) / exact:.1e} off); sqrtm {old:.10g} "
          f"({abs(old - exact) / exact:.1e} off)")  # fmt: skip
    return abs(new - exact) / exact


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
    spent = {"old": [], "new": []}  # of which in the FID network
    tables = {}
    for _ in range(args.repeats):
        for name, run in (("old", old_fid_table), ("new", analyses.fid_table)):
            with _network_clock() as clock:
                tic = time.perf_counter()
                tables[name] = run(sets, options, False, extractor)
                times[name].append(time.perf_counter() - tic)
            spent[name].append(clock[0])
    agree = _agree(tables["old"], tables["new"])
    fid = {k: float(np.median(v)) for k, v in times.items()}
    network = {k: float(np.median(v)) for k, v in spent.items()}
    print(f"FID stage: old {fid['old']:.1f} s (network {network['old']:.1f} s), new "
          f"{fid['new']:.1f} s (network {network['new']:.1f} s)")  # fmt: skip
    for column, (rel, condition) in agree.items():
        print(f"  {column}: old and new agree to {rel:.1e} relative (worst: {condition})")
    failed = None
    column, (worst, condition) = max(agree.items(), key=lambda kv: kv[1][0])
    if worst > 1e-6:
        off = reference_check(sets, options, extractor, column, condition)
        if off > 1e-6:
            failed = f"the new FID is {off:.1e} off the exact value (> 1e-6)"

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
    print(f"FID arithmetic (stage minus network): old {fid['old'] - network['old']:.1f} s, new "
          f"{fid['new'] - network['new']:.1f} s")  # fmt: skip
    print(f"evaluate_speedup={whole['old'] / whole['new']:.2f} "
          f"fid_speedup={fid['old'] / fid['new']:.2f}")  # fmt: skip
    if failed:
        raise SystemExit(failed)


if __name__ == "__main__":
    main()

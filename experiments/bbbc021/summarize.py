"""The PhenDiff paper's BBBC021 results, from this experiment's outputs, under ``WORKDIR/paper/``.

- ``table1_fid.csv`` (Table 1): one row per translated condition, DMSO and every dose:
  FID/KID of the translations against the real images of that condition, beside the
  copy-source baseline (the untranslated DMSO inputs against the same real images) and the
  real-vs-real floor (two halves of the real images), with the set sizes;
- ``table2_reconstruction.csv`` (Table 2): the round trip of the DMSO inputs, one row per
  metric (mean, sd, median, max over the inputs): ``mse``, ``psnr`` (normalised [-1, 1]
  space), ``l2`` (‖x − x̂‖₂ over C·H·W of the whole field, [-1, 1]), ``l2_255`` (the same on
  0–255) and ``l2_255_128px``: ``l2_255`` rescaled to a 3 × 128 × 128 image,
  ``sqrt(mse · 3 · 128²) · 127.5``, the size of the paper's images (an L2 norm grows with the
  square root of the pixel count, so whole fields are not comparable with the paper's 415);
- ``fig3_dose_series.png`` and ``fig3_dose_series_differences.png`` (Fig. 3): the first
  input and its translations to every dose, as ``phendiff translate`` drew them;
- ``fig4_scatter.png`` / ``.svg`` (Fig. 4): every (feature, dose) shift from DMSO, real vs
  translated, in SDs of the real DMSO images, with Pearson r per compound (from the report);
- ``summary.md``: the above as markdown (also printed).

``--check`` then verifies that every file exists and that Table 1 has a FID for DMSO and for
every dose the inputs were translated to, and exits 1 with the list of what is missing.

    python experiments/bbbc021/summarize.py WORKDIR [--check]
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from phendiff.conditions import Condition
from phendiff.evaluate.summary import fid_per_dose

PAPER_SIZE = 128  # px: the side of the paper's images
PAPER_L2 = 415  # the paper's Table 2 for PhenDiff (units not stated there)
TABLE1_COLUMNS = [
    "condition", "compound", "concentration_uM", "n_real", "n_translated", "fid_translated",
    "fid_copy", "fid_real_split", "kid_translated", "kid_copy", "note",
]  # fmt: skip
TABLE2_COLUMNS = ["metric", "units", "mean", "sd", "median", "max", "n"]
UNITS = {
    "mse": "normalised [-1, 1], per pixel",
    "psnr": "dB, peak-to-peak 2",
    "l2": "‖x − x̂‖₂ over C·H·W of the field, [-1, 1]",
    "l2_255": "‖x − x̂‖₂ over C·H·W of the field, 0–255",
    "l2_255_128px": "l2_255 rescaled to 3 × 128 × 128 (the paper's size)",
}
FIGURES = {
    "fig3_dose_series.png": "report/figures/input0_dose_series.png",
    "fig3_dose_series_differences.png": "report/figures/input0_dose_series_differences.png",
    "fig4_scatter.png": "report/figures/fig4_scatter.png",
    "fig4_scatter.svg": "report/figures/fig4_scatter.svg",
}


def table1(fid: pd.DataFrame) -> pd.DataFrame:
    """fid_kid.csv as one row per condition, DMSO first, each compound by dose."""
    parsed = [Condition.parse(n) for n in fid["condition"]]
    out = fid.assign(
        compound=[c.compound for c in parsed],
        concentration_uM=[c.concentration for c in parsed],
        order=[c.sort_key("DMSO") for c in parsed],
    )
    out = out.sort_values("order").drop(columns="order")
    return out.reindex(columns=TABLE1_COLUMNS)


def table2(recon: pd.DataFrame) -> pd.DataFrame:
    """One row per reconstruction metric: mean, sd, median and max over the inputs."""
    values = {k: recon[f"recon_{k}"] for k in ("mse", "psnr", "l2", "l2_255")}
    values["l2_255_128px"] = np.sqrt(recon["recon_mse"] * 3 * PAPER_SIZE**2) * 127.5
    rows = []
    for metric, v in values.items():
        v = v.astype(float)
        finite = v[np.isfinite(v)]  # an exact round trip has PSNR = inf
        rows.append({
            "metric": metric, "units": UNITS[metric], "mean": finite.mean(),
            "sd": finite.std(ddof=1) if len(finite) > 1 else math.nan,
            "median": v.median(), "max": v.max(), "n": len(v),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def _markdown(frame: pd.DataFrame, digits: int = 1) -> str:
    def cell(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.{digits}f}" if abs(v) >= 0.01 else f"{v:.2e}"
        return str(v)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|---" * len(frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def summary(w: Path, t1: pd.DataFrame, t2: pd.DataFrame) -> str:
    tables = w / "report" / "tables"
    fid = pd.read_csv(tables / "fid_kid.csv", keep_default_na=False, na_values=[""])
    parts = ["# BBBC021: the PhenDiff paper's tables and figures\n"]
    notes = sorted({str(n) for n in fid.get("note", []) if isinstance(n, str) and n})
    parts.append("## Table 1: FID per dose (whole fields; translated, copy-source baseline, "
                 "real-vs-real floor)\n")  # fmt: skip
    for compound, table in fid_per_dose(fid).items():
        parts.append(f"**{compound}**\n\n{_markdown(table)}\n")
    sizes = t1[["condition", "n_real", "n_translated"]]
    parts.append(f"Images per set:\n\n{_markdown(sizes)}\n")
    parts += [f"- {n}" for n in notes]
    parts.append("\n## Table 2: reconstruction of the DMSO inputs (same-condition round trip)\n")
    parts.append(_markdown(t2, 3) + "\n")
    parts.append(f"The paper reports {PAPER_L2} for PhenDiff (plain DDIM inversion, 128 px "
                 "images; its units are not stated): compare `l2_255_128px`.\n")  # fmt: skip
    parts.append("## Fig. 3 and Fig. 4\n")
    corr = tables / "effect_correlations.csv"
    if corr.is_file():
        r = pd.read_csv(corr)
        parts.append("Fig. 4, Pearson r of real vs translated shifts over every (feature, dose):"
                     f"\n\n{_markdown(r, 2)}\n")  # fmt: skip
    parts.append("Files: " + ", ".join(f"`paper/{n}`" for n in FIGURES) + "; the full report: "
                 "`report/index.html`.\n")  # fmt: skip
    return "\n".join(parts)


def check(w: Path, t1: pd.DataFrame) -> list[str]:
    """What is missing: files, and FID rows of the conditions the inputs were translated to."""
    problems = [f"{w}/{p} is missing or empty" for p in
                ["report/index.html", *(f"paper/{n}" for n in
                 ["table1_fid.csv", "table2_reconstruction.csv", "summary.md", *FIGURES])]
                if not (w / p).is_file() or (w / p).stat().st_size == 0]  # fmt: skip
    targets = set(pd.read_csv(w / "translated" / "translations.csv")["target"])
    have = dict(zip(t1["condition"], t1["fid_translated"], strict=True))
    for name in sorted(targets):
        if name not in have:
            problems.append(f"Table 1 has no row for {name}")
        elif not np.isfinite(have[name]):
            problems.append(f"Table 1: no FID for {name}")
    return problems


def main(w: Path, run_check: bool) -> None:
    tables, out = w / "report" / "tables", w / "paper"
    out.mkdir(exist_ok=True)
    t1 = table1(pd.read_csv(tables / "fid_kid.csv"))
    t1.to_csv(out / "table1_fid.csv", index=False)
    t2 = table2(pd.read_csv(tables / "reconstruction.csv"))
    t2.to_csv(out / "table2_reconstruction.csv", index=False)
    for name, src in FIGURES.items():
        if (w / src).is_file():
            shutil.copyfile(w / src, out / name)
    text = summary(w, t1, t2)
    (out / "summary.md").write_text(text, encoding="utf-8")
    print(text)
    if run_check:
        problems = check(w, t1)
        if problems:
            sys.exit("check failed:\n  " + "\n  ".join(problems))
        print(f"check passed: {len(t1)} FID rows, {len(t2)} reconstruction metrics, "
              f"{len(FIGURES)} figures in {out}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--check", action="store_true", help="verify every expected output")
    args = parser.parse_args()
    main(args.workdir, args.check)

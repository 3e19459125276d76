"""The paper's two tables in phendiff's units, for every method evaluated on the same sets.

Reads the reports written by ``run.sh`` (phendiff's demo model: ``WORKDIR/report``) and
``baselines.sh`` (``WORKDIR/baselines/<method>-report``, ``phendiff`` among them when it trained
one with the baselines' budget) and prints, as Markdown:

1. FID per latrunculin dose (Table 1), with each report's copy-source FID and the DMSO floor
   (the inputs against real DMSO);
2. reconstruction of the real DMSO inputs (Table 2): mean L2 on the 0–255 scale (the paper's
   unit) and mean squared error in normalised units;
3. the same-conclusion rate over latrunculin's tests with the replicate ceiling, and the share
   of latrunculin's features with a real dose effect that track real (dose-curve r ≥ 0.9).

    python experiments/synthetic_screen/summarize_baselines.py WORKDIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

COMPOUND = "latrunculin"
TRACK_R = 0.9
ALPHA = 0.05


def reports(work: Path) -> dict[str, Path]:
    """Method name → report folder, for those that exist."""
    found = {"phendiff (run.sh)": work / "report"}
    names = {"phendiff": "phendiff", "stargan": "StarGAN", "cyclegan": "CycleGAN",
             "phenex": "PhenEx/W", "phenex-w+": "PhenEx/W+"}  # fmt: skip
    for key, name in names.items():
        found[name] = work / "baselines" / f"{key}-report"
    return {k: v for k, v in found.items() if (v / "tables" / "fid_kid.csv").is_file()}


def _dose(condition: str) -> float:
    return float(condition.split("@")[1])


def fid_rows(found: dict[str, Path]) -> pd.DataFrame:
    rows, copy, floor = {}, None, None
    for name, report in found.items():
        fid = pd.read_csv(report / "tables" / "fid_kid.csv").set_index("condition")
        doses = sorted((c for c in fid.index if c.startswith(f"{COMPOUND}@")), key=_dose)
        rows[name] = {f"{_dose(c):g} µM": fid.loc[c, "fid_translated"] for c in doses}
        if copy is None:
            copy = {f"{_dose(c):g} µM": fid.loc[c, "fid_copy"] for c in doses}
            floor = fid.loc["DMSO", "fid_copy"] if "DMSO" in fid.index else np.nan
    table = pd.DataFrame(rows).T
    if copy is not None:
        table.loc["copy-source (input unchanged)"] = pd.Series(copy)
        table["DMSO floor"] = np.nan
        table.loc["copy-source (input unchanged)", "DMSO floor"] = floor
    return table


def other_rows(found: dict[str, Path]) -> pd.DataFrame:
    rows = []
    for name, report in found.items():
        tables = report / "tables"
        recon = pd.read_csv(tables / "reconstruction.csv")
        row = {"method": name, "images": len(recon),
               "recon L2 (0–255)": recon["recon_l2_255"].mean(),
               "recon MSE": recon["recon_mse"].mean()}  # fmt: skip
        # cells per field at the top dose over DMSO's (no cells found: no per-cell statistics)
        images = pd.read_csv(tables / "images.csv", usecols=["kind", "condition", "cell_count"])
        per_field = images.groupby(["kind", "condition"])["cell_count"].mean()
        for kind in ("translated", "real"):
            top, dmso = (per_field.get((kind, c), np.nan) for c in (f"{COMPOUND}@3", "DMSO"))
            row[f"survival 3 µM, {kind}"] = top / dmso if dmso > 0 else np.nan
        agree = tables / "agreement.csv"
        if agree.is_file():
            a = pd.read_csv(agree)
            a = a[(a["level"] == "compound") & (a["compound"] == COMPOUND)]
            row["same conclusion"] = a["same_conclusion_rate"].mean() if len(a) else np.nan
        ceiling = tables / "replicate_agreement.csv"
        if ceiling.is_file():
            c = pd.read_csv(ceiling)
            c = c[(c["level"] == "compound") & (c["compound"] == COMPOUND)]
            row["replicate ceiling"] = c["same_conclusion_rate"].mean() if len(c) else np.nan
        corr, tests = tables / "dose_correlations.csv", tables / "condition_tests.csv"
        if corr.is_file() and tests.is_file():
            r, t = pd.read_csv(corr), pd.read_csv(tests)
            real = t[(t["kind"] == "real") & (t["compound"] == COMPOUND)]
            effect = real.groupby("feature")["q"].min() < ALPHA
            g = r[(r["compound"] == COMPOUND) & r["feature"].map(effect).fillna(False).astype(bool)]
            row["tracking real"] = (g["r"] >= TRACK_R).mean() if len(g) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame, index: bool = True) -> str:
    frame = frame.reset_index(names="") if index else frame

    def cell(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"
        return str(v)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|---" * len(frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def main(work: Path) -> None:
    found = reports(work)
    if not found:
        sys.exit(f"no report under {work} (run run.sh and baselines.sh first)")
    print(f"**FID per {COMPOUND} dose** (lower is better)\n")
    print(_markdown(fid_rows(found)) + "\n")
    print("**Reconstruction of the real DMSO inputs, conclusions and tracking**\n")
    print(_markdown(other_rows(found), index=False) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python summarize_baselines.py WORKDIR (as baselines.sh calls it)")
    main(Path(sys.argv[1]))

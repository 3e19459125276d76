"""The paper's two tables in phendiff's units, for every method evaluated on the same sets.

Reads the reports written by ``run.sh`` (phendiff's demo model: ``WORKDIR/report``) and
``baselines.sh`` (``WORKDIR/baselines/<method>-report``, ``demo`` the shipped demo model and
``phendiff`` a phendiff model trained with the baselines' budget, when they ran), or the copies
``baselines.sh`` keeps with ``KEEP=DIR`` (the same layout, with each method's training record),
and prints, as Markdown:

1. FID per latrunculin dose (Table 1), with each report's copy-source FID and the DMSO floor
   (the inputs against real DMSO);
2. reconstruction of the real DMSO inputs (Table 2): mean L2 on the 0–255 scale (the paper's
   unit) and mean squared error in normalised units;
3. the same-conclusion rate over latrunculin's tests with the replicate ceiling, and the share
   of latrunculin's features with a real dose effect that track real (dose-curve r ≥ 0.9).

    python experiments/synthetic_screen/summarize_baselines.py WORKDIR
    python experiments/synthetic_screen/summarize_baselines.py keep REPORT MODEL DEST MINUTES

``keep`` (what ``baselines.sh`` runs with ``KEEP``) copies the columns of REPORT's tables that
this summary reads, MODEL's ``config.json`` (its ``training``: steps, images seen) and the
budget to DEST, atomically: about 1/20 of the report's tables, small enough to commit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

COMPOUND = "latrunculin"
TRACK_R = 0.9
ALPHA = 0.05


def reports(work: Path) -> dict[str, Path]:
    """Method name → report folder, for those that exist."""
    found = {"phendiff (run.sh)": work / "report"}
    names = {"demo": "phendiff (demo model)", "phendiff": "phendiff", "stargan": "StarGAN",
             "cyclegan": "CycleGAN", "phenex": "PhenEx/W", "phenex-w+": "PhenEx/W+"}  # fmt: skip
    for key, name in names.items():
        found[name] = work / "baselines" / f"{key}-report"
    return {k: v for k, v in found.items() if (v / "tables" / "fid_kid.csv").is_file()}


def training(report: Path) -> dict[str, float]:
    """The budget in minutes and the optimizer steps behind a report, where recorded: the
    copies ``KEEP`` makes hold them; a live work folder's model folder holds the steps."""
    method = report.name.removesuffix("-report").removesuffix("-w+")
    kept, live = report / "model_config.json", report.with_name(method) / "model" / "config.json"
    row = {}
    for path in (kept, live):
        if path.is_file():
            row["steps"] = json.loads(path.read_text()).get("training", {}).get("steps", np.nan)
            break
    if (report / "budget.json").is_file():
        row["minutes"] = json.loads((report / "budget.json").read_text())["minutes"]
    return row


def _dose(condition: str) -> float:
    return float(condition.split("@")[1])


def fid_rows(found: dict[str, Path]) -> pd.DataFrame:
    rows, copy, floor = {}, None, None
    for name, report in found.items():
        fid = pd.read_csv(report / "tables" / "fid_kid.csv").set_index("condition")
        doses = sorted((c for c in fid.index if c.startswith(f"{COMPOUND}@")), key=_dose)
        rows[name] = {f"{_dose(c):g} µM": fid.loc[c, "fid_translated"] for c in doses}
        this = {f"{_dose(c):g} µM": fid.loc[c, "fid_copy"] for c in doses}
        if copy is None:
            copy, first = this, name
            floor = fid.loc["DMSO", "fid_copy"] if "DMSO" in fid.index else np.nan
        elif any(abs(this.get(k, np.nan) - v) > 1e-3 for k, v in copy.items()):
            # reports kept from several sittings must score the same held-out sets
            print(f"warning: {name}'s copy-source FIDs differ from {first}'s: not the "
                  "same held-out and input sets; the rows are not comparable",
                  file=sys.stderr)  # fmt: skip
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
               "recon MSE": recon["recon_mse"].mean(), **training(report)}  # fmt: skip
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


# the tables and columns read above: what ``keep`` copies
KEPT = {
    "fid_kid": ["condition", "fid_translated", "fid_copy"],
    "reconstruction": ["recon_l2_255", "recon_mse"],
    "images": ["kind", "condition", "cell_count"],
    "agreement": ["level", "compound", "same_conclusion_rate"],
    "replicate_agreement": ["level", "compound", "same_conclusion_rate"],
    "dose_correlations": ["compound", "feature", "r"],
    "condition_tests": ["kind", "compound", "feature", "q"],
}


def keep(report: Path, model: Path, dest: Path, minutes: float) -> None:
    """Copy what the summary reads of ``report`` (and ``model``'s training record) to ``dest``."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "tables").mkdir(parents=True)
    for name, columns in KEPT.items():
        source = report / "tables" / f"{name}.csv"
        if source.is_file():
            pd.read_csv(source, usecols=columns).to_csv(tmp / "tables" / source.name, index=False)
    shutil.copy(model / "config.json", tmp / "model_config.json")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"  # fmt: skip
    budget = {"minutes": minutes, "date": time.strftime("%Y-%m-%d"), "commit": commit}
    (tmp / "budget.json").write_text(json.dumps(budget) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def main(work: Path) -> None:
    found = reports(work)
    if not found:
        sys.exit(f"no report under {work} (run run.sh and baselines.sh first)")
    print(f"**FID per {COMPOUND} dose** (lower is better)\n")
    print(_markdown(fid_rows(found)) + "\n")
    print("**Reconstruction of the real DMSO inputs, conclusions and tracking**\n")
    print(_markdown(other_rows(found), index=False) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "keep":
        keep(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) == 2:
        main(Path(sys.argv[1]))
    else:
        sys.exit("usage: python summarize_baselines.py WORKDIR, or ... keep REPORT MODEL DEST "
                 "MINUTES (as baselines.sh calls it)")  # fmt: skip

"""Print the validation's results tables (markdown) from an evaluation report.

- FID/KID per condition beside the copy-source baseline. The inputs are DMSO fields
  disjoint from the real DMSO set, so DMSO's copy-source FID is the floor for sets of this
  size; a condition's effect counts as *visible* when its copy-source FID exceeds that floor
  by more than ``VISIBLE`` (relative).
- Dose correlations (Pearson r of real vs translated per-condition means, DMSO as dose 0),
  for all features and for the features with a real dose effect: real images differ from
  real DMSO at q < 0.05 at one dose or more.
- Same-conclusion rates of the condition-vs-DMSO tests, per compound and overall.
- The ground-truth comparison (``compare_ground_truth.py``).

    python experiments/synthetic_screen/summarize.py REPORT SCREEN
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from compare_ground_truth import main as compare_ground_truth

VISIBLE = 0.2


def fid_table(tables: Path) -> None:
    fid = pd.read_csv(tables / "fid_kid.csv").set_index("condition")
    floor = fid.loc["DMSO", "fid_copy"]
    print("| condition | FID translated | FID copy-source | visible | translated < copy "
          "| KID translated | KID copy-source |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, r in fid.iterrows():
        visible = name != "DMSO" and r.fid_copy > (1 + VISIBLE) * floor
        beats = "yes" if r.fid_translated < r.fid_copy else "no"
        print(
            f"| {name} | {r.fid_translated:.1f} | {r.fid_copy:.1f} | {'yes' if visible else ''} "
            f"| {beats if visible else ''} | {r.kid_translated:.3f} | {r.kid_copy:.3f} |"
        )
    print(f"\nDMSO floor (inputs vs real DMSO, {fid.loc['DMSO', 'n_real']} images each): "
          f"{floor:.1f}; visible = copy-source FID > {1 + VISIBLE:.1f} × floor\n")  # fmt: skip


def correlation_table(tables: Path, alpha: float = 0.05) -> None:
    corr = pd.read_csv(tables / "dose_correlations.csv")
    tests = pd.read_csv(tables / "condition_tests.csv")
    real = tests[tests["kind"] == "real"]
    effect = real.groupby(["compound", "feature"])["q"].min() < alpha
    corr["effect"] = [
        effect.get((c, f), False) for c, f in zip(corr.compound, corr.feature, strict=True)
    ]
    print("| compound | features | median r | r ≥ 0.9 | with a real dose effect | median r "
          "| r ≥ 0.9 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for compound, g in corr.groupby("compound"):
        r, re = g["r"].dropna(), g.loc[g["effect"], "r"].dropna()
        print(
            f"| {compound} | {len(r)} | {r.median():.2f} | {(r >= 0.9).mean():.0%} | {len(re)} "
            f"| {re.median() if len(re) else np.nan:.2f} | "
            f"{(re >= 0.9).mean() if len(re) else np.nan:.0%} |"
        )
    print()


def agreement_table(tables: Path) -> None:
    agree = pd.read_csv(tables / "agreement.csv")
    print("| level | condition | pairs | same conclusion | both significant | only translated "
          "| only real | opposite |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in agree.itertuples():
        print(
            f"| {r.level} | {r.condition} | {r.n_pairs} | {r.same_conclusion_rate:.0%} | "
            f"{r.both_significant} | {r.only_translated} | {r.only_real} | {r.opposite} |"
        )
    print()


def main(report: Path, screen: Path) -> None:
    tables = report / "tables"
    fid_table(tables)
    correlation_table(tables)
    agreement_table(tables)
    compare_ground_truth(report, screen)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python summarize.py REPORT_DIR HELDOUT_SCREEN_DIR (as run.sh calls it)")
    main(Path(sys.argv[1]), Path(sys.argv[2]))

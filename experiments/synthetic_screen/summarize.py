"""Print the validation's results tables (markdown) from an evaluation report.

- FID/KID per condition beside the copy-source baseline. The inputs are DMSO fields
  disjoint from the real DMSO set, so DMSO's copy-source FID is the floor for sets of this
  size; a condition's effect counts as *visible* when its copy-source FID exceeds that floor
  by more than ``VISIBLE`` (relative).
- Dose correlations (Pearson r of real vs translated per-condition means, DMSO as dose 0),
  for all features and for the features with a real dose effect: real images differ from
  real DMSO at q < 0.05 at one dose or more.
- Same-conclusion rates of the condition-vs-DMSO tests, per compound and overall, beside
  the *replicate ceiling*: the same rates between the real images and an independent real
  replicate screen of the same size (another seed). A perfect generator can at best match
  the ceiling; with 32 images per condition it is about 90 %, not 100 %, because tests near
  the significance threshold fall either way.
- The ground-truth comparison (``compare_ground_truth.py``).
- First, the summary of the evaluation report (``REPORT/index.html``) as markdown.

    python experiments/synthetic_screen/summarize.py REPORT SCREEN [REPLICATE]
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


def screen_images(screen: Path, other: Path) -> pd.DataFrame:
    """Per-image feature means of the real screen and another screen folder, as evaluate's.

    ``other``'s images take the place of the translations (kind "translated"), measured with
    the real screen's intensity scale.
    """
    from phendiff.data.sources import load_source
    from phendiff.data.synthetic import CHANNELS
    from phendiff.evaluate.features import aggregate, measure_images
    from phendiff.evaluate.inputs import feature_scale

    def items(root: Path, kind: str) -> list:
        return [
            (
                r.load(),
                {
                    "image": f"{kind}/{r.condition.name}/{i}",
                    "condition": r.condition.name,
                    "kind": kind,
                },
            )  # fmt: skip
            for i, r in enumerate(load_source(root))
        ]

    real, replica = items(screen, "real"), items(other, "translated")
    scale = feature_scale([im for im, _ in real])
    cells = measure_images(real + replica, CHANNELS, "DNA", "actin", scale=scale, progress=False)
    return aggregate(cells, by=("kind", "condition", "image"), how="mean")


def screen_agreement(screen: Path, other: Path) -> pd.DataFrame:
    """Same-conclusion rates of the real screen and another screen folder, as evaluate computes.

    For an independent real replicate, the rates are what `phendiff evaluate` would report for
    a generator whose images are new real cells.
    """
    from phendiff.config import EvaluateOptions
    from phendiff.evaluate.analyses import statistics

    return statistics(screen_images(screen, other), EvaluateOptions(), "DMSO")["agreement"]


def print_agreement(
    agree: pd.DataFrame, ceiling: pd.DataFrame | None = None, kind: str = "translated"
) -> None:
    """Markdown table of same-conclusion rates; a replicate-ceiling column when given one."""
    rate = {} if ceiling is None else dict(
        zip(ceiling.condition, ceiling.same_conclusion_rate, strict=True)
    )  # fmt: skip
    extra = " replicate ceiling |" if ceiling is not None else ""
    print(f"| level | condition | pairs | same conclusion |{extra} both significant "
          f"| only {kind} | only real | opposite |")  # fmt: skip
    print("|---" * (8 + bool(extra)) + "|")
    for r in agree.itertuples():
        top = "" if not extra else f" {rate[r.condition]:.0%} |" if r.condition in rate else " |"
        print(
            f"| {r.level} | {r.condition} | {r.n_pairs} | {r.same_conclusion_rate:.0%} |{top} "
            f"{r.both_significant} | {r.only_translated} | {r.only_real} | {r.opposite} |"
        )
    if ceiling is not None:
        print("\nreplicate ceiling: the same tests between the real screen and an independent "
              "real screen of the same size\n")  # fmt: skip
    print()


def _markdown(frame: pd.DataFrame, digits: int = 1) -> str:
    def cell(v):
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|---" * len(frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def report_summary(tables: Path, alpha: float = 0.05) -> None:
    """The report's summary (FID per dose per compound, tracking, conclusions, warnings)."""
    from phendiff.evaluate import summary as S

    def read(name):
        path = tables / f"{name}.csv"
        return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None

    fid = read("fid_kid")
    fid["note"] = ["" if pd.isna(v) else str(v) for v in fid["note"]]
    names = ("dose_correlations", "condition_tests", "effect_correlations", "agreement",
             "replicate_agreement")  # fmt: skip
    stats = {n: t for n in names if (t := read(n)) is not None}
    for compound, table in S.fid_per_dose(fid).items():
        print(f"**{compound}**\n\n{_markdown(table)}\n")
    print(_markdown(S.tracking(stats, alpha), 2) + "\n")
    conclusions = S.conclusions(stats)
    for col in ("same conclusion", "replicate ceiling"):
        if col in conclusions:
            conclusions[col] = [f"{v:.0%}" for v in conclusions[col]]
    print(_markdown(conclusions) + "\n")
    for warning in S.warnings(fid, read("images"), {}):
        print(f"- {warning}")
    print()


def main(report: Path, screen: Path, replicate: Path | None = None) -> None:
    tables = report / "tables"
    report_summary(tables)
    fid_table(tables)
    correlation_table(tables)
    ceiling = None
    if (tables / "replicate_agreement.csv").is_file():  # evaluate --replicate wrote it
        ceiling = pd.read_csv(tables / "replicate_agreement.csv")
    elif replicate is not None:
        ceiling = screen_agreement(screen, replicate)
        ceiling.to_csv(tables / "replicate_agreement.csv", index=False)
    print_agreement(pd.read_csv(tables / "agreement.csv"), ceiling)
    compare_ground_truth(report, screen)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(
            "usage: python summarize.py REPORT_DIR HELDOUT_SCREEN_DIR [REPLICATE_SCREEN_DIR] "
            "(as run.sh calls it)"
        )
    main(*(Path(a) for a in sys.argv[1:]))

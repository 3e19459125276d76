"""Compare measured dose responses with the synthetic screen's true parameters.

For each true parameter with a measurable counterpart, the measured response of a
condition is its per-condition mean divided by the DMSO mean of the same kind (real or
translated), and the truth is the parameter divided by its DMSO value. Prints a markdown
table (Pearson r across conditions of truth vs real and truth vs translated, and the
top-dose changes) and writes REPORT/tables/ground_truth_comparison.csv.

    python experiments/synthetic_screen/compare_ground_truth.py REPORT SCREEN
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

# true parameter -> (feature measuring it, transform of the feature ratio into the parameter's)
PAIRS = {
    "actin_intensity_factor": ("Cells_Intensity_MeanIntensity_actin", lambda r: r),
    "cell_radius_factor": ("Cells_AreaShape_Area", np.sqrt),
    "tubulin_fibrousness": ("Cells_Texture_Contrast_tubulin_3", lambda r: r),
    "nuclear_area_factor": ("Nuclei_AreaShape_Area", lambda r: r),
    "dna_texture_factor": ("Nuclei_Texture_Contrast_DNA_3", lambda r: r),
    "survival_fraction": ("cells_per_image", lambda r: r),
}


def compare(images: pd.DataFrame, screen: Path) -> pd.DataFrame:
    """Measured against true dose responses, from a per-image table (``kind`` real/translated)."""
    truth = pd.read_csv(screen / "ground_truth.csv").set_index("condition")
    images = images.assign(cells_per_image=images["cell_count"])
    rows = []
    for parameter, (feature, transform) in PAIRS.items():
        means = images.groupby(["kind", "condition"])[feature].mean()
        for compound in truth["compound"].unique():
            if compound == "DMSO":
                continue
            conds = ["DMSO", *truth.index[truth["compound"] == compound]]
            true = truth.loc[conds, parameter] / truth.loc["DMSO", parameter]
            if np.ptp(true) < 1e-6:
                continue  # this compound does not act on this parameter
            row = {
                "parameter": parameter,
                "feature": feature,
                "compound": compound,
                "true_top": true.iloc[-1],
            }
            for kind in ("real", "translated"):
                ratio = transform(means[kind].reindex(conds) / means[kind].get("DMSO"))
                row[f"{kind}_top"] = ratio.iloc[-1]
                row[f"r_truth_{kind}"] = np.corrcoef(true, ratio)[0, 1]
            rows.append(row)
    return pd.DataFrame(rows)


def print_comparison(table: pd.DataFrame, kind: str = "translated") -> None:
    print(
        f"| compound | parameter | true top-dose change | real | {kind} | r(truth, real) "
        f"| r(truth, {kind}) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        print(
            f"| {r.compound} | {r.parameter} | {r.true_top:.3f} | {r.real_top:.3f} | "
            f"{r.translated_top:.3f} | {r.r_truth_real:.2f} | {r.r_truth_translated:.2f} |"
        )


def main(report: Path, screen: Path) -> pd.DataFrame:
    table = compare(pd.read_csv(report / "tables" / "images.csv"), screen)
    table.to_csv(report / "tables" / "ground_truth_comparison.csv", index=False)
    print_comparison(table)
    return table


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

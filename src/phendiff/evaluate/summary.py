"""The report's summary: the few tables and warnings a biologist reads first.

Built from the tables :func:`phendiff.evaluate.analyses.evaluate` writes: FID per dose in
the shape of the PhenDiff paper's Table 1 (one table per compound, doses as columns,
translated / copy-source / floor as rows), the share of features whose translated dose
response tracks the real one, the same-conclusion rate beside the replicate ceiling, and
every caveat in words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from phendiff.conditions import Condition

TRACK_R = 0.9  # "tracks real": Pearson r of the dose curves at least this
SMALL_FID_SET = 50  # FID below this many images per set is biased and size-dependent
SMALL_TEST_GROUP = 5  # fewer images per condition leave the tests little power

_FID_ROWS = (
    ("fid_translated", "translated"),
    ("fid_copy", "copy source (baseline)"),
    ("fid_real_split", "real vs real (floor)"),
)


def _dose_label(name: str) -> str:
    c = Condition.parse(name)
    return f"{c.concentration:g} µM" if c.dosed else c.name


def fid_per_dose(fid: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per compound, FID by dose (columns: the control then doses ascending; rows:
    translated, copy source, floor). The control's column is repeated in every compound."""
    if "fid_translated" not in fid:
        return {}
    done = fid[fid["fid_translated"].notna()]
    parsed = {n: Condition.parse(n) for n in done["condition"]}
    controls = [n for n, c in parsed.items() if not c.dosed]
    out = {}
    for compound in sorted({c.compound for c in parsed.values() if c.dosed}, key=str.lower):
        names = controls + sorted(
            (n for n, c in parsed.items() if c.compound == compound and c.dosed),
            key=lambda n: parsed[n].sort_key(),
        )
        rows = done.set_index("condition").loc[names]
        table = pd.DataFrame(
            {
                _dose_label(n): [rows.at[n, col] if col in rows else np.nan for col, _ in _FID_ROWS]
                for n in names
            },  # fmt: skip
            index=[label for _, label in _FID_ROWS],
        )
        out[compound] = table.rename_axis("FID").reset_index()
    return out


def tracking(stats: dict, alpha: float) -> pd.DataFrame:
    """Per compound: features with a real dose effect (real vs control q < alpha at one dose
    or more), how many of them track real (dose-curve r ≥ 0.9), their median r, and the
    Fig. 4 r over every (feature, dose) point."""
    corr, tests = stats.get("dose_correlations"), stats.get("condition_tests")
    if corr is None or tests is None:
        return pd.DataFrame()
    real = tests[tests["kind"] == "real"]
    effect = real.groupby(["compound", "feature"])["q"].min() < alpha
    fig4 = stats["effect_correlations"].set_index("compound")["r"]
    rows = []
    for compound, g in corr.groupby("compound", sort=True):
        has = np.array([bool(effect.get((compound, f), False)) for f in g["feature"]])
        r = g.loc[has, "r"].dropna()
        share = f"{int((r >= TRACK_R).sum())} ({(r >= TRACK_R).mean():.0%})" if len(r) else "—"
        rows.append(
            {
                "compound": compound,
                "features": int(g["r"].notna().sum()),
                "with a real dose effect": int(has.sum()),
                f"tracking (r ≥ {TRACK_R:g})": share,
                "median r": float(r.median()) if len(r) else np.nan,
                "Fig. 4 r": float(fig4.get(compound, np.nan)),
            }
        )
    return pd.DataFrame(rows)


def conclusions(stats: dict) -> pd.DataFrame:
    """Same-conclusion rate per compound and over all, with the replicate ceiling if known."""
    agree = stats.get("agreement")
    if agree is None or agree.empty:
        return pd.DataFrame()
    top = agree[agree["level"].isin(["compound", "all"])]
    out = pd.DataFrame(
        {
            "compound": [c.split("@")[0] for c in top["condition"]],
            "tests": top["n_pairs"].to_numpy(),
            "same conclusion": top["same_conclusion_rate"].to_numpy(),
        }
    )
    ceiling = stats.get("replicate_agreement")
    if ceiling is not None and not ceiling.empty:
        rate = dict(zip(ceiling["condition"], ceiling["same_conclusion_rate"], strict=True))
        out["replicate ceiling"] = [rate.get(c, np.nan) for c in top["condition"]]
    return out


def warnings(fid: pd.DataFrame, per_image: pd.DataFrame, stats: dict) -> list[str]:
    """Every caveat of the evaluation, in words."""
    out = []
    for row in fid.itertuples():
        if getattr(row, "note", ""):
            out.append(f"FID/KID for {row.condition}: {row.note}.")
    if "fid_translated" in fid:
        done = fid[fid["fid_translated"].notna()]
        small = done[(done["n_real"] < SMALL_FID_SET) | (done["n_translated"] < SMALL_FID_SET)]
        if len(small):
            n = int(min(small["n_real"].min(), small["n_translated"].min()))
            out.append(
                f"FID from as few as {n} images per set ({len(small)} conditions): below "
                f"{SMALL_FID_SET} images FID is biased upward and depends on the set size; "
                "compare translated with copy-source FIDs (sets of one size), not with other "
                "screens."
            )
        if "fid_real_split" in done:
            high = done[done["fid_real_split"] > done["fid_copy"]]
            if len(high):
                n = int(high["n_real"].min()) // 2
                out.append(
                    f"The real-vs-real floor is above the copy-source FID at {len(high)} of "
                    f"{len(done)} conditions ({', '.join(high['condition'])}): the floor "
                    f"compares two halves of the real images (as few as {n} per half) and FID "
                    "grows as sets shrink, so there it is no floor. With control inputs "
                    "disjoint from the real control, the control's copy-source FID is the floor "
                    "for sets of the full size."
                )
        no_spread = done[done["kid_std_translated"].isna()] if "kid_std_translated" in done else []
        if len(no_spread):
            out.append(
                f"KID's spread not computed for {', '.join(no_spread['condition'])}: fewer "
                "than 4 images per set leave no subsets to vary."
            )
    for name, note in stats.get("notes", {}).items():
        out.append(f"{name}: {note}.")
    counts = per_image.groupby(["kind", "condition"]).size()
    few = counts[counts < SMALL_TEST_GROUP]
    if len(few):
        listed = ", ".join(f"{k} {c} ({n})" for (k, c), n in few.items())
        out.append(
            f"fewer than {SMALL_TEST_GROUP} images in {listed}: tests against the control "
            "have little power there."
        )
    empty = per_image[per_image["cell_count"] == 0]
    if len(empty):
        out.append(
            f"{len(empty)} of {len(per_image)} images have no cells (segmentation found none); "
            "they count in cells per image but not in the feature means."
        )
    return out

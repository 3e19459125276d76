"""The evaluation report: ``REPORT/index.html``, PNG figures and the CSV tables beside them.

Written for a biologist: every number says what it compares, every figure has a caption,
and whatever could not be computed says why.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from phendiff.conditions import Condition
from phendiff.data.atomic import write_text
from phendiff.translate.figures import pyplot as _plt
from phendiff.translate.figures import save_figure


def _save(fig, path: Path) -> str:
    save_figure(fig, path)
    return f"figures/{path.name}"


def fid_figure(fid, path: Path) -> str | None:
    """Grouped bars per condition: translated, copy-source baseline, real-vs-real floor."""
    if "fid_translated" not in fid or fid["fid_translated"].notna().sum() == 0:
        return None
    plt = _plt()
    done = fid[fid["fid_translated"].notna()]
    x = np.arange(len(done))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(done)), 3.5))
    bars = [
        ("fid_translated", "translated", "tab:blue"),
        ("fid_copy", "copy source (baseline)", "tab:gray"),
        ("fid_real_split", "real vs real (floor)", "tab:green"),
    ]
    for k, (col, label, colour) in enumerate(bars):
        if col in done:
            ax.bar(x + (k - 1) * 0.27, done[col], 0.27, label=label, color=colour)
    ax.set_xticks(x, done["condition"], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"FID ({done['extractor'].iloc[0]})")
    ax.legend(fontsize=8)
    return _save(fig, path)


def correlation_figure(correlations, path: Path) -> str | None:
    """Histogram of Pearson r (real vs translated means across doses), one panel per compound."""
    finite = correlations[np.isfinite(correlations["r"])]
    if finite.empty:
        return None
    plt = _plt()
    compounds = list(dict.fromkeys(finite["compound"]))
    fig, axes = plt.subplots(1, len(compounds), figsize=(3 * len(compounds), 2.6), squeeze=False)
    for ax, compound in zip(axes[0], compounds, strict=True):
        r = finite.loc[finite["compound"] == compound, "r"]
        ax.hist(r, bins=np.linspace(-1, 1, 21), color="tab:blue")
        ax.set_title(f"{compound}\nmedian r = {np.median(r):.2f} (n = {len(r)})", fontsize=9)
        ax.set_xlabel("Pearson r")
    return _save(fig, path)


def boxplot_figure(per_image, tests, path: Path, n_features: int = 6) -> str | None:
    """The features most changed in real images: per condition, real vs translated boxes."""
    real = tests[(tests["kind"] == "real") & np.isfinite(tests["effect"])]
    if real.empty:
        return None
    plt = _plt()
    top = (
        real.assign(size=real["effect"].abs())
        .groupby("feature")["size"]
        .max()
        .sort_values(ascending=False)
        .index[:n_features]
    )
    conditions = sorted(
        per_image["condition"].unique(), key=lambda c: Condition.parse(c).sort_key()
    )
    fig, axes = plt.subplots(
        len(top), 1, figsize=(max(6, 0.6 * len(conditions)), 2.2 * len(top)), squeeze=False
    )
    for ax, feature in zip(axes[:, 0], top, strict=True):
        for k, (kind, colour) in enumerate((("real", "tab:gray"), ("translated", "tab:blue"))):
            data = [
                per_image.loc[
                    (per_image["kind"] == kind) & (per_image["condition"] == c), feature
                ].dropna()
                for c in conditions
            ]
            pos = np.arange(len(conditions)) + (k - 0.5) * 0.35
            keep = [i for i, d in enumerate(data) if len(d)]
            box = ax.boxplot(
                [data[i] for i in keep],
                positions=pos[keep],
                widths=0.3,
                patch_artist=True,
                showfliers=False,
            )
            for patch in box["boxes"]:
                patch.set_facecolor(colour)
        ax.set_title(feature, fontsize=8)
        ax.set_xticks(np.arange(len(conditions)), conditions, rotation=45, ha="right", fontsize=7)
    axes[0, 0].legend(
        [plt.Rectangle((0, 0), 1, 1, color=c) for c in ("tab:gray", "tab:blue")],
        ["real", "translated"],
        fontsize=7,
    )
    return _save(fig, path)


def _table(frame, float_format="{:.3g}") -> str:
    def cell(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else float_format.format(v)
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _reconstruction_summary(recon):
    """Mean and max of every error metric per source condition."""
    agg = recon.drop(columns=["id"]).groupby("source").agg(["mean", "max"])
    agg.columns = [f"{metric} {stat}" for metric, stat in agg.columns]
    return agg.reset_index()


def write_report(out: Path, recon, fid, per_image, stats, options, meta: dict) -> Path:
    """Write ``out/index.html`` and its figures from the tables of an evaluation.

    ``recon``, ``fid``, ``per_image`` and the ``stats`` tables are the DataFrames that
    :func:`phendiff.evaluate.analyses.evaluate` also writes as CSV; ``meta`` (inputs, channels,
    options) is shown at the end. Returns the page's path.
    """
    figures = out / "figures"
    fid_png = fid_figure(fid, figures / "fid.png")
    corr_png = correlation_figure(stats["dose_correlations"], figures / "correlations.png")
    box_png = boxplot_figure(per_image, stats["condition_tests"], figures / "boxplots.png")
    dose = (
        sorted(p.name for p in figures.glob("input*_dose_series*.png")) if figures.exists() else []
    )
    summary = stats["agreement"]
    overall = summary[summary["condition"] == "all"] if "condition" in summary else summary
    parts = [
        "<!doctype html><meta charset='utf-8'><title>phendiff evaluation</title>",
        "<style>body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}img{max-width:100%}</style>",
        "<h1>phendiff evaluation</h1>",
        f"<p>Real images: <code>{html.escape(meta['real'])}</code>; translations: "
        f"<code>{html.escape(meta['translated'])}</code>. Nuclei from "
        f"<b>{html.escape(str(meta['dna']))}</b>, cells from "
        f"<b>{html.escape(str(meta['cytoplasm']))}</b>; feature set "
        f"<b>{html.escape(options.features)}</b>. Tables are in <code>tables/</code>.</p>",
        "<h2>Dose series</h2>",
        *[f"<p><img src='figures/{html.escape(n)}'></p>" for n in dose],
        "<h2>Reconstruction of the inputs (same-condition round trip)</h2>",
        "<p>MSE and PSNR in normalised units ([-1, 1] display range); ‖x − x̂‖₂ over all "
        "C·H·W values on the [-1, 1] scale (<i>l2</i>) and on 0–255 (<i>l2_255</i>).</p>",
        _table(_reconstruction_summary(recon)),
        "<h2>FID and KID per condition</h2>",
        "<p>Each translated set is scored against the real images of its condition, beside "
        "the <b>copy-source baseline</b> (the untranslated inputs against the same real "
        "images) and the real-vs-real floor. Lower is better; a translation must beat the "
        "copy baseline to have done anything.</p>",
        f"<p><img src='{fid_png}'></p>" if fid_png else "",
        _table(fid),
        "<h2>Do translated images track real dose responses?</h2>",
        "<p>For each compound and feature: Pearson r between real and translated per-condition "
        "means across concentrations (DMSO as dose 0).</p>",
        f"<p><img src='{corr_png}'></p>" if corr_png else "<p>not computed</p>",
        "<h2>Same conclusion on real and translated images</h2>",
        f"<p>Two-sided tests of each condition against DMSO on per-image means, "
        f"Benjamini–Hochberg corrected, α = {options.alpha}. Same conclusion: both "
        "significant in the same direction, or both not significant.</p>",
        _table(overall) if len(overall) else "",
        _table(summary),
        "<h2>Most changed features</h2>",
        f"<p><img src='{box_png}'></p>" if box_png else "<p>not computed</p>",
        f"<details><summary>options</summary><pre>{html.escape(json.dumps(meta, indent=2))}"
        "</pre></details>",
    ]
    return write_text(out / "index.html", "\n".join(parts) + "\n")

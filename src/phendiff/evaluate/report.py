"""The evaluation report: ``REPORT/index.html``, PNG figures and the CSV tables beside them.

Written for a biologist: every number says what it compares, every figure has a caption,
and whatever could not be computed says why.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from phendiff.conditions import CONTROL
from phendiff.data.atomic import write_text
from phendiff.evaluate import figures as F
from phendiff.evaluate import summary as S

N_CURVES = 4  # dose-response curves: the features with the largest real effects
N_BOXES_EACH = 2  # most changed features: per compound


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


def top_features(tests, n: int, compound: str | None = None) -> list[str]:
    """The ``n`` features with the largest real |Hedges' g| against the control (of one
    compound's doses when ``compound`` is given)."""
    if tests is None:
        return []
    real = tests[(tests["kind"] == "real") & np.isfinite(tests["effect"])]
    if compound is not None:
        real = real[real["compound"] == compound]
    size = real.assign(size=real["effect"].abs()).groupby("feature")["size"].max()
    return list(size.sort_values(ascending=False).index[:n])


def _percent(frame):
    frame = frame.copy()
    for col in ("same conclusion", "replicate ceiling"):
        if col in frame:
            frame[col] = [("" if np.isnan(v) else f"{v:.0%}") for v in frame[col]]
    return frame


def _figure(name: str | None, caption: str, why: str = "not computed") -> str:
    if name is None:
        return f"<p><i>{html.escape(why)}</i></p>"
    svg = name[: -len(".png")] + ".svg"
    return (
        f"<figure><img src='{name}'><figcaption>{caption} "
        f"(<a href='{svg}'>SVG</a>)</figcaption></figure>"
    )


def _summary(fid, per_image, stats, options, control: str) -> list[str]:
    parts = ["<h2>Summary</h2>"]
    per_dose = S.fid_per_dose(fid)
    if per_dose:
        parts.append(
            "<p>FID per dose (Table 1 of the paper): translated images against the real "
            "images of each dose, beside copying the input unchanged (a translation must "
            "beat it) and the real-vs-real floor. Lower is better.</p>"
        )
        for compound, table in per_dose.items():
            parts += [f"<h3>{html.escape(compound)}</h3>", _table(table, "{:.1f}")]
    else:
        note = next((n for n in fid.get("note", []) if n), "not computed")
        parts.append(f"<p><i>FID per dose: {html.escape(note)}</i></p>")
    track = S.tracking(stats, options.alpha)
    if len(track):
        parts += [
            "<p>Do translated dose responses follow the real ones? Per compound, of the "
            f"features with a real dose effect (q &lt; {options.alpha} at one dose or more), "
            f"those whose translated condition means correlate with the real ones at r ≥ "
            f"{S.TRACK_R:g} across doses; Fig. 4 r over every (feature, dose) point.</p>",
            _table(track, "{:.2f}"),
        ]
    conclusions = S.conclusions(stats)
    if len(conclusions):
        ceiling = "replicate ceiling" in conclusions
        parts += [
            "<p>Same conclusion: the share of (condition, feature) tests against "
            f"{html.escape(control)} that say the same on real and translated images"
            + (
                "; the replicate ceiling is the same rate between the real screen and an "
                "independent real replicate — what a perfect generator would score"
                if ceiling
                else " (pass --replicate DATA for the ceiling a perfect generator would score)"
            )
            + ".</p>",
            _table(_percent(conclusions)),
        ]
    caveats = S.warnings(fid, per_image, stats)
    parts.append("<h3>Warnings</h3>")
    parts.append(
        "<ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in caveats) + "</ul>"
        if caveats
        else "<p>none</p>"
    )
    return parts


def write_report(out: Path, recon, fid, per_image, stats, options, meta: dict) -> Path:
    """Write ``out/index.html`` and its figures from the tables of an evaluation.

    ``recon``, ``fid``, ``per_image`` and the ``stats`` tables are the DataFrames that
    :func:`phendiff.evaluate.analyses.evaluate` also writes as CSV (``stats["notes"]`` says
    why a part is missing); ``meta`` (inputs, channels, options) is shown at the end.
    Returns the page's path.
    """
    figures = out / "figures"
    control = meta.get("control") or CONTROL
    tests = stats.get("condition_tests")
    why = stats.get("notes", {}).get("statistics", "not computed")
    compounds = [] if tests is None else sorted(set(tests["compound"]), key=str.lower)
    fid_png = F.fid_figure(fid, figures / "fid.png")
    scatter = None
    if "effects" in stats:
        scatter = F.scatter_figure(
            stats["effects"], stats["effect_correlations"], figures / "fig4_scatter.png"
        )
    curves = None
    if "dose_response" in stats:
        chosen = {c: top_features(tests, N_CURVES, c) for c in compounds}
        curves = F.dose_response_figure(
            stats["dose_response"], chosen, figures / "dose_response.png", control
        )
    most = [f for c in compounds for f in top_features(tests, N_BOXES_EACH, c)]
    box_png = F.boxplot_figure(per_image, list(dict.fromkeys(most)), figures / "boxplots.png")
    dose = (
        sorted(p.name for p in figures.glob("input*_dose_series*.png")) if figures.exists() else []
    )
    parts = [
        "<!doctype html><meta charset='utf-8'><title>phendiff evaluation</title>",
        "<style>body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:0.5em 0}td,th{border:1px solid "
        "#ccc;padding:2px 6px;text-align:right}img{max-width:100%}figcaption{font-size:13px;"
        "color:#555}</style>",
        "<h1>phendiff evaluation</h1>",
        f"<p>Real images: <code>{html.escape(meta['real'])}</code>; translations: "
        f"<code>{html.escape(meta['translated'])}</code>. Nuclei from "
        f"<b>{html.escape(str(meta['dna']))}</b>, cells from "
        f"<b>{html.escape(str(meta['cytoplasm']))}</b> "
        + (
            f"(masks from <code>{html.escape(meta['masks'])}</code>)"
            if meta.get("masks")
            else "(segmented here; masks in <code>masks/</code>)"
        )
        + f"; feature set <b>{html.escape(options.features)}</b>. Tables are in "
        "<code>tables/</code>; every per-image and per-cell row names its image's file "
        "(<code>path</code>, <code>input</code>), plate, well and field.</p>",
        *_summary(fid, per_image, stats, options, control),
        "<h2>Real vs translated effects (Fig. 4)</h2>",
        _figure(
            scatter,
            "Each point is one feature at one dose: its shift from the control in real "
            "images (x) and in translated images (y), both in SDs of the real control. On "
            "the diagonal, a translation reproduces the effect exactly; r is Pearson's over "
            "the panel's points (tables/effects.csv, tables/effect_correlations.csv).",
            why,
        ),
        "<h2>Dose response</h2>",
        _figure(
            curves,
            f"Per compound, the {N_CURVES} features with its largest real effects (|Hedges' g| "
            "against the control at any dose): mean per image and 95 % "
            f"t-interval per dose, real (grey) and translated (blue); dashed lines and bands: "
            f"{html.escape(control)} (tables/dose_response.csv).",
            why,
        ),
        *_measure_section(stats, options, figures, control),
        "<h2>FID and KID per condition</h2>",
        "<p>Each translated set is scored against the real images of its condition, beside "
        "the <b>copy-source baseline</b> (the untranslated inputs against the same real "
        "images) and the real-vs-real floor. Lower is better; a translation must beat the "
        "copy baseline to have done anything.</p>",
        _figure(
            fid_png,
            "FID per condition (tables/fid_kid.csv).",
            next((n for n in fid.get("note", []) if n), "not computed"),
        ),  # fmt: skip
        _table(fid),
        "<h2>Reconstruction of the inputs (same-condition round trip)</h2>",
        "<p>MSE and PSNR in normalised units ([-1, 1] display range); ‖x − x̂‖₂ over all "
        "C·H·W values on the [-1, 1] scale (<i>l2</i>) and on 0–255 (<i>l2_255</i>).</p>",
        _table(_reconstruction_summary(recon)),
        "<h2>Same conclusion on real and translated images, per condition</h2>",
        f"<p>Two-sided tests of each condition against {html.escape(control)} on per-image "
        "means, "
        f"Benjamini–Hochberg corrected, α = {options.alpha}. Same conclusion: both "
        "significant in the same direction, or both not significant.</p>",
        _table(stats["agreement"]) if "agreement" in stats else f"<p><i>{html.escape(why)}</i></p>",
        "<h2>Most changed features</h2>",
        _figure(
            box_png,
            f"The {N_BOXES_EACH} most changed features of each compound: per-image means per "
            "condition, real (grey) and translated (blue).",
            why,
        ),
        "<h2>Dose series</h2>",
        *[f"<p><img src='figures/{html.escape(n)}'></p>" for n in dose],
        f"<details><summary>options</summary><pre>{html.escape(json.dumps(meta, indent=2))}"
        "</pre></details>",
    ]
    return write_text(out / "index.html", "\n".join(parts) + "\n")


def _measure_section(stats, options, figures: Path, control: str) -> list[str]:
    if options.measure is None:
        return []
    from phendiff.evaluate.features.areas import area_columns

    channel = html.escape(options.measure)
    head = f"<h2>Area of the {channel} objects per condition (Fig. 2b)</h2>"
    if "measure_areas" not in stats:
        why = stats.get("notes", {}).get("measure", "not computed")
        return [head, f"<p><i>{html.escape(why)}</i></p>"]
    area = area_columns(options.measure)[0]
    png = F.measure_figure(
        stats["measure_areas"], stats["measure_tests"], area, figures / "measure.png"
    )
    tests = stats["measure_tests"]
    tests = tests[tests["feature"] == area]
    side = tests.pivot(index="condition", columns="kind", values=["mean_condition", "p"])
    side.columns = [
        f"{'mean area' if a == 'mean_condition' else 'p'} ({b})" for a, b in side.columns
    ]
    return [
        head,
        f"<p>Objects of the {channel} channel per image: Otsu's threshold of the smoothed "
        "channel, connected components of 4 px or more; their total area (px) per image, "
        f"tested against {html.escape(control)} with Welch's t-test, on real and on translated "
        "images "
        "(tables/measure_areas.csv, tables/measure_tests.csv).</p>",
        _figure(png, f"Total {channel} object area per image."),
        _table(side.reset_index()),
    ]

"""The evaluation's figures, each written as PNG and SVG under ``REPORT/figures/``.

Every function takes the tables :func:`phendiff.evaluate.analyses.evaluate` writes, draws
one figure and returns its PNG's path relative to the report (``figures/<name>.png``), or
None when the tables hold nothing to draw. Labels are laid out by matplotlib's constrained
layout, so titles and tick labels do not overlap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phendiff.conditions import Condition
from phendiff.translate.figures import pyplot as _plt
from phendiff.translate.figures import save_figure

REAL_COLOUR, TRANSLATED_COLOUR = "tab:gray", "tab:blue"


def _save(fig, path: Path) -> str:
    save_figure(fig, path, svg=True)
    return f"figures/{path.name}"


def _subplots(nrows: int, ncols: int, width: float, height: float):
    return _plt().subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
        layout="constrained",
    )  # fmt: skip


def _short(feature: str, width: int = 34) -> str:
    return feature if len(feature) <= width else feature[: width - 1] + "…"


def fid_figure(fid, path: Path) -> str | None:
    """Grouped bars per condition: translated, copy-source baseline, real-vs-real floor."""
    if "fid_translated" not in fid or fid["fid_translated"].notna().sum() == 0:
        return None
    done = fid[fid["fid_translated"].notna()]
    x = np.arange(len(done))
    fig, axes = _subplots(1, 1, max(6, 0.7 * len(done)), 3.8)
    ax = axes[0, 0]
    bars = [
        ("fid_translated", "translated", TRANSLATED_COLOUR),
        ("fid_copy", "copy source (baseline)", REAL_COLOUR),
        ("fid_real_split", "real vs real (floor)", "tab:green"),
    ]
    for k, (col, label, colour) in enumerate(bars):
        if col in done:
            ax.bar(x + (k - 1) * 0.27, done[col], 0.27, label=label, color=colour)
    ax.set_xticks(x, done["condition"], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"FID ({done['extractor'].iloc[0]})")
    ax.legend(fontsize=8)
    return _save(fig, path)


def scatter_figure(points, correlations, path: Path) -> str | None:
    """Fig. 4: per compound, real vs translated shift from the control in control SDs.

    One point per (feature, dose), coloured by dose; the diagonal is a perfect translation;
    the title gives Pearson r over the panel's points (``correlations``, from
    :func:`phendiff.evaluate.stats.effect_correlations`).
    """
    if points.empty:
        return None
    plt = _plt()
    compounds = list(dict.fromkeys(points["compound"]))
    r = dict(zip(correlations["compound"], correlations["r"], strict=True))
    fig, axes = _subplots(1, len(compounds), 3.4, 3.4)
    doses = np.log10(points["concentration"].to_numpy(np.float64))
    norm = plt.Normalize(doses.min(), doses.max() if doses.max() > doses.min() else doses.min() + 1)
    for ax, compound in zip(axes[0], compounds, strict=True):
        g = points[points["compound"] == compound]
        shown = ax.scatter(
            g["real"], g["translated"], c=np.log10(g["concentration"]), cmap="viridis",
            norm=norm, s=12, alpha=0.8, edgecolors="none",
        )  # fmt: skip
        top = float(np.nanmax(np.abs(g[["real", "translated"]].to_numpy()))) * 1.05 or 1.0
        ax.plot([-top, top], [-top, top], color="0.6", lw=0.8, zorder=0)
        ax.axhline(0, color="0.85", lw=0.6, zorder=0)
        ax.axvline(0, color="0.85", lw=0.6, zorder=0)
        ax.set_xlim(-top, top)
        ax.set_ylim(-top, top)
        ax.set_aspect("equal")
        ax.set_title(f"{compound}: r = {r.get(compound, np.nan):.2f} (n = {len(g)})", fontsize=9)
        ax.set_xlabel("real shift (control SDs)", fontsize=8)
        ax.set_ylabel("translated shift (control SDs)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.colorbar(shown, ax=axes[0].tolist(), label="log10 dose (µM)", shrink=0.8)
    return _save(fig, path)


def dose_response_figure(curves, chosen: dict[str, list[str]], path: Path, control: str):
    """Feature vs log dose: one column per compound, its ``chosen`` features as rows; real and
    translated means with their 95 % intervals, the control's mean and interval as dashed
    lines and bands. Returns the PNG's report path, or None when nothing is chosen."""
    chosen = {c: f for c, f in chosen.items() if f}
    if curves.empty or not chosen:
        return None
    rows = max(len(f) for f in chosen.values())
    fig, axes = _subplots(rows, len(chosen), 3.0, 2.4)
    for j, (compound, features) in enumerate(chosen.items()):
        for i in range(rows):
            ax = axes[i, j]
            if i >= len(features):
                ax.set_visible(False)
                continue
            feature = features[i]
            for kind, colour in (("real", REAL_COLOUR), ("translated", TRANSLATED_COLOUR)):
                g = curves[(curves["feature"] == feature) & (curves["kind"] == kind)]
                base = g[g["condition"] == control]
                if len(base):
                    ax.axhline(base["mean"].iloc[0], color=colour, lw=0.8, ls="--")
                    ax.axhspan(base["low"].iloc[0], base["high"].iloc[0], color=colour, alpha=0.1)
                g = g[g["compound"] == compound].sort_values("concentration")
                if len(g):
                    ax.errorbar(
                        g["concentration"], g["mean"],
                        yerr=[g["mean"] - g["low"], g["high"] - g["mean"]],
                        color=colour, marker="o", ms=3, capsize=2, lw=1, label=kind,
                    )  # fmt: skip
            ax.set_xscale("log")
            ax.tick_params(labelsize=7)
            ax.set_title(f"{compound}\n{_short(feature, 48)}", fontsize=7)
            if i == len(features) - 1:
                ax.set_xlabel("dose (µM)", fontsize=8)
    axes[0, 0].legend(fontsize=7, title=f"dashed: {control}", title_fontsize=7)
    return _save(fig, path)


def _conditions(per_image) -> list[str]:
    return sorted(per_image["condition"].unique(), key=lambda c: Condition.parse(c).sort_key())


def _boxes(ax, per_image, feature: str, conditions: list[str]) -> None:
    """Real and translated boxes of ``feature`` side by side at each condition."""
    for k, (kind, colour) in enumerate((("real", REAL_COLOUR), ("translated", TRANSLATED_COLOUR))):
        data = [
            per_image.loc[
                (per_image["kind"] == kind) & (per_image["condition"] == c), feature
            ].dropna()
            for c in conditions
        ]
        pos = np.arange(len(conditions)) + (k - 0.5) * 0.35
        keep = [i for i, d in enumerate(data) if len(d)]
        if not keep:
            continue
        box = ax.boxplot(
            [data[i] for i in keep], positions=pos[keep], widths=0.3, patch_artist=True,
            showfliers=False,
        )  # fmt: skip
        for patch in box["boxes"]:
            patch.set_facecolor(colour)
    ax.set_xticks(np.arange(len(conditions)), conditions, rotation=45, ha="right", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)


def _legend(ax) -> None:
    plt = _plt()
    ax.legend(
        [plt.Rectangle((0, 0), 1, 1, color=c) for c in (REAL_COLOUR, TRANSLATED_COLOUR)],
        ["real", "translated"],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),  # beside the axes, never over a box
    )


def boxplot_figure(per_image, features, path: Path) -> str | None:
    """Per-image values of ``features`` per condition, real and translated boxes side by side."""
    if not features:
        return None
    conditions = _conditions(per_image)
    fig, axes = _subplots(len(features), 1, max(6, 0.6 * len(conditions)), 2.6)
    for ax, feature in zip(axes[:, 0], features, strict=True):
        _boxes(ax, per_image, feature, conditions)
        ax.set_title(feature, fontsize=8)
    _legend(axes[0, 0])
    return _save(fig, path)


def measure_figure(areas, tests, feature: str, path: Path) -> str | None:
    """``--measure``: per-image values of ``feature`` per condition, real vs translated, with
    the Welch p-values against the control (real / translated) above each condition."""
    if areas.empty or areas[feature].notna().sum() == 0:
        return None
    conditions = _conditions(areas)
    fig, axes = _subplots(1, 1, max(6, 0.7 * len(conditions)), 3.4)
    ax = axes[0, 0]
    _boxes(ax, areas, feature, conditions)
    p = {
        (row.kind, row.condition): row.p for row in tests[tests["feature"] == feature].itertuples()
    }
    for x, c in enumerate(conditions):
        if ("real", c) in p or ("translated", c) in p:
            text = "\n".join(
                f"{kind[0]} p={p.get((kind, c), np.nan):.2g}" for kind in ("real", "translated")
            )
            ax.annotate(
                text, (x, 1), xycoords=("data", "axes fraction"), ha="center", va="bottom",
                fontsize=6,
            )  # fmt: skip
    ax.set_ylabel(feature, fontsize=8)
    ax.set_title("r: real, t: translated; Welch t-test against the control", fontsize=8, pad=24)
    _legend(ax)
    return _save(fig, path)

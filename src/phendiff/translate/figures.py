"""Figures of translations: previews, signed difference maps, dose series (PhenDiff Fig. 3).

Images come in normalised units (C, Y, X), shown with :func:`phendiff.preview.to_rgb`'s
fixed colour per channel. Differences are per channel on a diverging scale that is
symmetric about zero and shared by every panel of a figure, so doses can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from phendiff.conditions import Condition
from phendiff.data.atomic import atomic_write
from phendiff.translate.preview import to_rgb


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(nrows: int, ncols: int, cell: float = 1.6):
    fig, axes = pyplot().subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig, axes


def save_figure(fig, path: str | Path, dpi: int = 100, svg: bool = False) -> Path:
    """Write a matplotlib figure as a PNG atomically (and beside it an SVG), and close it."""
    path = Path(path)
    try:
        if svg:
            atomic_write(
                path.with_suffix(".svg"),
                lambda tmp: fig.savefig(tmp, format="svg", bbox_inches="tight"),
            )
        return atomic_write(
            path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
        )
    finally:
        pyplot().close(fig)


def save_preview(path: str | Path, image: np.ndarray, channel_names: Sequence[str]) -> Path:
    """One (C, Y, X) normalised image as an RGB PNG at its own resolution."""
    from PIL import Image

    rgb = Image.fromarray(to_rgb(image, channel_names))
    return atomic_write(path, lambda tmp: rgb.save(tmp, format="PNG"))


def difference_figure(
    path: str | Path,
    rows: Sequence[tuple[str, np.ndarray]],
    channel_names: Sequence[str],
    limits: Sequence[float] | None = None,
) -> Path:
    """Signed differences (translated − input), one row per label, one column per channel.

    rows : (label, difference (C, Y, X) in normalised units); red = brighter than the input,
        blue = dimmer. ``limits`` (one per channel) defaults to the largest |difference|.
    """
    diffs = np.stack([d for _, d in rows])
    if limits is None:
        limits = [max(float(np.abs(diffs[:, c]).max()), 1e-6) for c in range(diffs.shape[1])]
    fig, axes = _figure(len(rows), len(channel_names))
    for r, (label, diff) in enumerate(rows):
        for c, name in enumerate(channel_names):
            im = axes[r, c].imshow(diff[c], cmap="RdBu_r", vmin=-limits[c], vmax=limits[c])
            if r == 0:
                axes[r, c].set_title(name, fontsize=9)
            if c == 0:
                axes[r, c].set_ylabel(label, fontsize=8)
            if r == len(rows) - 1:
                fig.colorbar(
                    im,
                    ax=axes[:, c].tolist(),
                    orientation="horizontal",
                    fraction=0.04,
                    pad=0.02,
                    label="Δ (normalised)",
                )
    return save_figure(fig, path)


def dose_series_figure(
    path: str | Path,
    source: tuple[str, np.ndarray],
    series: Sequence[tuple[Condition, np.ndarray]],
    channel_names: Sequence[str],
    differences: bool = False,
    control: str | None = None,
) -> Path:
    """The input at left, one row per compound (the ``control`` first), columns by
    increasing concentration.

    source : (label, image (C, Y, X)) in normalised units.
    series : (target condition, translated image) pairs, any order.
    differences : show |translated − input| summed over channels instead of the images, on
        one colour scale for the whole figure.
    """
    rows: dict[str, list[tuple[Condition, np.ndarray]]] = {}
    for condition, image in sorted(series, key=lambda p: p[0].sort_key(control)):
        rows.setdefault(condition.compound, []).append((condition, image))
    ncols = 1 + max(len(r) for r in rows.values())
    fig, axes = _figure(len(rows), ncols)
    label, src = source
    vmax = max(float(np.abs(im - src).sum(0).max()) for _, im in series) or 1.0
    shown = None
    for r, (compound, items) in enumerate(rows.items()):
        # the input itself in both modes: the reference every column is compared with
        axes[r, 0].imshow(to_rgb(src, channel_names))
        axes[r, 0].set_ylabel(compound, fontsize=9)
        if r == 0:
            axes[r, 0].set_title(f"{label}\n(input)", fontsize=8)
        for c, (condition, image) in enumerate(items, start=1):
            if differences:
                shown = axes[r, c].imshow(
                    np.abs(image - src).sum(0), cmap="magma", vmin=0, vmax=vmax
                )
            else:
                axes[r, c].imshow(to_rgb(image, channel_names))
            dose = f"{condition.concentration:g} µM" if condition.dosed else condition.name
            axes[r, c].set_title(dose, fontsize=8)
        for c in range(len(items) + 1, ncols):
            axes[r, c].set_visible(False)
    if shown is not None:
        fig.colorbar(
            shown, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02,
            label="|translated − input|, summed over channels (normalised)",
        )  # fmt: skip
    return save_figure(fig, path)

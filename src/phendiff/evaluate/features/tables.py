"""Cell tables after measuring: their feature columns, per-image records and aggregates.

A cell table has one row per cell: metadata columns, ``ObjectNumber`` and feature columns
prefixed by an object name (:data:`OBJECTS`); ``table.attrs["images"]`` lists every measured
field with its ``cell_count``. :func:`feature_columns` and :func:`image_table` read these
back; :func:`aggregate` gives per-group (per-image, per-condition) means or medians with
counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from phendiff.errors import PhendiffError

#: Object names, the prefixes of every feature column.
OBJECTS: tuple[str, ...] = ("Nuclei", "Cells")
_IMAGES_ATTR = "images"  # DataFrame.attrs key of the per-image records (with cell_count)


def image_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per measured field: its metadata and ``cell_count`` (0 for empty fields).

    Parameters
    ----------
    table : pandas.DataFrame
        A table from :func:`measure_image` or :func:`measure_images`; the records live in
        ``table.attrs["images"]`` (filtering rows keeps them all).

    Returns
    -------
    pandas.DataFrame
    """
    records = table.attrs.get(_IMAGES_ATTR)
    if records is None:
        raise PhendiffError(
            "table has no per-image records (attrs['images']); expected a table from "
            "measure_images, or pass images= explicitly"
        )
    return pd.DataFrame.from_records(records)


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns of a cell table: those named ``Nuclei_*`` or ``Cells_*``.

    Parameters
    ----------
    table : pandas.DataFrame
        A cell table (:func:`~phendiff.evaluate.features.measure.measure_images`) or an
        aggregate of one.

    Returns
    -------
    list of str
        In the table's column order.
    """
    return [
        c
        for c in table.columns
        if isinstance(c, str) and c.startswith(tuple(f"{obj}_" for obj in OBJECTS))
    ]


def aggregate(
    table: pd.DataFrame,
    by: str | Sequence[str] = ("condition",),
    how: str = "mean",
    images: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-group mean or median of every feature over the cells, with cell counts.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell (:func:`measure_images`).
    by : str or sequence of str, default ("condition",)
        Metadata columns to group by: ``("image",)`` for per-field profiles,
        ``("condition",)`` for per-condition ones (cells pooled over the fields).
    how : {"mean", "median"}, default "mean"
    images : pandas.DataFrame, optional
        One row per measured field, with the ``by`` columns; default
        :func:`image_table` of ``table`` when it has the records. It adds the groups where
        no cell was found (``cell_count`` 0, features NaN) and the field counts.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``by``: the ``by`` columns, ``cell_count`` (cells in the
        group), and, when fields are known, ``image_count`` and ``cells_per_image``; then
        the aggregated feature columns under their own names.

    Examples
    --------
    >>> cells = pd.DataFrame({"condition": ["a", "a", "b"], "Cells_AreaShape_Area": [1., 3., 5.]})
    >>> aggregate(cells)[["condition", "cell_count", "Cells_AreaShape_Area"]].to_dict("list")
    {'condition': ['a', 'b'], 'cell_count': [2, 1], 'Cells_AreaShape_Area': [2.0, 5.0]}
    """
    by = [by] if isinstance(by, str) else list(by)
    if how not in ("mean", "median"):
        raise PhendiffError(f"how = {how!r}; expected 'mean' or 'median'")
    missing = [key for key in by if key not in table.columns]
    if not by or missing:
        raise PhendiffError(
            f"cannot group by {by}: missing columns {missing}; expected metadata columns of "
            f"the table, e.g. {[c for c in table.columns if c not in feature_columns(table)]}"
        )
    if images is None and _IMAGES_ATTR in table.attrs:
        images = image_table(table)
    features = feature_columns(table)
    grouped = table.groupby(by, dropna=False, sort=True)
    out = grouped[features].agg(how) if features else grouped.size().to_frame().iloc[:, :0]
    out.insert(0, "cell_count", grouped.size())
    if images is not None:
        out = _add_image_counts(out, images, by)
    out["cell_count"] = out["cell_count"].fillna(0).astype(np.int64)
    return out.reset_index()


def _add_image_counts(out: pd.DataFrame, images: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Join field counts; groups seen only among the fields (no cells) get rows too."""
    missing = [key for key in by if key not in images.columns]
    if missing:
        raise PhendiffError(
            f"images lacks the columns {missing} to group by; expected the table's metadata"
        )
    counts = images.groupby(by, dropna=False, sort=True).size().rename("image_count")
    out = out.join(counts, how="outer").sort_index()
    out["image_count"] = out["image_count"].fillna(0).astype(np.int64)
    fields = out["image_count"].where(out["image_count"] > 0)  # NaN, not inf, for no field
    out["cells_per_image"] = out["cell_count"].fillna(0) / fields
    counts = ["cell_count", "image_count", "cells_per_image"]
    return out[counts + [c for c in out.columns if c not in counts]]

"""Label masks of an evaluation: written under ``REPORT/masks/``, or taken from ``--masks DIR``.

Every measured image has a key (``real/DMSO/DMSO_P1_A01_f000``,
``translated/latrunculin@3/<input id>``; the ``image`` column of the tables) and two masks
named after it: ``<key>_nuclei.tif`` and ``<key>_cells.tif``, ``(Y, X)`` uint16 (uint32
beyond 65,535 objects), 0 background, cell ``i`` holding nucleus ``i``.

Masks made elsewhere (cellpose, CellProfiler, by hand) are found in ``DIR`` under the same
names, so the ``masks/`` folder of an earlier evaluation is a valid ``DIR``; a real image's
masks may also lie flat in ``DIR`` as ``<file stem>_nuclei.tif``. ``_cells.tif`` is optional
(the cells are then the nuclei); when given, each nucleus is renumbered to the cell holding
most of its pixels (two nuclei in one cell become one nucleus), and nuclei outside every cell
are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from phendiff.data.atomic import atomic_write
from phendiff.errors import PhendiffError

SUFFIXES = ("_nuclei.tif", "_cells.tif")


def _candidates(folder: Path, meta: Mapping) -> list[Path]:
    """Where the nuclei mask of an image may be: by key, then (real images) by file stem."""
    out = [folder / f"{meta['image']}{SUFFIXES[0]}"]
    if meta.get("kind") == "real":
        out.append(folder / f"{Path(meta['path']).stem}{SUFFIXES[0]}")
    return out


def _shape(path: Path) -> tuple[int, ...]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            shape = tuple(tif.series[0].shape)
    except Exception as exc:  # tifffile raises many kinds for a damaged file
        raise PhendiffError(
            f"{path}: cannot be read as a TIFF ({' '.join(str(exc).split())}); expected a "
            "label mask — rewrite it or remove it"
        ) from None
    while len(shape) > 2 and shape[0] == 1:
        shape = shape[1:]
    return shape


def find_masks(folder: str | Path, items: Sequence[tuple[np.ndarray, Mapping]]) -> list[tuple]:
    """The mask files of every image, checked against the images before any work.

    Parameters
    ----------
    folder : str or path-like
        The ``--masks`` folder.
    items : sequence of (image, metadata)
        The images to measure, ``(C, Y, X)``, with ``image`` (key), ``kind`` and ``path``.

    Returns
    -------
    list of (nuclei path, cells path or None)
        One pair per item, in order.

    Raises
    ------
    PhendiffError
        If the folder does not exist, an image has no nuclei mask (the message gives how
        many and the first name looked for), or a mask's shape is not its image's ``(Y, X)``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PhendiffError(f"--masks {folder}: not a folder; expected a folder of label masks")
    found, missing = [], []
    for image, meta in items:
        nuclei = next((p for p in _candidates(folder, meta) if p.is_file()), None)
        if nuclei is None:
            missing.append(_candidates(folder, meta)[0])
            continue
        cells = nuclei.with_name(nuclei.name[: -len(SUFFIXES[0])] + SUFFIXES[1])
        cells = cells if cells.is_file() else None
        for path in (nuclei, cells):
            if path is not None and _shape(path) != tuple(image.shape[1:]):
                raise PhendiffError(
                    f"{path}: shape {_shape(path)}; expected {tuple(image.shape[1:])}, the "
                    f"(Y, X) of its image {meta['path']} — masks must match their images"
                )
        found.append((nuclei, cells))
    if missing:
        raise PhendiffError(
            f"--masks {folder}: no masks for {len(missing)} of {len(items)} images, e.g. "
            f"{missing[0]}; expected <image>{SUFFIXES[0]} (and optionally "
            f"<image>{SUFFIXES[1]}) for every image, named as an evaluation's masks/ folder "
            "names them"
        )
    return found


def read_label(path: Path) -> np.ndarray:
    """A ``(Y, X)`` label mask as int64; non-integer or negative labels are an error."""
    import tifffile

    labels = np.asarray(tifffile.imread(path))
    while labels.ndim > 2 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.dtype.kind == "f" and np.array_equal(labels, np.round(labels)):
        labels = labels.astype(np.int64)  # some tools save labels as floats
    if labels.dtype.kind not in "iu" or labels.ndim != 2:
        raise PhendiffError(
            f"{path}: {labels.dtype} of shape {labels.shape}; expected integer labels (Y, X)"
        )
    if labels.min(initial=0) < 0:
        raise PhendiffError(f"{path}: negative labels; expected 0 (background) and 1..N")
    return labels.astype(np.int64)


def pair_nuclei(nuclei: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Renumber each nucleus to the cell that holds most of its pixels (0 outside all cells).

    Examples
    --------
    >>> nuclei = np.array([[1, 1, 0, 2]]); cells = np.array([[5, 5, 7, 7]])
    >>> pair_nuclei(nuclei, cells).tolist()
    [[5, 5, 0, 7]]
    """
    out = np.zeros_like(cells)
    inside = (nuclei > 0) & (cells > 0)
    if not inside.any():
        return out
    pairs, counts = np.unique(np.stack([nuclei[inside], cells[inside]]), axis=1, return_counts=True)
    best: dict[int, tuple[int, int]] = {}
    for (n, c), k in zip(pairs.T.tolist(), counts.tolist(), strict=True):
        if k > best.get(n, (0, 0))[1]:
            best[n] = (c, k)
    lookup = np.zeros(int(nuclei.max()) + 1, dtype=cells.dtype)
    for n, (c, _) in best.items():
        lookup[n] = c
    return lookup[nuclei]


def load_masks(pair: tuple[Path, Path | None]) -> tuple[np.ndarray, np.ndarray]:
    """``(nuclei, cells)`` from a :func:`find_masks` pair, nuclei numbered by their cells."""
    nuclei = read_label(pair[0])
    if pair[1] is None:
        return nuclei, nuclei
    cells = read_label(pair[1])
    return pair_nuclei(nuclei, cells), cells


def write_masks(folder: Path, key: str, nuclei: np.ndarray, cells: np.ndarray) -> None:
    """Write ``folder/<key>_nuclei.tif`` and ``_cells.tif`` atomically (uint16 if they fit,
    zlib-compressed)."""
    import tifffile

    top = max(int(nuclei.max(initial=0)), int(cells.max(initial=0)))
    dtype = np.uint16 if top <= np.iinfo(np.uint16).max else np.uint32
    for suffix, labels in zip(SUFFIXES, (nuclei, cells), strict=True):
        path = folder / f"{key}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = np.ascontiguousarray(labels, dtype=dtype)
        # zlib: label images compress ~1000×, and tifffile reads it without extra packages
        atomic_write(path, lambda tmp, data=data: tifffile.imwrite(tmp, data, compression="zlib"))

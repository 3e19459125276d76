"""Compare two output trees of make.sh (e.g. before and after a refactor), file by file.

TIFFs: dtype, shape, pixels, and the OME metadata without its random UUID (tifffile writes a
fresh one into every file); PNGs: decoded pixels (count and size of the differences); npz:
every array; text: the bytes after replacing each tree's own path with ROOT; anything else:
the bytes. Prints one line per file that differs, then a summary.

    python experiments/equivalence/compare.py BEFORE AFTER
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

TEXT = {".csv", ".json", ".yaml", ".html", ".txt", ".jsonl", ".md"}


def _tiff(path: Path) -> tuple[np.ndarray, str]:
    with tifffile.TiffFile(path) as t:
        return t.asarray(), re.sub(r'UUID="[^"]*"', "", t.ome_metadata or "")


def compare_tiff(a: Path, b: Path) -> str | None:
    (xa, ma), (xb, mb) = _tiff(a), _tiff(b)
    if xa.dtype != xb.dtype or xa.shape != xb.shape:
        return f"dtype/shape {xa.dtype}{xa.shape} vs {xb.dtype}{xb.shape}"
    if not np.array_equal(xa, xb, equal_nan=True):
        d = np.nanmax(np.abs(xa.astype(float) - xb.astype(float)))
        return f"pixels differ, max |d| = {d:.3g}"
    return "OME metadata differs" if ma != mb else None


def compare_png(a: Path, b: Path) -> str | None:
    xa, xb = np.asarray(Image.open(a)).astype(int), np.asarray(Image.open(b)).astype(int)
    if xa.shape != xb.shape:
        return f"png shape {xa.shape} vs {xb.shape}"
    if np.array_equal(xa, xb):
        return None
    d = np.abs(xa - xb)
    return f"png: {int((d > 0).sum())} of {d.size} values differ, by at most {d.max()}"


def compare_npz(a: Path, b: Path) -> str | None:
    za, zb = np.load(a), np.load(b)
    notes = [f"{k} only in one" for k in sorted(set(za.files) ^ set(zb.files))]
    for k in sorted(set(za.files) & set(zb.files)):
        if not np.array_equal(za[k], zb[k]):
            x, y = za[k].astype(float), zb[k].astype(float)
            notes.append(f"{k}: max |d| = {np.max(np.abs(x - y)):.3g} (range {np.ptp(x):.3g})")
    return "; ".join(notes) or None


def compare_text(a: Path, b: Path, root_a: Path, root_b: Path) -> str | None:
    la = a.read_text(errors="replace").replace(str(root_a), "ROOT").splitlines()
    lb = b.read_text(errors="replace").replace(str(root_b), "ROOT").splitlines()
    if la == lb:
        return None
    n = min(len(la), len(lb))
    first = next((i for i in range(n) if la[i] != lb[i]), n)
    line = lambda lines: lines[first][:90] if first < len(lines) else ""  # noqa: E731
    return f"text differs at line {first + 1}: {line(la)!r} vs {line(lb)!r}"


def compare(a: Path, b: Path, root_a: Path, root_b: Path) -> str | None:
    """None when the two files hold the same thing, else what differs."""
    suffix = a.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return compare_tiff(a, b)
    if suffix == ".png":
        return compare_png(a, b)
    if suffix == ".npz":
        return compare_npz(a, b)
    if suffix in TEXT:
        return compare_text(a, b, root_a, root_b)
    return None if a.read_bytes() == b.read_bytes() else "bytes differ"


def main(a: Path, b: Path) -> None:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    for rel in sorted(files_a ^ files_b):
        print("only in", a if rel in files_a else b, rel)
    differ = 0
    for rel in sorted(files_a & files_b):
        note = compare(a / rel, b / rel, a, b)
        if note:
            print(f"{rel}: {note}")
            differ += 1
    same = len(files_a & files_b) - differ
    print(f"identical: {same}, different: {differ}, in one tree only: {len(files_a ^ files_b)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

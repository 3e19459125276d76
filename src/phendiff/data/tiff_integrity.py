"""Is a TIFF whole? What it holds compared with what its header and metadata promise.

A TIFF cut short (an interrupted copy, a full disk) loses its last pages or tags, or the end of
their pixel data. tifffile logs such damage and reads on, so a cut 3-channel file would come
back as its first page: one channel, and an error about channel counts instead of the file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np


class TruncatedTiff(Exception):
    """A TIFF that holds less than its own header and metadata promise."""


@contextlib.contextmanager
def tiff_errors():
    """Collect (and keep off the console) what tifffile logs about a damaged structure."""
    import logging

    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("tifffile")
    handler, propagate = Collect(logging.ERROR), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def check_complete(path: Path, tif, errors: list[str]) -> None:
    """Compare what the file holds with what it promises: a cut file is named as cut.

    A TIFF cut short loses its last pages or tags (tifffile logs them as invalid offsets and
    reads on, so a 3-channel file would look like 1 channel) or the end of their pixel data.
    Every page and tag must parse, every page's data must lie inside the file, and the page
    count must match the planes promised by the OME-XML, ImageJ or tifffile (shape) metadata.
    """
    size = os.path.getsize(path)
    pages = [p for p in tif.pages if p is not None]
    if errors:
        raise TruncatedTiff(f"{' '.join(errors[0].split())[:120]}, {size} bytes on disk")
    for page in pages:
        ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts, strict=False)]
        if ends and max(ends) > size:
            raise TruncatedTiff(f"pixel data up to byte {max(ends)}, {size} bytes on disk")
    promised = _promised_pages(tif, pages)
    if promised is not None and len(pages) < promised:
        raise TruncatedTiff(f"{len(pages)} of {promised} image planes, {size} bytes on disk")


def _promised_pages(tif, pages) -> int | None:
    """Pages the first page's metadata announces, or None when it announces nothing."""
    import xml.etree.ElementTree as ET

    if not pages:
        return None
    if tif.is_ome and tif.ome_metadata:
        try:
            root = ET.fromstring(tif.ome_metadata)
        except ET.ParseError:
            return None
        total = 0
        for pixels in root.iter():
            if pixels.tag.endswith("}Pixels") or pixels.tag == "Pixels":
                n = 1
                for axis in ("SizeC", "SizeZ", "SizeT"):
                    n *= int(pixels.attrib.get(axis, 1))
                channels = [c for c in pixels if c.tag.endswith("Channel")]
                samples = int(channels[0].attrib.get("SamplesPerPixel", 1)) if channels else 1
                total += max(1, n // samples)
        return total or None
    if tif.is_imagej and tif.imagej_metadata:
        return int(tif.imagej_metadata.get("images", 1))
    if tif.is_shaped and tif.shaped_metadata:
        total = 0
        per_page = int(np.prod(pages[0].shape))
        for meta in tif.shaped_metadata:
            shape = meta.get("shape")
            if not shape or per_page == 0:
                return None
            total += max(1, int(np.prod(shape)) // per_page)
        return total
    return None

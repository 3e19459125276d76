"""What an image file says about itself beyond its pixels: pixel size and provenance.

:func:`read_physical_size` reads the size of a pixel in µm from OME-XML
(``PhysicalSizeX/Y`` with their units), else from the TIFF resolution tags (ImageJ's
``unit=micron`` or a centimetre/inch ``ResolutionUnit``); :func:`tiff_extras` turns a pixel size
and provenance notes into what :func:`phendiff.data.io.write_tiff` stores: OME
``PhysicalSizeX/Y`` in µm, the same size in the TIFF resolution tags (pixels per centimetre,
which ImageJ and most viewers read), and an OME ``MapAnnotation`` in the ``phendiff``
namespace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

NAMESPACE = "phendiff"
# length units of OME and ImageJ, in µm
_UNITS = {
    "nm": 1e-3, "nanometer": 1e-3, "µm": 1.0, "um": 1.0, "μm": 1.0, "micron": 1.0,
    "micrometer": 1.0, "mm": 1e3, "millimeter": 1e3, "cm": 1e4,
    "centimeter": 1e4, "m": 1e6, "meter": 1e6, "in": 25400.0, "inch": 25400.0,
}  # fmt: skip


def _in_um(value, unit: str | None) -> float | None:
    try:
        size = float(value)
    except (TypeError, ValueError):
        return None
    factor = _UNITS.get((unit or "µm").strip().lower())
    if factor is None or not size > 0 or size == float("inf"):
        return None
    return size * factor


def _from_ome(xml: str) -> tuple[float, float] | None:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Pixels":
            y = _in_um(el.get("PhysicalSizeY"), el.get("PhysicalSizeYUnit"))
            x = _in_um(el.get("PhysicalSizeX"), el.get("PhysicalSizeXUnit"))
            if x is not None:
                return (y if y is not None else x, x)
            return None
    return None


def _from_tags(tif) -> tuple[float, float] | None:
    page = tif.pages[0]
    tags = page.tags
    if "XResolution" not in tags:
        return None

    def per_pixel(name):
        num, den = tags[name].value if name in tags else tags["XResolution"].value
        return den / num if num else None  # resolution is pixels per unit

    unit = None
    imagej = tif.imagej_metadata or {}
    if imagej.get("unit"):
        unit = str(imagej["unit"])
    else:
        code = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
        unit = {2: "inch", 3: "cm"}.get(code)  # 1: no unit, so no physical size
    if unit is None:
        return None
    x = _in_um(per_pixel("XResolution"), unit)
    y = _in_um(per_pixel("YResolution"), unit)
    if x is None or (unit == "inch" and abs(x - 25400 / 72) < 1e-6):
        return None  # 72 dpi: the placeholder of image programs, not a microscope's size
    return (y if y is not None else x, x)


def read_physical_size(path: str | os.PathLike) -> tuple[float, float] | None:
    """The size of a pixel in µm as ``(y, x)``, or None when the file does not say.

    Examples
    --------
    >>> read_physical_size("field.ome.tif")  # doctest: +SKIP
    (0.65, 0.65)
    """
    import tifffile

    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    try:
        with tifffile.TiffFile(path) as tif:
            if tif.ome_metadata:
                found = _from_ome(tif.ome_metadata)
                if found is not None:
                    return found
            return _from_tags(tif)
    except Exception:  # an unreadable file is reported by read_image, not here
        return None


def tiff_extras(
    physical_size: tuple[float, float] | None, notes: Mapping[str, str] | None
) -> tuple[dict, dict]:
    """OME metadata entries and ``tifffile.imwrite`` keywords for a pixel size and notes."""
    metadata: dict = {}
    keywords: dict = {}
    if physical_size is not None:
        y, x = (float(v) for v in physical_size)
        metadata |= {"PhysicalSizeX": x, "PhysicalSizeXUnit": "µm",
                     "PhysicalSizeY": y, "PhysicalSizeYUnit": "µm"}  # fmt: skip
        keywords |= {"resolution": (1e4 / x, 1e4 / y), "resolutionunit": "CENTIMETER"}
    if notes:
        metadata["MapAnnotation"] = {
            "Namespace": NAMESPACE,
            "Value": {str(k): str(v) for k, v in notes.items()},
        }
    return metadata, keywords


def read_notes(path: str | os.PathLike) -> dict[str, str]:
    """The ``phendiff`` MapAnnotation of an OME-TIFF (source, target, model, version)."""
    import xml.etree.ElementTree as ET

    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            root = ET.fromstring(tif.ome_metadata or "<OME/>")
    except Exception:
        return {}
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "MapAnnotation" and el.get("Namespace") == NAMESPACE:
            return {m.get("K"): m.text or "" for m in el.iter() if m.tag.rsplit("}", 1)[-1] == "M"}
    return {}

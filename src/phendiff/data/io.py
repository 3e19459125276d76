"""Read and write microscopy images as ``(C, Y, X)`` numpy arrays.

Conventions
-----------
* Every image comes back as ``(C, Y, X)`` in the file's own dtype: ``uint8``, ``uint16`` or
  ``float32``. Other types are converted losslessly where possible: ``bool`` → ``uint8``;
  signed integers, 32/64-bit integers and ``float16``/``float64`` → ``float32``.
* TIFF (tifffile): a 2-D image is one channel. A 3-D image has its channels on
  ``channel_axis``, which defaults to axis 0, i.e. ``(C, Y, X)`` files. The axis is never
  guessed from the shape: files stored as ``(Y, X, C)`` need ``channel_axis=-1``. The one
  exception is an RGB TIFF, whose colour samples the format itself marks as the last axis.
  A multi-page TIFF whose pages are 2-D planes of one shape stacks its pages as channels.
* PNG/JPEG (Pillow): the format defines the channels, so ``channel_axis`` is ignored.
  Grayscale (8 or 16 bit) → 1 channel, RGB → 3; alpha is dropped and palettes become RGB.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from phendiff.data.atomic import already_exists, atomic_write
from phendiff.data.tiff_integrity import TruncatedTiff, check_complete, tiff_errors
from phendiff.errors import PhendiffError

TIFF_SUFFIXES = (".tif", ".tiff")
PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PILLOW_SUFFIXES

_KEPT_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def _one_line(exc: BaseException) -> str:
    # decoder messages can span lines; PhendiffError messages must not
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _check_file(path: Path) -> str:
    """Return the lower-case suffix of an existing, supported image file."""
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise PhendiffError(
            f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; expected one of "
            f"{', '.join(IMAGE_SUFFIXES)} — convert the image to TIFF"
        )
    if not path.exists():
        raise PhendiffError(f"{path}: file not found; expected an image file — check the path")
    if not path.is_file():
        raise PhendiffError(f"{path}: is a folder, not an image file — check the path")
    return suffix


def _native_dtype(path: Path, image: np.ndarray) -> np.ndarray:
    """Bring ``image`` to uint8, uint16 or float32 (native byte order) and check it is finite."""
    dtype = image.dtype
    if dtype.kind == "b":
        image = image.astype(np.uint8)
    elif dtype.kind not in "uif" or dtype.itemsize > 8:
        raise PhendiffError(
            f"{path}: pixel type {dtype} is not supported; expected uint8, uint16 or float32 "
            "— convert the image to one of those"
        )
    elif np.dtype(dtype.newbyteorder("=")) not in _KEPT_DTYPES:
        # signed, 32/64-bit and half/double data: float32 holds them exactly or to 24 bits
        image = image.astype(np.float32)
    image = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder("="))
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        n_bad = int(np.size(image) - np.count_nonzero(np.isfinite(image)))
        raise PhendiffError(
            f"{path}: {n_bad} NaN or infinite pixel value(s); expected finite intensities "
            "— fix or drop this image"
        )
    return image


def _to_cyx(path: Path, image: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """Arrange a decoded 2-D or 3-D array as ``(C, Y, X)``."""
    if image.ndim == 2:
        return image[np.newaxis]
    if image.ndim != 3:
        raise PhendiffError(
            f"{path}: shape {tuple(image.shape)}; expected (C, Y, X) or (Y, X) — save one "
            "2-D or 3-D image per file (e.g. a max projection over Z, one file per time point)"
        )
    axis = 0 if channel_axis is None else channel_axis
    if not -3 <= axis <= 2:
        raise PhendiffError(
            f"{path}: channel_axis={channel_axis} is out of range for shape "
            f"{tuple(image.shape)}; expected an axis from -3 to 2, e.g. -1 for (Y, X, C)"
        )
    return np.moveaxis(image, axis, 0)


def _read_tiff_array(path: Path) -> tuple[np.ndarray, str]:
    """Decode a TIFF; return the array and its tifffile axes string."""
    import tifffile

    with tiff_errors() as errors, tifffile.TiffFile(path) as tif:
        decoded = _decode_tiff(tif)
        check_complete(path, tif, errors)
    return decoded


def _decode_tiff(tif) -> tuple[np.ndarray, str]:
    series = tif.series
    if not series:
        raise ValueError("no readable image pages")
    planes = [s for s in series if len(s.shape) == 2]
    if len(series) > 1 and len(planes) == len(series):
        shapes = {(s.shape, s.dtype) for s in planes}
        if len(shapes) == 1:
            # pages written one at a time are separate series; they are channel planes
            return np.stack([s.asarray() for s in planes]), "CYX"
    return series[0].asarray(), series[0].axes


def _read_tiff(path: Path, channel_axis: int | None) -> np.ndarray:
    try:
        image, axes = _read_tiff_array(path)
    except TruncatedTiff as exc:
        raise PhendiffError(
            f"{path}: truncated or damaged TIFF ({exc}); expected the whole file — copy or "
            "export it again"
        ) from None
    except Exception as exc:  # tifffile raises a zoo of types for damaged files
        raise PhendiffError(
            f"{path}: cannot be read as TIFF ({_one_line(exc)}); expected a valid TIFF file — "
            "the file may be truncated or corrupt, re-export or drop it"
        ) from None
    if channel_axis is None and image.ndim == 3 and axes.endswith("S"):
        # RGB(A) TIFFs interleave samples last; the file says so, nothing is guessed
        channel_axis = -1
    return _to_cyx(path, image, channel_axis)


def _png_colour_depth(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG header, or None if the header is not PNG."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _read_pillow(path: Path) -> np.ndarray:
    from PIL import Image

    depth = _png_colour_depth(path) if path.suffix.lower() == ".png" else None
    if depth is not None and depth[0] == 16 and depth[1] in (2, 4, 6):
        raise PhendiffError(
            f"{path}: 16-bit colour PNG; expected 8-bit colour or 8/16-bit grayscale PNG "
            "(Pillow would silently drop 8 bits) — save it as a (C, Y, X) TIFF"
        )
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("P", "PA", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
                img = img.convert("RGB")
            elif img.mode in ("LA", "La", "1"):
                img = img.convert("L")
            image = np.array(img)
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... when damaged
        raise PhendiffError(
            f"{path}: cannot be read as {path.suffix.lstrip('.').upper()} "
            f"({_one_line(exc)}); expected a valid image file — the file may be truncated "
            "or corrupt, re-export or drop it"
        ) from None
    if image.dtype == np.int32 and path.suffix.lower() == ".png":
        # PNG stores at most 16 bits; older Pillow decodes 16-bit gray as int32 mode "I"
        image = image.astype(np.uint16)
    if image.ndim == 3:
        return np.moveaxis(image, -1, 0)
    return image[np.newaxis]


def read_image(path: str | os.PathLike, channel_axis: int | None = None) -> np.ndarray:
    """Read one image file as ``(C, Y, X)``.

    Parameters
    ----------
    path : str or path-like
        A ``.tif``/``.tiff``, ``.png`` or ``.jpg``/``.jpeg`` file.
    channel_axis : int, optional
        Axis of the channels in a 3-D TIFF. ``None`` (default) means axis 0, i.e. the file
        is ``(C, Y, X)``, or the colour axis of an RGB TIFF. Pass ``-1`` for ``(Y, X, C)``
        files. Ignored for PNG/JPEG, whose format defines the channels.

    Returns
    -------
    numpy.ndarray
        ``(C, Y, X)`` array of dtype uint8, uint16 or float32 (see the module docstring).

    Raises
    ------
    PhendiffError
        Missing, unsupported, unreadable or corrupt files; arrays with 4 or more dimensions;
        float images containing NaN or inf.

    Examples
    --------
    >>> image = read_image("plate1/A01.tif")                  # doctest: +SKIP
    >>> image = read_image("rgb_like.tif", channel_axis=-1)   # doctest: +SKIP
    """
    path = Path(path)
    suffix = _check_file(path)
    if suffix in TIFF_SUFFIXES:
        image = _read_tiff(path, channel_axis)
    else:
        image = _read_pillow(path)
    if image.size == 0:
        raise PhendiffError(
            f"{path}: empty image of shape {tuple(image.shape)}; expected pixels — "
            "re-export or drop it"
        )
    return _native_dtype(path, image)


def read_channel_names(path: str | os.PathLike) -> tuple[str, ...] | None:
    """Channel names stored in an OME-TIFF's metadata, or None when it names none.

    >>> read_channel_names("field.ome.tif")  # doctest: +SKIP
    ('DNA', 'tubulin', 'actin')
    """
    import xml.etree.ElementTree as ET

    import tifffile

    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return None
    try:
        with tifffile.TiffFile(path) as tif:
            xml = tif.ome_metadata
    except Exception:  # unreadable files are reported by read_image, not here
        return None
    if not xml:
        return None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    names = [el.get("Name") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Channel"]
    return tuple(names) if names and all(names) else None


def read_channels(paths: Sequence[str | os.PathLike]) -> np.ndarray:
    """Read one single-channel file per channel and stack them as ``(C, Y, X)``.

    Parameters
    ----------
    paths : sequence of str or path-like
        One 2-D (or ``(1, Y, X)``) image file per channel, in channel order.

    Returns
    -------
    numpy.ndarray
        ``(C, Y, X)`` with ``C = len(paths)``, in the files' common dtype.

    Raises
    ------
    PhendiffError
        No paths; a file with more than one channel; files whose shapes or dtypes differ;
        any error of :func:`read_image`.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise PhendiffError("no channel files given; expected one image file per channel")
    planes = []
    for path in paths:
        plane = read_image(path)
        if plane.shape[0] != 1:
            raise PhendiffError(
                f"{path}: {plane.shape[0]} channels; expected one 2-D plane per file when "
                "channels come as separate files — give a single multi-channel file instead"
            )
        first = planes[0] if planes else plane
        if plane.shape != first.shape or plane.dtype != first.dtype:
            raise PhendiffError(
                f"{path}: shape {plane.shape[1:]} {plane.dtype}; expected the same shape and "
                f"dtype as the first channel file {paths[0]} ({first.shape[1:]} {first.dtype}) "
                "— the channel files of one image must match"
            )
        planes.append(plane)
    return np.concatenate(planes, axis=0)


def _check_writable(path: Path, image: np.ndarray, channel_names: Sequence[str] | None):
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise PhendiffError(
            f"{path}: cannot write {path.suffix or 'a file without suffix'!r}; expected a "
            "'.tif' or '.ome.tif' path"
        )
    if image.ndim != 3:
        raise PhendiffError(
            f"{path}: cannot write an image of shape {tuple(image.shape)}; expected (C, Y, X)"
        )
    if image.dtype not in _KEPT_DTYPES:
        raise PhendiffError(
            f"{path}: cannot write dtype {image.dtype}; expected uint8, uint16 or float32 — "
            "cast it first (Normalizer.to_output_dtype does that for model outputs)"
        )
    if channel_names is not None and len(channel_names) != image.shape[0]:
        raise PhendiffError(
            f"{path}: {len(channel_names)} channel names for {image.shape[0]} channels; "
            "expected one name per channel"
        )


def content_uuid(image: np.ndarray, channel_names: Sequence[str] | None = None) -> str:
    """An OME UUID derived from the pixels, shape, dtype and channel names (``urn:uuid:...``).

    Identical images get identical files: two runs that compute the same pixels write the
    same bytes, and a file's UUID still tells different images apart.
    """
    import hashlib
    import uuid

    h = hashlib.sha256()
    h.update(f"{image.shape}|{image.dtype.str}|{list(channel_names or [])}".encode())
    h.update(np.ascontiguousarray(image).tobytes())
    # a name-based UUID (RFC 4122, version 5) whose name is the content's SHA-256
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'phendiff:sha256:' + h.hexdigest())}"


def write_tiff(
    path: str | os.PathLike,
    image: np.ndarray,
    channel_names: Sequence[str] | None = None,
    overwrite: bool = False,
    physical_size: tuple[float, float] | None = None,
    notes: Mapping[str, str] | None = None,
) -> Path:
    """Write a ``(C, Y, X)`` image as an OME-TIFF, atomically.

    The image is written to a hidden temporary file in the destination folder and moved into
    place, so a reader never sees a half-written file. Parent folders are created.

    Parameters
    ----------
    path : str or path-like
        Destination ending in ``.tif`` or ``.tiff`` (``.ome.tif`` recommended).
    image : numpy.ndarray
        ``(C, Y, X)`` array of dtype uint8, uint16 or float32; a ``(Y, X)`` array is written
        as one channel.
    channel_names : sequence of str, optional
        One name per channel, stored in the OME metadata.
    overwrite : bool
        Replace an existing file; otherwise an existing file is an error.
    physical_size : (float, float), optional
        Pixel size ``(y, x)`` in µm: OME ``PhysicalSizeY/X`` and the TIFF resolution tags.
    notes : mapping of str to str, optional
        Provenance (source, target, model, version) as an OME ``MapAnnotation``
        (:func:`phendiff.data.metadata.read_notes` reads it back).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    import tifffile

    path = Path(path)
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[np.newaxis]
    image = image.astype(image.dtype.newbyteorder("="), copy=False)
    _check_writable(path, image, channel_names)
    if path.exists() and not overwrite:
        raise already_exists(path)
    from phendiff.data.metadata import tiff_extras

    metadata: dict = {"axes": "CYX", "UUID": content_uuid(image, channel_names)}
    if channel_names is not None:
        metadata["Channel"] = {"Name": [str(name) for name in channel_names]}
    extra, keywords = tiff_extras(physical_size, notes)
    metadata |= extra

    def write(tmp: Path) -> None:
        # opened with "x" rather than mkstemp so the file gets the usual umask permissions
        with open(tmp, "xb") as fh:
            tifffile.imwrite(
                fh, np.ascontiguousarray(image), ome=True, photometric="minisblack",
                metadata=metadata, **keywords,
            )

    atomic_write(path, write, overwrite=overwrite)
    return path


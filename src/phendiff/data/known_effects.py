"""Known effects applied to real images: objects shrunk, swollen, removed, brightened, roughened.

A model's translations are only as trustworthy as a test whose answer is known. The built-in
synthetic screen knows its answers but shares the renderer's assumptions; these functions put
known effects into *real* images instead, object by object, from a label image of the objects
(0 = background): :func:`scale_objects` resizes every object about its centroid (its area
scales by ``factor²``), :func:`remove_objects` deletes some, :func:`scale_intensity` scales
their signal above the background, :func:`scale_texture` scales their fine texture (the
image minus its Gaussian blur) away from their rims. Whatever an object leaves uncovered is
filled with pixels drawn from the image's own background, so the noise and background level
stay real.

All functions take ``(C, Y, X)`` images (any dtype; float64 inside), a ``(Y, X)`` int label
image and an explicit ``numpy.random.Generator``, and return ``(image, labels)`` of the same
shapes, the labels describing the objects as they are after the effect.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from phendiff.errors import PhendiffError


def _check(image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    image, labels = np.asarray(image), np.asarray(labels)
    if image.ndim != 3 or labels.shape != image.shape[1:]:
        raise PhendiffError(
            f"image {image.shape} and labels {labels.shape}; expected (C, Y, X) and (Y, X)"
        )
    if labels.dtype.kind not in "iu" or labels.min() < 0:
        raise PhendiffError("labels must be non-negative integers (0 = background)")
    if not (labels == 0).any():
        raise PhendiffError("labels cover the whole image; a background is needed to fill from")
    return image.astype(np.float64), labels, image.dtype


def _fill(out: np.ndarray, where: np.ndarray, image: np.ndarray, background: np.ndarray, rng):
    """Pixels ``where`` of ``out`` get values drawn from the image's background pixels."""
    n = int(where.sum())
    if n:
        picks = rng.integers(0, background.sum(), n)
        out[:, where] = image[:, background][:, picks]


def _restore_dtype(out: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(dtype)
    return out.astype(dtype)


def scale_objects(
    image: np.ndarray, labels: np.ndarray, factor: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Every object resized about its centroid by ``factor`` (< 1 shrinks, > 1 swells).

    Pixels keep their intensities (sampled bilinearly from the original object), so an
    object's area scales by ``factor²`` and its mean intensity stays. Swollen objects are
    pasted in label order over their neighbours and are cut at the image border.
    """
    if not factor > 0:
        raise PhendiffError(f"factor={factor}; expected > 0")
    image, labels, dtype = _check(image, labels)
    background = labels == 0
    out = image.copy()
    _fill(out, ~background, image, background, rng)
    new_labels = np.zeros_like(labels)
    boxes = ndimage.find_objects(labels)
    ids = [k for k, box in enumerate(boxes, start=1) if box is not None]
    for k, (cy, cx) in zip(ids, ndimage.center_of_mass(labels, labels, ids), strict=True):
        # the window where object k lands: its box scaled about the centroid
        window = tuple(
            slice(max(0, int(np.floor(c + factor * (b.start - 0.5 - c))) - 1),
                  min(n, int(np.ceil(c + factor * (b.stop - 0.5 - c))) + 2))
            for c, b, n in zip((cy, cx), boxes[k - 1], labels.shape, strict=True)
        )  # fmt: skip
        yy, xx = np.mgrid[window].astype(np.float64)
        # the source of every output pixel: inverse scaling about the centroid
        sy, sx = cy + (yy - cy) / factor, cx + (xx - cx) / factor
        iy, ix = np.rint(sy).astype(int), np.rint(sx).astype(int)
        inside = (iy >= 0) & (iy < labels.shape[0]) & (ix >= 0) & (ix < labels.shape[1])
        mask = np.zeros(yy.shape, bool)
        mask[inside] = labels[iy[inside], ix[inside]] == k
        for c in range(image.shape[0]):
            out[c][window][mask] = ndimage.map_coordinates(
                image[c], [sy[mask], sx[mask]], order=1
            )
        new_labels[window][mask] = k
    return _restore_dtype(out, dtype), new_labels


def remove_objects(
    image: np.ndarray, labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random ``fraction`` of the objects (to the nearest count) replaced by background."""
    if not 0 <= fraction <= 1:
        raise PhendiffError(f"fraction={fraction}; expected 0 <= fraction <= 1")
    image, labels, dtype = _check(image, labels)
    ids = np.unique(labels[labels > 0])
    gone = rng.choice(ids, size=int(round(fraction * len(ids))), replace=False)
    where = np.isin(labels, gone)
    out = image.copy()
    _fill(out, where, image, labels == 0, rng)
    return _restore_dtype(out, dtype), np.where(where, 0, labels)


def scale_intensity(
    image: np.ndarray, labels: np.ndarray, factor: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The objects' signal above the background median scaled by ``factor``, per channel.

    ``rng`` is unused (the effect is deterministic) and kept for a uniform signature.
    """
    image, labels, dtype = _check(image, labels)
    level = np.median(image[:, labels == 0], axis=1)[:, None]
    out = image.copy()
    objects = labels > 0
    out[:, objects] = level + factor * (image[:, objects] - level)
    return _restore_dtype(out, dtype), labels.copy()


def scale_texture(
    image: np.ndarray,
    labels: np.ndarray,
    factor: float,
    rng: np.random.Generator,
    sigma: float = 1.5,
) -> tuple[np.ndarray, np.ndarray]:
    """The objects' fine texture scaled by ``factor``: a chromatin roughening (> 1) or smoothing.

    Inside the objects, ``image + (factor - 1) · w · (image - G_sigma * image)``, per channel:
    the detail finer than the Gaussian ``G_sigma`` is scaled, the object's mean, size and shape
    stay. The weight ``w`` rises from 0 at an object's edge to 1 at ``2 · sigma`` px inside it,
    so the object's rim (its own steep edge, also "detail") is not sharpened. A sinusoid of
    wavenumber k deep inside an object therefore comes out with its amplitude times
    ``1 + (factor - 1)(1 - exp(-sigma² k² / 2))``. ``rng`` is unused (deterministic).
    """
    if not factor >= 0:
        raise PhendiffError(f"factor={factor}; expected >= 0 (0 smooths the texture away)")
    if not sigma > 0:
        raise PhendiffError(f"sigma={sigma}; expected > 0")
    image, labels, dtype = _check(image, labels)
    # rims: pixels with another label (background or a touching object) among their 8 neighbours
    rims = ndimage.morphological_gradient(labels, size=3) > 0
    depth = ndimage.distance_transform_edt(~rims)  # px to the nearest rim pixel, 0 on rims
    weight = np.where(labels > 0, np.clip(depth / (2 * sigma), 0, 1), 0.0)
    detail = image - ndimage.gaussian_filter(image, (0, sigma, sigma), mode="reflect")
    out = image + (factor - 1) * weight * detail
    return _restore_dtype(out, dtype), labels.copy()


EFFECTS = {
    "scale": scale_objects,
    "remove": remove_objects,
    "intensity": scale_intensity,
    "texture": scale_texture,
}

"""The field renderer: random draws, nuclei placement, cells on a canvas, the camera model.

:func:`render_field` turns a condition's :func:`~phendiff.data.synthetic.truth.true_parameters`
into one ``(3, Y, X)`` uint16 field, drawing the same random numbers whatever the condition.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from phendiff.conditions import Condition
from phendiff.data.synthetic.truth import _seeded_range, true_parameters
from phendiff.errors import PhendiffError

_CELL_RADIUS_PX = 11.0
_NUCLEUS_RADIUS_PX = 4.5
_NUCLEUS_SPACING_PX = 14.0  # nuclei never touch, so they can be counted
_MARGIN_PX = 7.0  # nuclei lie fully inside the field
# cell-to-cell variability; all larger than the lowest doses' effects
_CELL_SIZE_SD = 0.15  # log radius
_NUCLEUS_SIZE_SD = 0.1  # log radius
_ECCENTRICITY_SD = 0.08
_BRIGHTNESS_SD = 0.15  # log brightness, per cell and channel
_N_FIBRES = 6  # actin stress fibres per cell
_N_MICROTUBULES = 24  # tubulin filaments per cell
_FILAMENT_SHARE = 0.7  # median share of a cell's tubulin in filaments at full fibrousness
_FILAMENT_SHARE_SD = 0.25  # log, per cell
# intensities in ADU above the camera offset: a 12-bit camera, nothing near saturation
_LEVEL = {"DNA": 1200.0, "tubulin": 550.0, "actin": 700.0}
_AUTOFLUORESCENCE = 20.0
_OFFSET = 100.0
_ADU_PER_ELECTRON = 2.0
_READ_NOISE = 4.0
_WHITE = 4095
_PUNCTA_DENSITY = 0.06


@dataclass(frozen=True)
class _FieldDraws:
    """Every random number of one field; their number and order never depend on the condition."""

    n_seeded: int
    centres: np.ndarray  # (n, 2) nucleus centres (y, x) in px
    survive: np.ndarray  # (n,) uniform; a cell survives when below the survival fraction
    cell: np.ndarray  # (n, 6) size z, eccentricity z, angle, body offset (2 z), filament z
    nucleus: np.ndarray  # (n, 3) size z, eccentricity in [0.2, 0.6), angle
    brightness: np.ndarray  # (n, 3) log-normal z per channel
    fibres: np.ndarray  # (n, F, 2) angle z, offset in [-1, 1)
    microtubules: np.ndarray  # (n, T, 4) angle, anchor (2 z), bend z
    dna_texture: np.ndarray  # (Y, X) unit-variance chromatin texture
    haze: np.ndarray  # (Y, X) unit-variance smooth haze
    puncta: np.ndarray  # (Y, X) mean-1 punctate texture
    illumination: np.ndarray  # (Y, X) flat-field, ≤ 1
    read_noise: np.ndarray  # (3, Y, X) standard normal


def _draw_field(rng: np.random.Generator, size: int) -> _FieldDraws:
    lo, hi = _seeded_range(size)
    n_seeded = int(rng.integers(lo, hi + 1))
    centres = _place_nuclei(rng, size, hi)[:n_seeded]
    n = len(centres)
    cell = rng.standard_normal((hi, 6))
    cell[:, 2] = rng.uniform(0, np.pi, hi)
    nucleus = np.column_stack(
        [rng.standard_normal(hi), rng.uniform(0.2, 0.6, hi), rng.uniform(0, np.pi, hi)]
    )
    survive = rng.random(hi)
    brightness = rng.standard_normal((hi, 3))
    fibres = np.stack(
        [rng.standard_normal((hi, _N_FIBRES)), rng.uniform(-1, 1, (hi, _N_FIBRES))], axis=-1
    )
    microtubules = rng.standard_normal((hi, _N_MICROTUBULES, 4))
    microtubules[..., 0] = rng.uniform(0, np.pi, (hi, _N_MICROTUBULES))
    dna_texture = _unit(ndimage.gaussian_filter(rng.standard_normal((size, size)), 0.8))
    haze = _unit(ndimage.gaussian_filter(rng.standard_normal((size, size)), 2.0))
    dots = (rng.random((size, size)) < _PUNCTA_DENSITY).astype(np.float64)
    puncta = ndimage.gaussian_filter(dots, 0.7) / _PUNCTA_DENSITY
    centre, tilt = rng.uniform(0, size, 2), rng.uniform(0.05, 0.15)
    yy, xx = np.mgrid[:size, :size]
    illumination = 1.0 - tilt * ((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / size**2
    read_noise = rng.standard_normal((3, size, size))
    return _FieldDraws(
        n_seeded=n,
        centres=centres,
        survive=survive[:n],
        cell=cell[:n],
        nucleus=nucleus[:n],
        brightness=brightness[:n],
        fibres=fibres[:n],
        microtubules=microtubules[:n],
        dna_texture=dna_texture,
        haze=haze,
        puncta=puncta,
        illumination=illumination,
        read_noise=read_noise,
    )


def _unit(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / a.std()


def _place_nuclei(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    # greedy random sequential placement from a fixed-size candidate pool, so the number of
    # draws never depends on how many candidates are accepted
    candidates = rng.uniform(_MARGIN_PX, size - _MARGIN_PX, (16 * n, 2))
    accepted = np.empty((n, 2))
    m = 0
    for point in candidates:
        if m == 0 or np.hypot(*(accepted[:m] - point).T).min() >= _NUCLEUS_SPACING_PX:
            accepted[m] = point
            m += 1
            if m == n:
                break
    return accepted[:m]


def _ellipse_coords(
    dy: np.ndarray, dx: np.ndarray, a: float, b: float, angle: float
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised radius ``r`` (1 on the outline) and approximate distance inside the outline.

    ``dy`` is ``(ny, 1)`` and ``dx`` ``(1, nx)``, offsets in px from the ellipse centre.
    """
    cos, sin = math.cos(angle), math.sin(angle)
    u = (dx * cos + dy * sin) / a
    v = (-dx * sin + dy * cos) / b
    r = np.hypot(u, v)
    dist = np.hypot(dx, dy)
    # distance to the outline along the ray from the centre: |p| (1/r - 1)
    reach = np.where(r > 1e-9, dist / np.maximum(r, 1e-9), b)
    return r, (1.0 - r) * reach


def _lines(
    dy: np.ndarray,
    dx: np.ndarray,
    angles: np.ndarray,
    offsets: np.ndarray,
    width: float,
    bend: np.ndarray | None = None,
) -> np.ndarray:
    """Saturating sum of Gaussian-profile lines, ``(ny, nx)`` in [0, 1).

    Line ``k`` runs along ``angles[k]`` at signed perpendicular ``offsets[k]`` px from the
    origin of ``dy, dx``, bent into a parabola of curvature ``bend[k]`` (1/px) if given.
    """
    ang = angles[:, None, None]
    perp = -dx * np.sin(ang) + dy * np.cos(ang) - offsets[:, None, None]
    if bend is not None:
        along = dx * np.cos(ang) + dy * np.sin(ang)
        perp = perp - bend[:, None, None] * along**2
    # 1 - exp(-sum) so crossings brighten without adding up without bound
    return 1.0 - np.exp(-np.exp(-0.5 * (perp / width) ** 2).sum(axis=0))


@dataclass
class _Canvas:
    """Noise-free signal layers accumulated cell by cell, in ADU above the offset."""

    dna: np.ndarray
    tubulin_filaments: np.ndarray
    tubulin_diffuse: np.ndarray  # weight of the field-wide haze texture
    actin: np.ndarray
    actin_puncta: np.ndarray  # weight of the field-wide puncta texture

    @classmethod
    def empty(cls, size: int) -> _Canvas:
        return cls(*(np.zeros((size, size)) for _ in range(5)))


def _render_cell(canvas: _Canvas, draws: _FieldDraws, i: int, p: Mapping[str, float]) -> None:
    size = canvas.dna.shape[0]
    size_z, ecc_z, angle, off_y, off_x, filament_z = draws.cell[i]
    nuc_z, nuc_ecc, nuc_angle = draws.nucleus[i]
    bright = np.exp(_BRIGHTNESS_SD * draws.brightness[i])

    # nucleus: area factor applies to π a b; eccentricity e gives axes R/q, R q with q⁴ = 1-e²
    rn = (
        _NUCLEUS_RADIUS_PX
        * math.sqrt(p["nuclear_area_factor"])
        * math.exp(_NUCLEUS_SIZE_SD * nuc_z)
    )
    qn = (1 - nuc_ecc**2) ** 0.25
    an, bn = rn / qn, rn * qn
    # cell body: same area-preserving parametrisation, never narrower than its nucleus
    radius = _CELL_RADIUS_PX * p["cell_radius_factor"] * math.exp(_CELL_SIZE_SD * size_z)
    ecc = float(np.clip(p["cell_eccentricity"] + _ECCENTRICITY_SD * ecc_z, 0.0, 0.95))
    q = (1 - ecc**2) ** 0.25
    b = max(radius * q, 1.25 * an)
    a = max(radius / q, b)
    nuc_y, nuc_x = draws.centres[i]
    cy, cx = nuc_y + 0.1 * b * off_y, nuc_x + 0.1 * b * off_x

    # work in a window around the cell: cost per cell does not grow with the field
    half = a + 3.0
    y0, y1 = max(0, int(cy - half)), min(size, int(cy + half) + 2)
    x0, x1 = max(0, int(cx - half)), min(size, int(cx + half) + 2)
    if y0 >= y1 or x0 >= x1:
        return
    window = (slice(y0, y1), slice(x0, x1))
    dy = np.arange(y0, y1, dtype=np.float64)[:, None] - cy
    dx = np.arange(x0, x1, dtype=np.float64)[None, :] - cx

    r_cell, inside = _ellipse_coords(dy, dx, a, b, angle)
    body = np.clip(inside / 1.5 + 0.5, 0.0, 1.0)  # soft 1.5 px edge
    interior = np.clip((inside - 1.0) / 1.5, 0.0, 1.0)
    r_nuc, inside_nuc = _ellipse_coords(dy - (nuc_y - cy), dx - (nuc_x - cx), an, bn, nuc_angle)
    nucleus = np.clip(inside_nuc + 0.5, 0.0, 1.0)

    # DNA: flat-topped nucleus, slightly dimmer at the rim; texture is applied field-wide
    canvas.dna[window] += _LEVEL["DNA"] * bright[0] * nucleus * (1.0 - 0.2 * r_nuc**2)

    # tubulin: gently curved filaments through the perinuclear region in random directions,
    # normalised to mean 1 in the cell so that fibrousness moves texture, not brightness
    mt = draws.microtubules[i]
    anchors = 0.6 * rn * mt[:, 1:3]
    perp_anchor = -anchors[:, 1] * np.sin(mt[:, 0]) + anchors[:, 0] * np.cos(mt[:, 0])
    filaments = _lines(
        dy - (nuc_y - cy), dx - (nuc_x - cx), mt[:, 0], perp_anchor, 0.5, 0.02 * mt[:, 3]
    )
    filaments /= max((filaments * body).sum() / max(body.sum(), 1.0), 1e-6)
    tubulin = _LEVEL["tubulin"] * bright[1] * body * (1.0 - 0.4 * nucleus)
    share = min(_FILAMENT_SHARE * math.exp(_FILAMENT_SHARE_SD * filament_z), 0.95)
    fibrous = share * p["tubulin_fibrousness"]
    canvas.tubulin_filaments[window] += tubulin * fibrous * filaments
    canvas.tubulin_diffuse[window] += tubulin * (1.0 - fibrous)

    # actin: cortical rim + stress fibres along the long axis; disrupted actin turns punctate
    fib = draws.fibres[i]
    stress = _lines(dy, dx, angle + 0.25 * fib[:, 0], 0.75 * b * fib[:, 1], 0.7) * interior
    rim = np.exp(-0.5 * (inside - 1.2) ** 2) * body
    actin = _LEVEL["actin"] * bright[2] * p["actin_intensity_factor"]
    fibre_fraction = p["actin_fibre_fraction"]
    canvas.actin[window] += actin * (0.8 * rim + 0.8 * fibre_fraction * stress + 0.2 * body)
    canvas.actin_puncta[window] += actin * 0.35 * (1.0 - fibre_fraction) * interior


def _camera(signal: np.ndarray, draws: _FieldDraws, rng: np.random.Generator) -> np.ndarray:
    # shot noise on photo-electrons, Gaussian read noise, a dark offset, 12-bit ceiling
    electrons = rng.poisson(np.maximum(signal, 0.0) / _ADU_PER_ELECTRON)
    adu = electrons * _ADU_PER_ELECTRON + _OFFSET + _READ_NOISE * draws.read_noise
    return np.clip(np.rint(adu), 0, _WHITE).astype(np.uint16)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise PhendiffError(f"{name} = {value!r} is not valid; expected an integer >= {minimum}")
    return int(value)


def render_field(condition: Condition, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Render one field of view of ``condition``.

    Parameters
    ----------
    condition : Condition
        DMSO or a compound of :data:`COMPOUNDS` at any concentration (µM).
    rng : numpy.random.Generator
        The only source of randomness. The same numbers are drawn whatever the condition, so
        equally seeded generators render the same cells under different treatments.
    size : int, default 64
        Field side in px (≥ 32). The pixel scale is fixed (cells ~8–14 px radius); the number
        of cells scales with the area (3–6 seeded cells at 64 px, before toxicity).

    Returns
    -------
    numpy.ndarray
        ``(3, size, size)`` uint16, channels :data:`CHANNELS`; a camera offset of ~100 ADU,
        cells up to a few thousand ADU, never above 4095 (12-bit).

    Examples
    --------
    >>> field = render_field(Condition("nocodazole", 3.0), np.random.default_rng(0))
    >>> field.shape, field.dtype
    ((3, 64, 64), dtype('uint16'))
    """
    size = _check_int("size", size, 32)
    if not isinstance(rng, np.random.Generator):
        raise PhendiffError(
            f"rng is a {type(rng).__name__}; expected a numpy.random.Generator, e.g. "
            "numpy.random.default_rng(seed)"
        )
    params = true_parameters(condition)
    draws = _draw_field(rng, size)
    canvas = _Canvas.empty(size)
    for i in np.flatnonzero(draws.survive < params["survival_fraction"]):
        _render_cell(canvas, draws, int(i), params)
    texture = 0.15 * params["dna_texture_factor"] * draws.dna_texture
    dna = canvas.dna * np.maximum(1.0 + texture, 0.0)
    tubulin = canvas.tubulin_filaments + canvas.tubulin_diffuse * (1.0 + 0.12 * draws.haze)
    actin = canvas.actin + canvas.actin_puncta * draws.puncta
    signal = (np.stack([dna, tubulin, actin]) + _AUTOFLUORESCENCE) * draws.illumination
    return _camera(signal, draws, rng)

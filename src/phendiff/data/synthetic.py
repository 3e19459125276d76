"""The built-in synthetic screen: BBBC021-like cell fields with known dose responses.

Each field is a ``(3, Y, X)`` uint16 image with channels :data:`CHANNELS` (DNA, tubulin,
actin) showing a few cells. Every phenotype parameter of a condition follows a Hill curve of
the dose, ``effect(c) = Emax * c**h / (EC50**h + c**h)``, added to its DMSO baseline, so the
right answer of any analysis is known (:func:`true_parameters`, ``ground_truth.csv``):

- ``latrunculin`` (actin disruptor): actin dims and turns from fibres into puncta, cells shrink;
- ``nocodazole`` (microtubule disruptor): tubulin filaments turn into a diffuse haze, cells
  round up and shrink a little;
- ``herbimycin`` (subtle): nuclei grow (up to ~+15% area) and their DNA texture coarsens;
- the top doses of latrunculin and nocodazole are toxic: fewer cells per field.

The lowest dose of each compound is subtle by design: its effect is a few percent, smaller
than the cell-to-cell variability, and only visible as a shift of the average.

Randomness: :func:`render_field` draws every random number from the generator it is given,
and draws the same numbers in the same order whatever the condition. Rendering two conditions
from equally seeded generators therefore shows the *same* cells under two treatments (the
survivors of a toxic dose are a subset of the control's cells), which is what makes paired,
"what would this cell look like" comparisons possible. :func:`generate_screen` seeds one
generator per field from ``(seed, condition index, field index)``.
"""

from __future__ import annotations

import csv
import math
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
from scipy import ndimage

from phendiff.conditions import CONTROL, Condition
from phendiff.errors import PhendiffError

__all__ = [
    "BASELINE",
    "CHANNELS",
    "COMPOUNDS",
    "Compound",
    "HillEffect",
    "generate_screen",
    "render_field",
    "screen_conditions",
    "true_parameters",
]

CHANNELS: tuple[str, ...] = ("DNA", "tubulin", "actin")


# --------------------------------------------------------------------------- ground truth


@dataclass(frozen=True)
class HillEffect:
    """Change of one phenotype parameter with dose: ``emax * c**hill / (ec50**hill + c**hill)``.

    ``emax`` is in the parameter's own units and is *added* to its DMSO baseline;
    ``ec50`` is in µM.
    """

    parameter: str
    emax: float
    ec50: float
    hill: float = 1.5

    def at(self, concentration: float) -> float:
        """The change at ``concentration`` µM (0 at 0 µM, ``emax`` at saturation)."""
        c = float(concentration)
        if c <= 0:
            return 0.0
        return self.emax * c**self.hill / (self.ec50**self.hill + c**self.hill)


@dataclass(frozen=True)
class Compound:
    """A compound of the synthetic screen: its doses (µM) and its dose-response curves."""

    name: str
    mechanism: str
    concentrations: tuple[float, ...]
    effects: tuple[HillEffect, ...]


#: DMSO values of every phenotype parameter (for a 64×64 field where it matters).
BASELINE: Mapping[str, float] = MappingProxyType(
    {
        "actin_intensity_factor": 1.0,  # × mean actin brightness of a cell
        "actin_fibre_fraction": 1.0,  # share of actin in stress fibres; the rest is punctate
        "tubulin_fibrousness": 1.0,  # share of tubulin in filaments; the rest is diffuse haze
        "cell_radius_factor": 1.0,  # × median cell radius (11 px)
        "cell_eccentricity": 0.75,  # mean eccentricity of the cell ellipse
        "nuclear_area_factor": 1.0,  # × median nuclear area (π·4.5² px²)
        "dna_texture_factor": 1.0,  # × contrast of the chromatin texture
        "survival_fraction": 1.0,  # probability that a seeded cell is still in the field
        "expected_cells_per_field": 4.5,  # mean cells in a 64×64 field (scales with area)
    }
)

_DOSES = (0.1, 0.3, 1.0, 3.0)

# EC50s sit near the upper-middle of the dose range with Hill slope 1.5, so the lowest dose
# reaches only ~3–8 % of Emax (subtle) and the top dose ~85–92 % (strong). Toxicity is steep
# (Hill 3, EC50 2 µM): negligible below 1 µM, about half the cells lost at 3 µM.
COMPOUNDS: tuple[Compound, ...] = (
    Compound(
        "herbimycin",
        "Hsp90 inhibitor: subtle growth of nuclei and coarser chromatin texture",
        _DOSES,
        (
            HillEffect("nuclear_area_factor", emax=0.18, ec50=1.0),
            HillEffect("dna_texture_factor", emax=0.4, ec50=1.0),
        ),
    ),
    Compound(
        "latrunculin",
        "actin disruptor: dimmer, punctate actin and smaller cells; toxic at the top dose",
        _DOSES,
        (
            HillEffect("actin_intensity_factor", emax=-0.6, ec50=0.6),
            HillEffect("actin_fibre_fraction", emax=-0.9, ec50=0.6),
            HillEffect("cell_radius_factor", emax=-0.3, ec50=0.8),
            HillEffect("survival_fraction", emax=-0.6, ec50=2.0, hill=3.0),
        ),
    ),
    Compound(
        "nocodazole",
        "microtubule disruptor: diffuse tubulin, rounder and smaller cells; toxic at the top dose",
        _DOSES,
        (
            HillEffect("tubulin_fibrousness", emax=-0.9, ec50=0.8),
            HillEffect("cell_eccentricity", emax=-0.5, ec50=0.8),
            HillEffect("cell_radius_factor", emax=-0.15, ec50=0.8),
            HillEffect("survival_fraction", emax=-0.5, ec50=2.0, hill=3.0),
        ),
    ),
)

_COMPOUNDS_BY_NAME = {c.name: c for c in COMPOUNDS}


def screen_conditions() -> list[Condition]:
    """All conditions of the synthetic screen: DMSO, then each compound by increasing dose.

    Returns
    -------
    list of Condition
        In the canonical label order of :class:`phendiff.conditions.ConditionTable`.
    """
    conditions = [Condition(CONTROL)]
    conditions += [Condition(c.name, dose) for c in COMPOUNDS for dose in c.concentrations]
    return sorted(conditions, key=Condition.sort_key)


def true_parameters(condition: Condition) -> dict[str, float]:
    """The ground-truth phenotype parameters of ``condition``.

    Parameters
    ----------
    condition : Condition
        DMSO or one of the screen's compounds at any concentration ≥ 0 µM (the Hill curves
        are defined between the screened doses too).

    Returns
    -------
    dict of str to float
        Every key of :data:`BASELINE`: its DMSO value plus the compound's Hill effects at
        this dose. ``expected_cells_per_field`` is for a 64×64 field and scales with area.
    """
    params = dict(BASELINE)
    if condition.is_control:
        return params
    compound = _COMPOUNDS_BY_NAME.get(condition.compound)
    if compound is None:
        raise PhendiffError(
            f"compound {condition.compound!r} is not in the synthetic screen; expected DMSO or "
            f"one of {', '.join(sorted(_COMPOUNDS_BY_NAME))}"
        )
    for effect in compound.effects:
        params[effect.parameter] += effect.at(condition.concentration)
    params["expected_cells_per_field"] = (
        _mean_seeded_cells(_REFERENCE_SIZE) * params["survival_fraction"]
    )
    return params


# --------------------------------------------------------------------------- rendering

_REFERENCE_SIZE = 64  # cell counts are given for this field size; pixel scale is fixed
_SEEDED_CELLS = (3, 6)  # cells per 64×64 field before toxicity, inclusive range
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


def _mean_seeded_cells(size: int) -> float:
    lo, hi = _seeded_range(size)
    return (lo + hi) / 2


def _seeded_range(size: int) -> tuple[int, int]:
    # the number of cells scales with the field's area; the pixel scale stays fixed
    area = (size / _REFERENCE_SIZE) ** 2
    lo = max(1, round(_SEEDED_CELLS[0] * area))
    return lo, max(lo, round(_SEEDED_CELLS[1] * area))


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


# --------------------------------------------------------------------------- writing

_PLATES = 4
_WELLS = [f"{row}{col:02d}" for row in "ABCDEFGH" for col in range(1, 13)]
_FIELDS_PER_WELL = 4


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise PhendiffError(f"{name} = {value!r} is not valid; expected an integer >= {minimum}")
    return int(value)


def _plate_map(n_conditions: int, per_condition: int) -> list[list[tuple[str, str]]]:
    """``(plate, well)`` of every field of every condition.

    Fields of a condition go round-robin over 4 plates, then fill wells of up to a few fields;
    each plate shifts the layout so that no condition sits in the same well on every plate.
    """
    per_plate = math.ceil(per_condition / _PLATES)
    wells_per_condition = min(
        max(1, len(_WELLS) // n_conditions), math.ceil(per_plate / _FIELDS_PER_WELL)
    )
    fields_per_well = math.ceil(per_plate / wells_per_condition)
    layout = []
    for ci in range(n_conditions):
        rows = []
        for j in range(per_condition):
            plate, k = j % _PLATES, j // _PLATES
            slot = ci * wells_per_condition + k // fields_per_well
            rows.append((f"P{plate + 1}", _WELLS[(slot + 11 * plate) % len(_WELLS)]))
        layout.append(rows)
    return layout


def _concentration_text(condition: Condition) -> str:
    # the same decimal spelling as the condition's name ("0.3", "1"); 0 for the control
    return condition.name.partition("@")[2] or "0"


def _write_tables(
    root: Path, manifest: list[list[str]], conditions: list[Condition], size: int
) -> None:
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "compound", "concentration", "plate", "well"])
        writer.writerows(manifest)
    with open(root / "ground_truth.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["condition", "compound", "concentration", *BASELINE])
        # cells per field of the fields actually written, not of the 64×64 reference
        area_scale = _mean_seeded_cells(size) / _mean_seeded_cells(_REFERENCE_SIZE)
        for c in conditions:
            params = true_parameters(c)
            params["expected_cells_per_field"] *= area_scale
            values = map(repr, params.values())
            writer.writerow([c.name, c.compound, _concentration_text(c), *values])
    (root / "README.txt").write_text(
        "Synthetic phendiff screen: <condition>/<condition>_<plate>_<well>_f<NNN>.tif, uint16 "
        "(3, Y, X) TIFFs, channels DNA, tubulin, actin.\n"
        "manifest.csv lists every image (path relative to this folder) with its compound, "
        "concentration (µM, 0 for DMSO), plate and well.\n"
        "ground_truth.csv gives the true phenotype parameters of each condition "
        "(phendiff.data.synthetic.true_parameters).\n"
    )


def _replace_dir(tmp: Path, out: Path) -> None:
    # swap in the finished folder; an old one is moved aside first and deleted last
    if out.is_dir() and any(out.iterdir()):
        trash = out.with_name(f"{out.name}.old-{secrets.token_hex(4)}")
        out.rename(trash)
        tmp.rename(out)
        shutil.rmtree(trash)
    else:
        if out.is_dir():
            out.rmdir()
        tmp.rename(out)


def generate_screen(
    out: str | Path,
    per_condition: int = 64,
    size: int = 64,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write the synthetic screen to ``out``, atomically.

    Parameters
    ----------
    out : str or Path
        Folder to create. It is built as a sibling ``OUT.tmp-<random>`` and renamed at the end,
        so an interrupted run never leaves a half-written screen.
    per_condition : int, default 64
        Fields per condition (≥ 1), spread over 4 plates and several wells per plate.
    size : int, default 64
        Field side in px (≥ 32).
    seed : int, default 0
        Field ``f`` of condition ``k`` (index in :func:`screen_conditions`) is rendered from
        ``numpy.random.default_rng([seed, k, f])``, independent of generation order.
    overwrite : bool, default False
        Replace an existing non-empty ``out``; otherwise that is an error.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    Path
        ``out``, holding ``<condition.name>/<condition.name>_<plate>_<well>_f<NNN>.tif``
        (uint16, ``(3, size, size)``, axes ``CYX``), ``manifest.csv``
        (``path,compound,concentration,plate,well``), ``ground_truth.csv`` (one row per
        condition: ``condition,compound,concentration`` and every true parameter, with
        ``expected_cells_per_field`` for fields of this ``size``) and ``README.txt``.
    """
    import tifffile
    from tqdm.auto import tqdm

    per_condition = _check_int("per_condition", per_condition, 1)
    size = _check_int("size", size, 32)
    seed = _check_int("seed", seed, 0)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PhendiffError(f"{out} is a file; expected a folder to write the screen into")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise PhendiffError(
            f"{out} already exists and is not empty; pass overwrite=True (--overwrite) to "
            "replace it, or choose another folder"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        conditions = screen_conditions()
        layout = _plate_map(len(conditions), per_condition)
        digits = max(3, len(str(per_condition - 1)))
        manifest = []
        bar = tqdm(
            total=len(conditions) * per_condition,
            desc="synthetic screen",
            unit="field",
            disable=not progress,
        )
        with bar:
            for k, condition in enumerate(conditions):
                (tmp / condition.name).mkdir()
                for f, (plate, well) in enumerate(layout[k]):
                    image = render_field(condition, np.random.default_rng([seed, k, f]), size)
                    rel = f"{condition.name}/{condition.name}_{plate}_{well}_f{f:0{digits}d}.tif"
                    tifffile.imwrite(
                        tmp / rel, image, photometric="minisblack", ome=True,
                        metadata={"axes": "CYX", "Channel": {"Name": list(CHANNELS)}},
                    )
                    manifest.append(
                        [rel, condition.compound, _concentration_text(condition), plate, well]
                    )
                    bar.update()
        _write_tables(tmp, manifest, conditions, size)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out

"""The synthetic screen's ground truth: compounds, doses, Hill curves and cell counts.

Everything an analysis of the screen should recover: :data:`COMPOUNDS` with their
:class:`HillEffect` curves, the DMSO :data:`BASELINE`, :func:`screen_conditions` and
:func:`true_parameters`, plus how many cells a field holds before toxicity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from phendiff.conditions import CONTROL, Condition
from phendiff.errors import PhendiffError

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
    if condition == Condition(CONTROL):
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


# --------------------------------------------------------------------------- cell counts

_REFERENCE_SIZE = 64  # cell counts are given for this field size; pixel scale is fixed
_SEEDED_CELLS = (3, 6)  # cells per 64×64 field before toxicity, inclusive range


def _mean_seeded_cells(size: int) -> float:
    lo, hi = _seeded_range(size)
    return (lo + hi) / 2


def _seeded_range(size: int) -> tuple[int, int]:
    # the number of cells scales with the field's area; the pixel scale stays fixed
    area = (size / _REFERENCE_SIZE) ** 2
    lo = max(1, round(_SEEDED_CELLS[0] * area))
    return lo, max(lo, round(_SEEDED_CELLS[1] * area))

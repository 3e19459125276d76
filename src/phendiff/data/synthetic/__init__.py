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

The package holds three modules, left to right: :mod:`~phendiff.data.synthetic.truth` (the
compounds and their dose responses), :mod:`~phendiff.data.synthetic.render` (one field from a
condition and a generator) and :mod:`~phendiff.data.synthetic.screen` (the screen on disk).
"""

from phendiff.data.synthetic.render import render_field
from phendiff.data.synthetic.screen import generate_screen
from phendiff.data.synthetic.truth import (
    BASELINE,
    CHANNELS,
    COMPOUNDS,
    Compound,
    HillEffect,
    screen_conditions,
    true_parameters,
)

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

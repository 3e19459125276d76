"""Do translated images reproduce real phenotypes? Dose responses and tests against control.

Two questions from the PhenDiff paper, each answered on real and on translated images:

* **Dose response** (Fig. 4): do the per-condition means of a feature follow the same curve
  across a compound's concentrations? :func:`condition_means`, :func:`dose_correlations`,
  :func:`standardised_effects` and :func:`effect_correlations` (the Fig. 4 scatter),
  :func:`dose_response` (means with confidence intervals).
* **Conclusions** (Fig. 2b): does a test of a condition against the control say the same
  thing on real and on translated images? :func:`condition_tests`, :func:`agreement`,
  :func:`effect_size_correlation`.

Input tables
------------
One row per observation with a ``condition`` column (``DMSO``, ``latrunculin@0.3``), a
``kind`` column (``"real"`` or ``"translated"``; other kinds, e.g. a copy baseline, are
accepted where real and translated are not paired) and numeric feature columns, named
explicitly by ``features``. An ``image`` column and other columns are ignored.

**The row is the unit of analysis.** Use one row per image (per-image means of per-cell
features: :func:`phendiff.evaluate.features.aggregate` with ``by=("kind", "condition",
"image")``). Cells of one image share its well, focus and staining, so they are
pseudo-replicates: testing them as independent samples makes p-values far too small.

Translated control rows are round trips of control images (inverted and regenerated under
the control), so a translated condition is tested against the translated control: both
carry the model's reconstruction error, which then cancels. Non-finite feature values are
treated as missing. Condition names are canonicalised (``dmso`` → ``DMSO``).

The package holds :mod:`~phendiff.evaluate.stats.correlations` (dose response),
:mod:`~phendiff.evaluate.stats.significance` (tests against the control, p-value correction,
effect sizes) and :mod:`~phendiff.evaluate.stats.conclusions` (real vs translated), all built
on :mod:`~phendiff.evaluate.stats.inputs` (the checks of the input tables). It re-exports
their public names.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({
...     "kind": ["real"] * 4 + ["translated"] * 4,
...     "condition": ["DMSO", "DMSO", "noc@1", "noc@1"] * 2,
...     "Cells_AreaShape_Area": [10., 12., 20., 22., 11., 13., 19., 23.]})
>>> means = condition_means(table, ["Cells_AreaShape_Area"])
>>> means["Cells_AreaShape_Area"].tolist()  # real DMSO, real noc@1, translated DMSO, noc@1
[11.0, 21.0, 12.0, 21.0]
>>> tests = condition_tests(table, ["Cells_AreaShape_Area"])
>>> tests[["kind", "condition", "effect"]].round(2).values.tolist()
[['real', 'noc@1', 3.99], ['translated', 'noc@1', 2.27]]
"""

from phendiff.evaluate.stats.conclusions import OUTCOMES, agreement, effect_size_correlation
from phendiff.evaluate.stats.correlations import (
    condition_means,
    dose_correlations,
    dose_response,
    effect_correlations,
    standardised_effects,
)
from phendiff.evaluate.stats.inputs import REAL, TRANSLATED
from phendiff.evaluate.stats.significance import (
    CORRECTIONS,
    TESTS,
    adjust_pvalues,
    condition_tests,
)

__all__ = [
    "CORRECTIONS",
    "OUTCOMES",
    "REAL",
    "TESTS",
    "TRANSLATED",
    "adjust_pvalues",
    "agreement",
    "condition_means",
    "condition_tests",
    "dose_correlations",
    "dose_response",
    "effect_correlations",
    "effect_size_correlation",
    "standardised_effects",
]

"""Evaluation: the PhenDiff paper's analyses of a translation folder against the real screen.

- ``analyses.py``  :func:`evaluate` (``phendiff evaluate``): reconstruction, FID/KID with the
                   copy-source baseline and the real floor, per-cell features, statistics;
- ``inputs.py``    reading the real screen and the translations, intensity scale, channels;
- ``fid/``         FID/KID from feature matrices, the FID Inception network, extractors;
- ``features/``    per-cell measurements (scikit-image or cp_measure) and their tables;
- ``segment.py``   nuclei and cell segmentation;
- ``masks.py``     the label masks written to ``REPORT/masks/`` or read from ``--masks DIR``;
- ``stats/``       dose correlations and the Fig. 4 scatter, dose-response intervals, tests
                   against DMSO, real-vs-translated agreement;
- ``summary.py``   the report's summary: FID per dose, tracking, conclusions, warnings;
- ``figures.py``   its figures (PNG + SVG);
- ``report.py``    ``REPORT/index.html`` with its figures and tables.

Imports from every room to its left (data, model, diffusion, translate); nothing imports it
but the CLI. The package itself is callable: ``phendiff.evaluate(real, translated, out, ...)``
is :func:`phendiff.api.evaluate`.
"""

from phendiff.api import make_callable

make_callable(__name__, "evaluate")

"""Evaluation: the PhenDiff paper's analyses of a translation folder against the real screen.

- ``analyses.py``  :func:`evaluate` (``phendiff evaluate``): reconstruction, FID/KID with the
                   copy-source baseline and the real floor, per-cell features, statistics;
- ``inputs.py``    reading the real screen and the translations, intensity scale, channels;
- ``fid/``         FID/KID from feature matrices, the FID Inception network, extractors;
- ``features/``    per-cell measurements (scikit-image or cp_measure) and their tables;
- ``segment.py``   nuclei and cell segmentation;
- ``stats/``       dose correlations (Fig. 4), tests against DMSO, real-vs-translated agreement;
- ``report.py``    ``REPORT/index.html`` with its figures and tables.

Imports from every room to its left (data, model, diffusion, translate); nothing imports it
but the CLI.
"""

"""phendiff: reveal cell phenotypes by translating real microscopy images between conditions.

A single class-conditional diffusion model is trained over all conditions of a screen;
a real image is DDIM-inverted under its own condition and regenerated under another,
so the difference between input and output is the phenotype of that very cell.
"""

from phendiff.errors import PhendiffError

__version__ = "0.1.0"
__all__ = ["PhendiffError", "__version__"]

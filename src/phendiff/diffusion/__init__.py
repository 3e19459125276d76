"""Diffusion math: noise schedules, the DDIM step, inversion and generation.

Pure functions over a model callable ``eps = model(x_t, t, labels)``; imports torch only.
"""

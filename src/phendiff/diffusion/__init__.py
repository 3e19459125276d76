"""Diffusion math: schedules, the denoiser, DDIM, exact inversion, guidance; imports torch only.

Where the equations live:

- ``schedule.py``  ᾱ_t (float64), the timestep grid and its ``(t_cur, t_next)`` steps;
- ``forward.py``   q(x_t | x_0) and the ε / v training targets;
- ``denoiser.py``  a network wrapped once: float64 ``(ε, x̂0)`` for ``(x_t, t, labels)``;
- ``ddim.py``      the DDIM step (PhenDiff eq. 5), generation, inversion (eq. 6) and its
  fixed-point refinement;
- ``exact.py``     exact inversion by per-step residuals (the default);
- ``bdia.py``      exact inversion by BDIA's two-step recurrence;
- ``guidance.py``  source-relative and classifier-free guidance, denoiser → denoiser.
"""

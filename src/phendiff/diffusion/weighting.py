"""How the training loss weighs noise levels: which timesteps are drawn, how much each counts.

Every choice is written as the weight it puts on the error of the clean-image estimate,
w(SNR)·‖x̂0 − x0‖², with SNR = ᾱ/(1 − ᾱ) and σ = 1/√SNR. The network's own target relates to
it in closed form: ‖ε̂ − ε‖² = SNR·‖x̂0 − x0‖² and ‖v̂ − v‖² = (SNR + 1)·‖x̂0 − x0‖².

- ``uniform``: t uniform, plain MSE of the network's target (x0-weight SNR + 1 for v, SNR for
  ε) — DDPM's simple loss, and phendiff's default.
- ``min_snr``: t uniform, x0-weight min(SNR, γ) (Hang et al. 2023, min-SNR-γ): the nearly clean
  levels, which plain v- or ε-MSE weighs by their huge SNR, stop dominating the gradient. At
  SNR = 0 (a zero-terminal-SNR schedule's last step) the weight is the plain one, 1 for v, so
  the pure-noise step still learns the mean image.
- ``edm``: σ drawn log-normal (ln σ ~ N(P_mean, P_std²), by default N(−1.2, 1.2²)) and
  x0-weight (σ² + σ_d²)/(σ σ_d)², σ_d = 0.5 (Karras et al. 2022), on the schedule's discrete
  timesteps: t is drawn with the log-normal's probability mass between the midpoints of
  neighbouring ln σ_t. At the default most draws fall at σ ≈ 0.1–1, where the fine texture of
  an image is decided; a uniform t on the default linear schedule puts most of them at σ > 1,
  where the layout of a field (which cells, where, how large) is decided. A higher P_mean
  (EDM2, Karras et al. 2024, uses −0.4 with P_std 1.0) moves draws back towards the layout.
"""

from __future__ import annotations

import math

import torch

LOSS_WEIGHTINGS = ("uniform", "min_snr", "edm")

EDM_P_MEAN, EDM_P_STD, EDM_SIGMA_DATA = -1.2, 1.2, 0.5


def _check(weighting: str) -> None:
    if weighting not in LOSS_WEIGHTINGS:
        known = ", ".join(LOSS_WEIGHTINGS)
        raise ValueError(f"loss weighting {weighting!r} is not known; expected one of {known}")


def timestep_probabilities(
    alpha_bar: torch.Tensor,
    weighting: str,
    p_mean: float = EDM_P_MEAN,
    p_std: float = EDM_P_STD,
) -> torch.Tensor:
    """P(t) for t = 0 .. T-1 (float64, sums to 1) under ``weighting``.

    ``p_mean`` and ``p_std`` are the mean and standard deviation of ln σ under ``edm``
    (unused by the others).
    """
    if not p_std > 0:
        raise ValueError(f"p_std={p_std}; expected > 0")
    _check(weighting)
    T = len(alpha_bar)
    if weighting != "edm":
        return torch.full((T,), 1.0 / T, dtype=torch.float64)
    ab = alpha_bar.double()
    log_sigma = 0.5 * (torch.log1p(-ab) - torch.log(ab))  # +inf where ᾱ = 0
    mid = 0.5 * (log_sigma[1:] + log_sigma[:-1])
    edges = torch.cat([torch.tensor([-math.inf], dtype=torch.float64), mid,
                       torch.tensor([math.inf], dtype=torch.float64)])  # fmt: skip
    cdf = 0.5 * (1 + torch.erf((edges - p_mean) / (p_std * math.sqrt(2))))
    mass = (cdf[1:] - cdf[:-1]).clamp(min=0)
    return mass / mass.sum()


def loss_weights(
    alpha_bar_t: torch.Tensor, prediction: str, weighting: str, gamma: float = 5.0
) -> torch.Tensor:
    """Per-sample factors on the MSE of the network's target (shape of ``alpha_bar_t``).

    The factor is w(SNR) / base(SNR): the weighting's x0-weight over the x0-weight the plain
    MSE of ``prediction`` already carries (SNR + 1 for v, SNR for ε). ``uniform`` gives ones.
    """
    _check(weighting)
    if prediction not in ("epsilon", "v_prediction"):
        raise ValueError(f"prediction {prediction!r} is not known")
    if weighting == "uniform":
        return torch.ones_like(alpha_bar_t)
    ab = alpha_bar_t.double()
    snr = ab / (1 - ab)  # +inf at ᾱ = 1 cannot occur: t = 0 has ᾱ < 1
    base = snr + 1 if prediction == "v_prediction" else snr
    if weighting == "min_snr":
        factor = torch.minimum(snr, torch.full_like(snr, gamma)) / base
        factor = torch.where(snr == 0, torch.ones_like(factor), factor)
    else:
        factor = (snr + 1 / EDM_SIGMA_DATA**2) / base
        if prediction == "epsilon":  # σ_d² + σ² over σ² σ_d² is infinite at SNR = 0
            factor = torch.where(snr == 0, torch.zeros_like(factor), factor)
    return factor.to(alpha_bar_t.dtype)

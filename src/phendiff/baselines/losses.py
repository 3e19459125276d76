"""The baselines' losses, each as its paper writes it.

- :func:`gradient_penalty`: WGAN-GP (Gulrajani et al. 2017, eq. 3), ``E[(‖∇D(x̂)‖₂ − 1)²]`` at
  random interpolates x̂ of real and fake images (StarGAN's adversarial loss);
- :func:`lsgan_critic`, :func:`lsgan_generator`: least-squares GAN (Mao et al. 2017), CycleGAN's;
- :func:`classification_loss`: StarGAN's domain classification, cross-entropy of the critic's
  condition logits;
- :func:`logistic_critic`, :func:`logistic_generator`, :func:`r1_penalty`: StyleGAN2's non-
  saturating logistic loss and R1 regularisation (Mescheder et al. 2018) on real images.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP's penalty ``mean((‖∇ₓ critic(x̂)‖₂ − 1)²)``, x̂ = ε·real + (1 − ε)·fake.

    Parameters
    ----------
    critic : maps images (N, C, H, W) to scores of any shape (summed per sample).
    real, fake : (N, C, H, W) images; ``fake`` is detached here.
    generator : the source of ε ~ U(0, 1), one per sample.

    Returns
    -------
    torch.Tensor
        A scalar, differentiable with respect to the critic's parameters.
    """
    eps = torch.rand((len(real), 1, 1, 1), generator=generator, dtype=real.dtype).to(real.device)
    x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def lsgan_critic(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """½ E[(D(real) − 1)²] + ½ E[D(fake)²]."""
    return 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores**2).mean()


def lsgan_generator(fake_scores: torch.Tensor) -> torch.Tensor:
    """E[(D(G(x)) − 1)²]."""
    return ((fake_scores - 1) ** 2).mean()


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """StarGAN's domain classification loss: mean cross-entropy −log softmax(logits)[label].

    Parameters
    ----------
    logits : (N, K) condition logits of the critic.
    labels : (N,) long, the conditions the images should show.
    """
    return F.cross_entropy(logits, labels)


def logistic_critic(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[softplus(−D(real))] + E[softplus(D(fake))]."""
    return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()


def logistic_generator(fake_scores: torch.Tensor) -> torch.Tensor:
    """Non-saturating E[softplus(−D(G(z)))]."""
    return F.softplus(-fake_scores).mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """R1: E[‖∇ₓ D(x)‖²] on real images x (multiply by γ/2)."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()

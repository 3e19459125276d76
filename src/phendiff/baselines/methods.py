"""One optimizer step of each baseline, as its paper trains it.

Every method holds its networks (``modules``) and optimisers (``optimizers``), takes one step
with ``step(draw, gen, step)`` and says what translation needs with ``exported()``:

- :class:`StarGAN`: the critic every step (WGAN-GP adversarial + λ_cls · classification of
  real images + λ_gp · gradient penalty), the generator every ``n_critic`` steps (adversarial
  + λ_cls · classification of fakes as their target + λ_rec · L1 cycle reconstruction);
- :class:`CycleGAN`: one model per control ↔ condition pair, each step updating every pair:
  generators (least-squares adversarial + λ_cycle · L1 cycle + λ_cycle · λ_identity · L1
  identity), then critics (least squares); no history pool of fakes;
- :class:`PhenEx`: a class-conditional StyleGAN2 (non-saturating logistic loss, R1 on real
  images every step), its generator's EMA used for everything after training.

``draw(n, label=None)`` returns ``n`` normalised crops and their labels on the device;
``gen`` (a CPU ``torch.Generator``) is the only source of randomness. Under several processes
every gradient is averaged across them before each update (``sync``), so all ranks keep the
same weights; this works through the gradient penalties' double backward, where wrapping
the critics in DistributedDataParallel would not.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from phendiff.baselines.config import BaselineConfig
from phendiff.baselines.losses import (
    classification_loss,
    gradient_penalty,
    logistic_critic,
    logistic_generator,
    lsgan_critic,
    lsgan_generator,
    r1_penalty,
)
from phendiff.baselines.networks import (
    PatchCritic,
    ResnetGenerator,
    StarCritic,
    StyleCritic,
    StyleGenerator,
)
from phendiff.errors import PhendiffError

Draw = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def _adam(config: BaselineConfig, module: nn.Module) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=config.learning_rate, betas=config.adam_betas)


class Method:
    """What the training loop needs of a baseline (see the module docstring)."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def __init__(self, config: BaselineConfig, channels: int, n_labels: int) -> None:
        self.config, self.channels, self.n_labels = config, channels, n_labels
        self.sync: Callable[[nn.Module], None] = lambda module: None
        self.per_rank = config.batch_size

    def set_learning_rate(self, step: int) -> None:
        """Every optimiser at the method's rate for ``step``."""
        lr = self.config.learning_rate_at(step)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr

    def _update(self, name: str, module: nn.Module, loss: torch.Tensor) -> None:
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        self.sync(module)
        opt.step()

    def step(self, draw: Draw, gen: torch.Generator, step: int) -> dict[str, float]:
        """One optimizer step; returns the losses to log."""
        raise NotImplementedError

    def exported(self) -> dict[str, torch.Tensor]:
        """The weights translation uses (``model.safetensors``)."""
        raise NotImplementedError


class StarGAN(Method):
    """One generator for every condition, conditioned on the target label."""

    def __init__(self, config: BaselineConfig, channels: int, n_labels: int, control=None) -> None:
        super().__init__(config, channels, n_labels)
        c = config
        self.G = ResnetGenerator(channels, c.width, c.blocks, n_labels)
        self.D = StarCritic(channels, c.image_size, n_labels, c.width)
        self.modules = {"G": self.G, "D": self.D}
        self.optimizers = {"G": _adam(c, self.G), "D": _adam(c, self.D)}

    def step(self, draw: Draw, gen: torch.Generator, step: int) -> dict[str, float]:
        """A critic step, and every ``n_critic`` steps a generator step."""
        c, G, D = self.config, self.G, self.D
        x, c_org = draw(self.per_rank)
        c_trg = torch.randint(self.n_labels, (len(x),), generator=gen).to(x.device)
        src_real, cls_real = D(x)
        fake = G(x, c_trg).detach()
        src_fake, _ = D(fake)
        gp = gradient_penalty(lambda y: D(y)[0], x, fake, gen)
        cls = classification_loss(cls_real, c_org)
        d_loss = src_fake.mean() - src_real.mean() + c.lambda_cls * cls + c.lambda_gp * gp
        self._update("D", D, d_loss)
        out = {"d_loss": d_loss.item(), "gp": gp.item(), "d_cls": cls.item()}
        if (step + 1) % c.n_critic == 0:
            fake = G(x, c_trg)
            src_fake, cls_fake = D(fake)
            rec = F.l1_loss(G(fake, c_org), x)
            g_cls = classification_loss(cls_fake, c_trg)
            g_loss = -src_fake.mean() + c.lambda_cls * g_cls + c.lambda_rec * rec
            self._update("G", G, g_loss)
            out.update(g_loss=g_loss.item(), g_cls=g_cls.item(), cycle=rec.item())
        return out

    def exported(self) -> dict[str, torch.Tensor]:
        """The generator's weights."""
        return {f"G.{k}": v for k, v in self.G.state_dict().items()}


class CyclePair(nn.Module):
    """CycleGAN's four networks for one pair: control (A) ↔ condition (B)."""

    def __init__(self, config: BaselineConfig, channels: int) -> None:
        super().__init__()
        c = config
        self.g_ab = ResnetGenerator(channels, c.width, c.blocks)
        self.g_ba = ResnetGenerator(channels, c.width, c.blocks)
        self.d_a, self.d_b = PatchCritic(channels, c.width), PatchCritic(channels, c.width)

    def generators(self) -> list[nn.Parameter]:
        """Parameters of both generators (one optimiser, as in CycleGAN)."""
        return [*self.g_ab.parameters(), *self.g_ba.parameters()]

    def critics(self) -> list[nn.Parameter]:
        """Parameters of both critics."""
        return [*self.d_a.parameters(), *self.d_b.parameters()]


class CycleGAN(Method):
    """One :class:`CyclePair` per condition other than the control."""

    def __init__(self, config: BaselineConfig, channels: int, n_labels: int, control=None) -> None:
        super().__init__(config, channels, n_labels)
        if control is None:
            raise PhendiffError(
                "cyclegan translates between the control and each condition, but the data has "
                "no control condition; name it with --control (e.g. --control DMSO)"
            )
        self.control = control
        self.labels = [k for k in range(n_labels) if k != control]
        self.pairs = {k: CyclePair(config, channels) for k in self.labels}
        self.modules = {f"pair{k}": p for k, p in self.pairs.items()}
        adam = lambda params: torch.optim.Adam(  # noqa: E731
            params, lr=config.learning_rate, betas=config.adam_betas
        )
        self.optimizers = {}
        for k, p in self.pairs.items():
            self.optimizers[f"pair{k}.G"] = adam(p.generators())
            self.optimizers[f"pair{k}.D"] = adam(p.critics())

    def step(self, draw: Draw, gen: torch.Generator, step: int) -> dict[str, float]:
        """Generators then critics of every pair; losses averaged over pairs."""
        c = self.config
        totals: dict[str, float] = {}
        for k, p in self.pairs.items():
            a, _ = draw(self.per_rank, self.control)
            b, _ = draw(self.per_rank, k)
            fake_b, fake_a = p.g_ab(a), p.g_ba(b)
            adv = lsgan_generator(p.d_b(fake_b)) + lsgan_generator(p.d_a(fake_a))
            cycle = F.l1_loss(p.g_ba(fake_b), a) + F.l1_loss(p.g_ab(fake_a), b)
            identity = F.l1_loss(p.g_ab(b), b) + F.l1_loss(p.g_ba(a), a)
            g_loss = adv + c.lambda_cycle * cycle + c.lambda_cycle * c.lambda_identity * identity
            self._update(f"pair{k}.G", p, g_loss)
            d_loss = lsgan_critic(p.d_a(a), p.d_a(fake_a.detach())) + lsgan_critic(
                p.d_b(b), p.d_b(fake_b.detach())
            )
            self._update(f"pair{k}.D", p, d_loss)
            losses = {"g_loss": g_loss, "d_loss": d_loss, "cycle": cycle, "identity": identity}
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value.item() / len(self.pairs)
        return totals

    def exported(self) -> dict[str, torch.Tensor]:
        """Both generators of every pair."""
        out = {}
        for k, p in self.pairs.items():
            for name in ("g_ab", "g_ba"):
                weights = getattr(p, name).state_dict()
                out.update({f"pair{k}.{name}.{n}": v for n, v in weights.items()})
        return out


def style_networks(
    config: BaselineConfig, channels: int, n_labels: int
) -> tuple[StyleGenerator, StyleCritic]:
    """PhenEx's generator and critic for ``config`` (resolved)."""
    c = config
    G = StyleGenerator(
        channels, c.image_size, n_labels, z_dim=c.z_dim, w_dim=c.z_dim, width=c.width,
        mapping_layers=c.mapping_layers,
    )  # fmt: skip
    return G, StyleCritic(channels, c.image_size, n_labels, c.width)


@torch.no_grad()
def class_mean_latents(G: StyleGenerator, n_labels: int, samples: int, seed: int) -> torch.Tensor:
    """mean(w | condition) over ``samples`` latents z ~ N(0, I) per condition: (K, w_dim)."""
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    means = []
    for k in range(n_labels):
        total = torch.zeros(G.w_dim, dtype=torch.float64)
        for start in range(0, samples, 1024):
            n = min(1024, samples - start)
            z = torch.randn((n, G.z_dim), generator=gen).to(device)
            total += G.map(z, torch.full((n,), k, device=device)).double().sum(0).cpu()
        means.append(total / samples)
    return torch.stack(means).float()


class PhenEx(Method):
    """A class-conditional StyleGAN2 whose latents are moved between class means."""

    def __init__(self, config: BaselineConfig, channels: int, n_labels: int, control=None) -> None:
        super().__init__(config, channels, n_labels)
        self.G, self.D = style_networks(config, channels, n_labels)
        self.G_ema, _ = style_networks(config, channels, n_labels)
        self.G_ema.load_state_dict(self.G.state_dict())
        self.G_ema.requires_grad_(False)
        self.modules = {"G": self.G, "D": self.D, "G_ema": self.G_ema}
        self.optimizers = {"G": _adam(config, self.G), "D": _adam(config, self.D)}

    def step(self, draw: Draw, gen: torch.Generator, step: int) -> dict[str, float]:
        """A critic step (logistic + γ/2 · R1), a generator step, then the EMA."""
        c, G, D = self.config, self.G, self.D
        x, labels = draw(self.per_rank)
        z = torch.randn((len(x), G.z_dim), generator=gen).to(x.device)
        fake = G(z, labels).detach()
        r1 = r1_penalty(lambda y: D(y, labels), x)
        d_loss = logistic_critic(D(x, labels), D(fake, labels)) + c.r1_gamma / 2 * r1
        self._update("D", D, d_loss)
        z = torch.randn((len(x), G.z_dim), generator=gen).to(x.device)
        g_loss = logistic_generator(D(G(z, labels), labels))
        self._update("G", G, g_loss)
        beta = 0.5 ** (c.batch_size / c.ema_halflife_images)
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), G.parameters(), strict=True):
                p_ema.lerp_(p, 1 - beta)
            for b_ema, b in zip(self.G_ema.buffers(), G.buffers(), strict=True):
                b_ema.copy_(b)
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "r1": r1.item()}

    def exported(self) -> dict[str, torch.Tensor]:
        """The EMA generator and the class means of its latents."""
        c = self.config
        means = class_mean_latents(self.G_ema, self.n_labels, c.class_mean_samples, c.seed)
        return {**{f"G.{k}": v for k, v in self.G_ema.state_dict().items()}, "w_mean": means}


METHOD_CLASSES = {"stargan": StarGAN, "cyclegan": CycleGAN, "phenex": PhenEx}

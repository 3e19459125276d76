"""One optimizer step of ``phendiff train``, as an object a benchmark can time on its own.

Per step: noise, timesteps and condition dropout drawn from the step's own generator; the
forward process q(x_t | x_0) and the ε- or v-target (:mod:`phendiff.diffusion.forward`); the
network under autocast; MSE loss; backward (with loss scaling for fp16); gradient clipping;
AdamW at the step's learning rate; the EMA update.

The learning rate is a pure function of the optimizer step (linear warm-up, cosine decay)
and the EMA decay a pure function of the images seen (a half-life in images, EDM-style
ramp-up), so both are identical on every process and after a resume.
"""

from __future__ import annotations

import math

import torch

from phendiff.config import TrainConfig
from phendiff.diffusion.forward import add_noise, training_target
from phendiff.diffusion.schedule import make_alpha_bar
from phendiff.diffusion.weighting import loss_weights, timestep_probabilities
from phendiff.errors import PhendiffError


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up to ``learning_rate``, then cosine decay to 0 at ``steps``."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def ema_decay(config: TrainConfig, images_seen: int) -> float:
    """Per-step EMA decay β for a half-life in images: β = 0.5 ** (batch / half-life)."""
    halflife = config.ema_halflife_images
    if config.ema_rampup > 0:
        halflife = min(halflife, images_seen * config.ema_rampup)
    return 0.5 ** (config.batch_size / max(halflife, 1e-8))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None: plain fp32)."""
    cuda = device.type == "cuda"
    if precision == "fp16" and not cuda:
        raise PhendiffError("precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
    if precision == "auto":
        precision = "fp16" if cuda and not torch.cuda.is_bf16_supported() else "bf16"
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


class TrainStep:
    """``loss = step(x0, labels, generator, step, images_seen)``: one optimizer step.

    Parameters
    ----------
    config : the run's configuration (schedule, prediction, precision, optimisation).
    network : the online network, possibly wrapped for distributed training.
    online : the unwrapped online network (its weights feed the EMA).
    ema : the EMA network, updated in place after every step.
    optimizer : AdamW over ``network``'s parameters.
    null_label : the "no condition" label that condition dropout substitutes.
    device : where ``network`` runs.
    """

    def __init__(self, config: TrainConfig, network, online, ema, optimizer, null_label: int,
                 device: torch.device) -> None:  # fmt: skip
        self.config, self.network, self.online, self.ema = config, network, online, ema
        self.optimizer, self.null_label, self.device = optimizer, null_label, device
        alpha_bar = make_alpha_bar(**config.model.schedule_options)
        self.alpha_bar = alpha_bar.to(device, torch.float32)
        self.t_probs = timestep_probabilities(alpha_bar, config.loss_weighting,
                                              config.edm_p_mean, config.edm_p_std)
        self.amp_dtype = autocast_dtype(config.precision, device)
        # fp16 needs loss scaling; bf16 has fp32's range and does not
        self.scaler = torch.amp.GradScaler(enabled=self.amp_dtype == torch.float16)

    def __call__(
        self,
        x0: torch.Tensor,
        labels: torch.Tensor,
        gen: torch.Generator,
        step: int,
        images_seen: int,
    ) -> float:
        """Train on clean images x0 (N, C, Y, X) of ``labels`` (N,); returns the loss.

        ``gen`` draws the noise, timesteps and dropout; ``step`` sets the learning rate and
        ``images_seen`` (counting this step's global batch) the EMA decay.
        """
        config = self.config
        noise = torch.randn(x0.shape, generator=gen)
        t = self.draw_timesteps(len(x0), gen)
        drop = torch.rand(len(x0), generator=gen) < config.condition_dropout
        labels = torch.where(drop, self.null_label, labels)
        x0, noise, t, labels = (v.to(self.device) for v in (x0, noise, t, labels))
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        x_t = add_noise(x0, noise, ab)
        target = training_target(x0, noise, ab, config.model.prediction)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        amp = self.amp_dtype is not None
        with torch.autocast(self.device.type, self.amp_dtype, enabled=amp):
            out = self.network(x_t, t, labels)
        loss = self.loss(out.float(), target, ab)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.update_ema(images_seen)
        return loss.item()

    def draw_timesteps(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n timesteps: uniform, or from the loss weighting's distribution over t."""
        if self.config.loss_weighting == "uniform":  # the original draw, bit for bit
            return torch.randint(0, self.config.model.num_train_timesteps, (n,), generator=gen)
        return torch.multinomial(self.t_probs, n, replacement=True, generator=gen)

    def loss(self, out: torch.Tensor, target: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """MSE of the network's target, each sample weighted by the loss weighting."""
        config = self.config
        if config.loss_weighting == "uniform":
            return torch.nn.functional.mse_loss(out, target)
        w = loss_weights(ab.flatten(), config.model.prediction, config.loss_weighting,
                         config.min_snr_gamma)  # fmt: skip
        per_sample = (out - target).pow(2).flatten(1).mean(dim=1)
        return (w * per_sample).mean()

    @torch.no_grad()
    def update_ema(self, images_seen: int) -> None:
        """ema ← β ema + (1 − β) online, β from the half-life and the images seen."""
        beta = ema_decay(self.config, images_seen)
        for e, p in zip(self.ema.parameters(), self.online.parameters(), strict=True):
            e.lerp_(p.detach().float(), 1 - beta)

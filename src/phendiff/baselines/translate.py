"""``phendiff baseline translate``: a trained baseline's translations, in ``phendiff translate``'s
layout (TIFFs in the input's dtype, previews, ``translations.csv``), so ``phendiff evaluate``
scores every method the same way.

What each method calls a translation and a reconstruction (the same-condition round trip):

- StarGAN: ``G(x, target)``; reconstruction ``G(x, source)``.
- CycleGAN: control → condition B through pair B's ``G_AB``, B → control through ``G_BA``,
  B → C through the control (``G_AC(G_BA(x))``); reconstruction: the generator into the
  source's domain that the identity loss trains to leave its images alone (``G_AB`` of the
  source's pair, or, for control images, ``G_BA`` of the first pair).
- PhenEx: x is projected into W (one latent) or W+ (one per layer) by minimising the pixel
  MSE of ``G(w)`` to x (Adam, StyleGAN2's projector schedule, no perceptual loss: no
  pretrained network is available offline); translation ``G(w + mean(w|target) −
  mean(w|source))``; reconstruction ``G(w)``, the projection. Images larger than the model
  are cut into model-size tiles (the last tile of a row or column shifted to fit).

StarGAN and CycleGAN are fully convolutional: images of any size are reflect-padded to a
multiple of 4 and translated whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from phendiff.baselines.config import LATENTS
from phendiff.baselines.folder import BaselineModel, load_baseline
from phendiff.baselines.methods import style_networks
from phendiff.baselines.networks import ResnetGenerator, StyleGenerator
from phendiff.conditions import Condition
from phendiff.errors import PhendiffError
from phendiff.translate.arrays import Translation, resolve_targets
from phendiff.translate.metrics import reconstruction_metrics


def project(
    G: StyleGenerator,
    images: torch.Tensor,
    start: torch.Tensor,
    latent: str = "w",
    steps: int = 300,
    lr: float = 0.05,
) -> torch.Tensor:
    """Latents whose images ``G.synthesize(w, noise="const")`` match ``images`` (N, C, S, S).

    Minimises the per-image mean squared error by Adam from ``start`` (N, w_dim), with
    StyleGAN2's projector schedule (learning-rate ramp-up over the first 5 % of steps, cosine
    ramp-down over the last 25 %). Each image's loss is summed, not averaged, so every image
    is projected independently of the batch it is in.

    Returns
    -------
    torch.Tensor
        (N, w_dim) for ``latent="w"``, (N, num_ws, w_dim) for ``"w+"``.
    """
    if latent not in LATENTS:
        raise PhendiffError(f"latent={latent!r}; expected one of {', '.join(LATENTS)}")
    w = start.detach().clone()
    if latent == "w+":
        w = w[:, None].repeat(1, G.num_ws, 1)
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    for i in range(steps):
        t = i / max(1, steps)
        ramp = min(1.0, (1 - t) / 0.25)
        ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
        for group in opt.param_groups:
            group["lr"] = lr * ramp * min(1.0, t / 0.05)
        loss = (G.synthesize(w, "const") - images).pow(2).flatten(1).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return w.detach()


def _tile_starts(size: int, tile: int) -> list[int]:
    starts = list(range(0, size - tile + 1, tile))
    return starts if starts[-1] == size - tile else [*starts, size - tile]


class BaselineTranslator:
    """A loaded baseline as :func:`~phendiff.translate.files.translate_files` uses it.

    Parameters
    ----------
    model : a loaded baseline, or the path of its folder / run.
    latent : PhenEx's projection space, "w" or "w+" (ignored by the other methods).
    projection_steps : PhenEx's optimisation steps per image.
    device : where the networks run (default: the GPU when there is one).
    """

    def __init__(
        self,
        model: BaselineModel | str | Path,
        latent: str = "w",
        projection_steps: int = 300,
        device: str | None = None,
    ) -> None:
        model = model if isinstance(model, BaselineModel) else load_baseline(model)
        if latent not in LATENTS:
            raise PhendiffError(f"--latent {latent}; expected one of {', '.join(LATENTS)}")
        if projection_steps < 1:
            raise PhendiffError(f"--projection-steps {projection_steps}; expected >= 1")
        self.model, self.latent, self.projection_steps = model, latent, projection_steps
        self.config, self.conditions = model.images, model.conditions
        self.normalizer, self.path = model.normalizer, model.path
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.networks = self._networks()

    def _networks(self) -> dict:
        c, m = self.model.config, self.model
        channels, n = self.config.in_channels, len(m.conditions)

        def loaded(net, prefix: str):
            net.load_state_dict({k[len(prefix):]: v for k, v in m.weights.items()
                                 if k.startswith(prefix)})  # fmt: skip
            return net.to(self.device).eval().requires_grad_(False)

        if c.method == "stargan":
            return {"G": loaded(ResnetGenerator(channels, c.width, c.blocks, n), "G.")}
        if c.method == "phenex":
            G, _ = style_networks(c, channels, n)
            return {"G": loaded(G, "G."), "w_mean": m.weights["w_mean"].to(self.device)}
        nets = {}
        for key in {k.split(".")[0] for k in m.weights}:
            for name in ("g_ab", "g_ba"):
                net = ResnetGenerator(channels, c.width, c.blocks)
                nets[f"{key}.{name}"] = loaded(net, f"{key}.{name}.")
        return nets

    def describe(self) -> dict:
        """What ``translate.json`` records as the options."""
        out = {"method": self.model.method}
        if self.model.method == "phenex":
            out.update(latent=self.latent, projection_steps=self.projection_steps)
        return out

    def translate(
        self,
        images: Sequence[np.ndarray],
        sources: Sequence[Condition],
        targets: Sequence[Condition | str],
    ) -> Translation:
        """Translate (C, Y, X) arrays of the model's channels from ``sources`` to ``targets``.

        Returns the same :class:`~phendiff.translate.arrays.Translation` as phendiff's
        diffusion translation: outputs in the inputs' dtype and units.
        """
        target_list = resolve_targets(self, list(targets))
        sources = [self.conditions.find(s) for s in sources]
        result = Translation(list(sources), target_list)
        for image, source in zip(images, sources, strict=True):
            x = torch.from_numpy(self.normalizer.normalize(np.asarray(image, np.float64)))
            x = x.float()[None].to(self.device)
            recon, outs = self._one(x, source, target_list)
            dtype = np.asarray(image).dtype
            to_file = self.normalizer.to_output_dtype
            result.translated.append(np.stack([to_file(o, dtype) for o in outs]))
            result.reconstruction.append(to_file(recon, dtype))
            result.metrics.append(reconstruction_metrics(x[0].double().cpu().numpy(), recon))
        return result

    @torch.no_grad()
    def _one(self, x, source, targets) -> tuple[np.ndarray, list[np.ndarray]]:
        """Reconstruction and translations (float64 numpy, normalised) of x (1, C, Y, X)."""
        if self.model.method == "phenex":
            with torch.enable_grad():
                return self._phenex(x, source, targets)
        h, w = x.shape[2:]
        ph, pw = -h % 4, -w % 4
        xp = F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
        label = self.conditions.label
        if self.model.method == "stargan":
            G = self.networks["G"]
            run = lambda c: G(xp, torch.tensor([label(c)], device=self.device))  # noqa: E731
        else:
            run = lambda c: self._cycle(xp, source, c)  # noqa: E731
        crop = lambda y: y[0, :, :h, :w].double().cpu().numpy()  # noqa: E731
        return crop(run(source)), [crop(run(t)) for t in targets]

    def _cycle(self, x, source: Condition, target: Condition) -> torch.Tensor:
        """CycleGAN's chain of pair generators from ``source`` to ``target``."""
        label, control = self.conditions.label, self.conditions.control_name
        nets = self.networks
        if source == target:
            if source.name == control:
                first = min(int(k.split(".")[0][4:]) for k in nets)
                return nets[f"pair{first}.g_ba"](x)
            return nets[f"pair{label(source)}.g_ab"](x)
        if source.name != control:
            x = nets[f"pair{label(source)}.g_ba"](x)
        if target.name != control:
            x = nets[f"pair{label(target)}.g_ab"](x)
        return x

    def _phenex(self, x, source, targets) -> tuple[np.ndarray, list[np.ndarray]]:
        G, w_mean = self.networks["G"], self.networks["w_mean"]
        s = self.config.image_size
        _, _, h, w = x.shape
        ys, xs = _tile_starts(h, s), _tile_starts(w, s)
        corners = [(y, x0) for y in ys for x0 in xs]
        tiles = torch.cat([x[..., y : y + s, x0 : x0 + s] for y, x0 in corners])
        src = self.conditions.label(source)
        start = w_mean[src].expand(len(tiles), -1)
        latent = project(G, tiles, start, self.latent, self.projection_steps)
        shifts = [w_mean[self.conditions.label(t)] - w_mean[src] for t in targets]
        with torch.no_grad():
            outs = [G.synthesize(latent + d, "const") for d in [0.0, *shifts]]
        results = []
        for y_tiles in outs:
            canvas = torch.zeros_like(x[0])
            for (y, x0), tile in zip(corners, y_tiles, strict=True):
                canvas[:, y : y + s, x0 : x0 + s] = tile
            results.append(canvas.double().cpu().numpy())
        return results[0], results[1:]

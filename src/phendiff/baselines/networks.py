"""The baselines' networks, sized for 64-px crops and any channel count.

- :class:`ResnetGenerator`: CycleGAN's generator (Zhu et al. 2017, appendix 7.2: c7s1-w,
  d2w, d4w, residual blocks of 4w, u2w, uw, c7s1-C, tanh), with instance normalisation;
  with ``n_labels > 0`` it is StarGAN's (Choi et al. 2018): the target label enters as
  one-hot planes concatenated to the image.
- :class:`PatchCritic`: CycleGAN's 70×70 PatchGAN (C64-C128-C256-C512, 4×4 kernels, leaky
  ReLU 0.2, instance norm after the first); :class:`StarCritic`: StarGAN's critic (4×4
  stride-2 convs, leaky ReLU 0.01, no normalisation) with a real/fake patch head and an
  auxiliary head of ``n_labels`` condition logits.
- :class:`StyleGenerator`, :class:`StyleCritic`: a class-conditional StyleGAN2 (Karras et al.
  2020): a mapping network ``w = f(z, embed(label))``, a learned 4×4 constant, two modulated
  3×3 convolutions with weight demodulation per resolution, per-layer noise, skip ``to_image``
  outputs; one ``w`` per layer (``ws`` of shape (N, num_ws, w_dim), the W+ space). The critic
  is residual with a minibatch-standard-deviation feature and a projection head on the label.
  Equalised learning rates are kept (weights scaled at run time by 1/sqrt(fan_in)); path-
  length regularisation and style mixing are left out.

Images are normalised (display range [-1, 1]); tanh outputs cannot leave that range.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image-to-image generator: (N, C, H, W) → (N, C, H, W) (sides that are not multiples of
    4 are reflect-padded up to one for the two stride-2 levels, and the output cropped back).

    Parameters
    ----------
    channels : image channels.
    width : channels of the first layer (the papers: 64).
    blocks : residual blocks at 1/4 resolution (CycleGAN: 6 at 128 px, 9 at 256; StarGAN 6).
    n_labels : 0 for CycleGAN; the number of conditions for StarGAN, whose ``forward`` then
        takes the target labels (N,).
    """

    def __init__(self, channels: int, width: int = 32, blocks: int = 6, n_labels: int = 0) -> None:
        super().__init__()
        self.n_labels = n_labels
        w = width
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(channels + n_labels, w, 7), _norm(w), nn.ReLU(True),
            nn.Conv2d(w, 2 * w, 3, 2, 1), _norm(2 * w), nn.ReLU(True),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1), _norm(4 * w), nn.ReLU(True),
        ]  # fmt: skip
        layers += [_Residual(4 * w) for _ in range(blocks)]
        layers += [
            nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, 1), _norm(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 3, 2, 1, 1), _norm(w), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(w, channels, 7), nn.Tanh(),
        ]  # fmt: skip
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The translated images; ``labels`` (N,) long are the targets (StarGAN only)."""
        if self.n_labels:
            planes = F.one_hot(labels, self.n_labels).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1)
        h, w = x.shape[2:]
        pad_h, pad_w = -h % 4, -w % 4
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        return self.net(x)[:, :, :h, :w]


class PatchCritic(nn.Module):
    """CycleGAN's PatchGAN: (N, C, H, W) → (N, 1, H/8 − 2, W/8 − 2) real/fake scores."""

    def __init__(self, channels: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1), _norm(2 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), _norm(4 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * w, 8 * w, 4, 1, 1), _norm(8 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(8 * w, 1, 4, 1, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch scores (N, 1, h, w)."""
        return self.net(x)


class StarCritic(nn.Module):
    """StarGAN's critic: (N, C, S, S) → patch scores (N, 1, 2, 2) and logits (N, n_labels).

    ``log2(S) − 1`` stride-2 layers take S px down to 2×2 (StarGAN: 6 layers at 128 px).
    """

    def __init__(self, channels: int, image_size: int, n_labels: int, width: int = 32) -> None:
        super().__init__()
        n_layers = int(math.log2(image_size)) - 1
        layers: list[nn.Module] = []
        c_in, c = channels, width
        for _ in range(n_layers):
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.01, True)]
            c_in, c = c, min(2 * c, 16 * width)
        self.body = nn.Sequential(*layers)
        self.src = nn.Conv2d(c_in, 1, 3, 1, 1)
        self.cls = nn.Conv2d(c_in, n_labels, image_size // 2**n_layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(patch scores (N, 1, 2, 2), condition logits (N, n_labels))."""
        h = self.body(x)
        return self.src(h), self.cls(h).flatten(1)


# --- StyleGAN2 -------------------------------------------------------------------------------


class _Linear(nn.Module):
    """Fully connected layer with an equalised learning rate (weights scaled at run time)."""

    def __init__(self, c_in: int, c_out: int, bias_init: float = 0.0, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), float(bias_init)))
        self.gain, self.lr_mul = lr_mul / math.sqrt(c_in), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.gain, self.bias * self.lr_mul)


class _ModulatedConv(nn.Module):
    """3×3 (or 1×1) convolution whose weights are scaled per sample by the style of ``w``,
    then demodulated to unit output variance (StyleGAN2 eq. 1–3); optional 2× upsampling."""

    def __init__(self, c_in, c_out, w_dim, kernel=3, demodulate=True, up=False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.affine = _Linear(w_dim, c_in, bias_init=1.0)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.demodulate, self.up, self.pad = demodulate, up, kernel // 2
        self.gain = 1 / math.sqrt(c_in * kernel * kernel)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        n, c, h, wd = x.shape
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            h, wd = 2 * h, 2 * wd
        style = self.affine(w)  # (N, c_in)
        weight = self.weight[None] * self.gain * style[:, None, :, None, None]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        # grouped convolution: one group per sample
        out = F.conv2d(
            x.reshape(1, n * c, h, wd), weight.reshape(-1, c, *weight.shape[3:]),
            padding=self.pad, groups=n,
        )  # fmt: skip
        return out.reshape(n, -1, h, wd) + self.bias[None, :, None, None]


class _StyleLayer(nn.Module):
    """Modulated conv, per-pixel noise (learned strength), bias, leaky ReLU."""

    def __init__(self, c_in, c_out, w_dim, resolution, up=False) -> None:
        super().__init__()
        self.conv = _ModulatedConv(c_in, c_out, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        # the fixed noise of 'const' mode (translation, projection): deterministic outputs
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: str) -> torch.Tensor:
        x = self.conv(x, w)
        if noise == "random":
            x = x + torch.randn_like(x[:, :1]) * self.noise_strength
        elif noise == "const":
            x = x + self.noise_const * self.noise_strength
        return F.leaky_relu(x, 0.2) * math.sqrt(2)


class StyleGenerator(nn.Module):
    """Class-conditional StyleGAN2 generator for ``image_size`` (a power of 2, ≥ 8) px.

    Parameters
    ----------
    channels : image channels.
    image_size : output side in px.
    n_labels : conditions (the mapping network embeds the label).
    z_dim, w_dim : latent sizes (StyleGAN2: 512; here 128 by default).
    width : channels at 64 px; lower resolutions have up to 4× more (capped at ``8 × width``).
    mapping_layers : depth of the mapping network (StyleGAN2: 8).
    """

    def __init__(
        self,
        channels: int,
        image_size: int,
        n_labels: int,
        z_dim: int = 128,
        w_dim: int = 128,
        width: int = 32,
        mapping_layers: int = 4,
    ) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.n_labels = z_dim, w_dim, n_labels
        self.embed = _Linear(n_labels, z_dim)
        mapping: list[nn.Module] = []
        for i in range(mapping_layers):
            c_in = 2 * z_dim if i == 0 else w_dim
            mapping += [_Linear(c_in, w_dim, lr_mul=0.01), nn.LeakyReLU(0.2)]
        self.mapping = nn.Sequential(*mapping)
        res_log2 = int(math.log2(image_size))
        cap = 8 * width

        def ch(res: int) -> int:
            return min(cap, width * 64 // res) if res <= 64 else max(width // (res // 64), 8)

        self.const = nn.Parameter(torch.randn(ch(4), 4, 4))
        self.layers = nn.ModuleList([_StyleLayer(ch(4), ch(4), w_dim, 4)])
        self.to_image = nn.ModuleList([_ModulatedConv(ch(4), channels, w_dim, 1, demodulate=False)])
        for k in range(3, res_log2 + 1):
            r = 2**k
            self.layers.append(_StyleLayer(ch(r // 2), ch(r), w_dim, r, up=True))
            self.layers.append(_StyleLayer(ch(r), ch(r), w_dim, r))
            self.to_image.append(_ModulatedConv(ch(r), channels, w_dim, 1, demodulate=False))
        # every conv and every to_image takes one w: the W+ space has num_ws of them
        self.num_ws = len(self.layers) + len(self.to_image)

    def map(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Latents z (N, z_dim) and labels (N,) → w (N, w_dim)."""
        y = self.embed(F.one_hot(labels, self.n_labels).to(z.dtype))
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
        y = y * torch.rsqrt(y.pow(2).mean(1, keepdim=True) + 1e-8)
        return self.mapping(torch.cat([z, y], dim=1))

    def synthesize(self, ws: torch.Tensor, noise: str = "const") -> torch.Tensor:
        """Images (N, C, S, S) from ``ws`` (N, num_ws, w_dim), or from w (N, w_dim) for every
        layer; ``noise``: "random" (training), "const" (the stored noise) or "none"."""
        if ws.ndim == 2:
            ws = ws[:, None].expand(-1, self.num_ws, -1)
        x = self.const[None].expand(len(ws), -1, -1, -1)
        i = 0
        x = self.layers[0](x, ws[:, i], noise)
        image = self.to_image[0](x, ws[:, i + 1])
        i += 2
        for k, to_image in enumerate(self.to_image[1:]):
            x = self.layers[1 + 2 * k](x, ws[:, i], noise)
            x = self.layers[2 + 2 * k](x, ws[:, i + 1], noise)
            up = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
            image = up + to_image(x, ws[:, i + 2])
            i += 3
        return image

    def forward(self, z: torch.Tensor, labels: torch.Tensor, noise: str = "random") -> torch.Tensor:
        """Images of ``labels`` from latents z (N, z_dim)."""
        return self.synthesize(self.map(z, labels), noise)


class _Conv(nn.Module):
    """Convolution with an equalised learning rate (weights scaled by 1/sqrt(fan_in))."""

    def __init__(self, c_in: int, c_out: int, kernel: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.gain, self.pad = 1 / math.sqrt(c_in * kernel * kernel), kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.gain, self.bias, padding=self.pad)


class _CriticBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = _Conv(c_in, c_in, 3), _Conv(c_in, c_out, 3)
        self.skip = _Conv(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.avg_pool2d(F.leaky_relu(self.conv2(h), 0.2), 2)
        return (F.avg_pool2d(self.skip(x), 2) + h) / math.sqrt(2)


class StyleCritic(nn.Module):
    """StyleGAN2's residual critic with a projection head: (images, labels) → scores (N,)."""

    def __init__(self, channels: int, image_size: int, n_labels: int, width: int = 32) -> None:
        super().__init__()
        cap = 8 * width

        def ch(res: int) -> int:
            return min(cap, width * 64 // res)

        self.from_image = _Conv(channels, ch(image_size), 1)
        blocks, r = [], image_size
        while r > 4:
            blocks.append(_CriticBlock(ch(r), ch(r // 2)))
            r //= 2
        self.blocks = nn.Sequential(*blocks)
        c = ch(4)
        self.conv = _Conv(c + 1, c, 3)
        self.fc = _Linear(c * 16, c)
        self.out = _Linear(c, 1)
        self.embed = _Linear(n_labels, c)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Realness scores (N,) of images x under their ``labels``."""
        h = self.blocks(F.leaky_relu(self.from_image(x), 0.2))
        # minibatch standard deviation over groups of up to 4 (StyleGAN2 D's last block)
        g = min(4, len(h))
        n = len(h) // g * g
        std = torch.zeros_like(h[:, :1])
        if g > 1:
            s = h[:n].reshape(g, -1, *h.shape[1:]).std(0).mean(dim=(1, 2, 3))  # (n/g,)
            std[:n] = s.repeat(g)[:, None, None, None].expand(-1, 1, *h.shape[2:])
        h = F.leaky_relu(self.conv(torch.cat([h, std], 1)), 0.2)
        h = F.leaky_relu(self.fc(h.flatten(1)), 0.2)
        y = self.embed(F.one_hot(labels, self.embed.weight.shape[1]).to(h.dtype))
        return self.out(h).squeeze(1) + (y * h).sum(1) / math.sqrt(h.shape[1])

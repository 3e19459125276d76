"""The denoiser: a network wrapped once, giving float64 ``(ε, x̂0)`` for ``(x_t, t, labels)``.

Every sampler in this package talks to the model through a :class:`Denoiser`, so none of
them converts network outputs, looks up ᾱ or handles precision itself.

Notation (Song et al. 2021, Salimans & Ho 2022):

==============  ==========================================================================
``x``           x_t, the state at noise level t, (N, ...) — images are (N, C, Y, X)
``t``           integer timestep in 0 .. T-1; ``-1`` is the clean end (ᾱ_{-1} = 1)
``alpha_bar``   ᾱ_t, float64 (T,); x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε
``eps``         ε, the noise in x_t
``x0_pred``     x̂0, the estimate of the clean image
``v``           v = √ᾱ_t ε − √(1-ᾱ_t) x_0, the output of a v-prediction network
==============  ==========================================================================

A *network* is any callable ``out = network(x_t, t, labels)`` with ``t`` and ``labels`` (N,)
long tensors, returning ε or v (``prediction``) of x's shape. :func:`network_callable` turns
a ``torch.nn.Module`` into one that runs at a chosen precision and memory layout on the
module's device, while the caller's trajectory stays in float64 wherever it lives.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch

Network = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
PREDICTIONS = ("epsilon", "v_prediction")
PRECISIONS = ("auto", "fp32", "bf16", "fp64")


@dataclass(frozen=True)
class Denoiser:
    """``(ε, x̂0) = denoiser(x, t, labels)`` in float64, from an ε- or v-prediction network.

    Parameters
    ----------
    network : callable
        ``out = network(x_t, t, labels)``; ``t`` and ``labels`` are (N,) long tensors.
    alpha_bar : torch.Tensor
        ᾱ_t for t = 0 .. T-1, float64 (see :func:`~phendiff.diffusion.schedule.make_alpha_bar`).
    prediction : {"epsilon", "v_prediction"}
        What the network returns.

    Examples
    --------
    >>> ab = make_alpha_bar("linear")                                    # doctest: +SKIP
    >>> denoiser = Denoiser(lambda x, t, y: torch.zeros_like(x), ab)     # doctest: +SKIP
    >>> eps, x0_pred = denoiser(torch.randn(2, 3, 8, 8), 999, None)      # doctest: +SKIP
    """

    network: Network
    alpha_bar: torch.Tensor
    prediction: str = "epsilon"

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ValueError(
                f"prediction {self.prediction!r} is not known; expected one of {PREDICTIONS}"
            )
        object.__setattr__(self, "alpha_bar", self.alpha_bar.to(torch.float64))

    def alpha_bar_at(self, t: int) -> torch.Tensor:
        """ᾱ_t as a float64 scalar tensor, with ᾱ_{-1} = 1 (the clean image)."""
        if t < 0:
            return torch.ones((), dtype=torch.float64)
        return self.alpha_bar[t]

    def __call__(
        self, x: torch.Tensor, t: int, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ε and x̂0 (float64, x's shape) for x taken to be at noise level ``t``."""
        x = x.to(torch.float64)
        timesteps = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        out = self.network(x, timesteps, labels).to(torch.float64)
        ab = self.alpha_bar_at(t)
        sqrt_ab, sqrt_1m_ab = ab.sqrt(), (1 - ab).sqrt()
        if self.prediction == "epsilon":
            return out, (x - sqrt_1m_ab * out) / sqrt_ab  # eq. 4 of DDIM (Song et al. 2021)
        # v = √ᾱ ε − √(1−ᾱ) x0 and x = √ᾱ x0 + √(1−ᾱ) ε; also defined where ᾱ = 0
        return sqrt_ab * out + sqrt_1m_ab * x, sqrt_ab * x - sqrt_1m_ab * out


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` → bf16 on the CPU and on GPUs with bf16, fp32 elsewhere; others unchanged."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not known; expected one of {PRECISIONS}")
    if precision != "auto":
        return precision
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp32"
    return "bf16"


def network_callable(
    module: torch.nn.Module,
    precision: str = "fp32",
    memory_format: torch.memory_format = torch.contiguous_format,
) -> Network:
    """``module`` as a network callable at ``precision`` and ``memory_format``.

    The returned callable moves its inputs to the module's device, runs the module there in
    float64 (``fp64``), float32 (``fp32``) or bf16 autocast over float32 weights (``bf16``;
    ``auto`` picks bf16 where the device has it, see :func:`resolve_precision`), and returns
    float64 outputs on the input's device, so trajectories can stay in float64. When the
    weights must change dtype or layout, a converted copy is made once: ``module`` itself is
    never modified. The layout does not change what is computed; channels-last is faster on
    CPUs (see ``benchmarks/README.md``).
    """
    device = next(module.parameters()).device
    precision = resolve_precision(precision, device)
    dtype = torch.float64 if precision == "fp64" else torch.float32
    net = module
    if not _is_in(module, dtype, memory_format):
        net = copy.deepcopy(module).to(dtype, memory_format=memory_format)
    autocast = precision == "bf16"

    def network(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = x.to(device, dtype).contiguous(memory_format=memory_format)
        with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=autocast):
            out = net(z, t.to(device), labels.to(device))
        return out.to(x.device, torch.float64).contiguous()

    return network


def fixed_batches(network: Network, size: int) -> Network:
    """``network`` called on chunks of exactly ``size`` samples, the last one padded.

    A network's kernels may round differently for different batch sizes (bf16 autocast on a
    CPU: up to 1e-2 in ε), so an image's result would depend on how many others share its
    call. With every call the same size, each sample's output depends on that sample alone
    (its position in the chunk and the other samples do not change it), so translations do
    not depend on the batch size. Padding repeats the chunk's first sample; its outputs are
    dropped.
    """
    if size < 1:
        raise ValueError(f"size={size}; expected >= 1")

    def network_in_chunks(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor):
        outs = []
        for start in range(0, len(x), size):
            rows = torch.arange(start, min(start + size, len(x)))
            filled = len(rows)
            rows = torch.cat([rows, rows[:1].repeat(size - filled)])
            outs.append(network(x[rows], t[rows], labels[rows])[:filled])
        return torch.cat(outs)

    return network_in_chunks


def _is_in(module: torch.nn.Module, dtype: torch.dtype, memory_format) -> bool:
    """Whether every floating-point weight already has ``dtype`` and ``memory_format``."""
    for p in [*module.parameters(), *module.buffers()]:
        if not p.is_floating_point():
            continue
        if p.dtype != dtype or (p.dim() == 4 and not p.is_contiguous(memory_format=memory_format)):
            return False
    return True

"""Achieved FLOP/s of the UNet forward against the machine's measured peak, as a fraction.

FLOPs of one forward pass are counted with ``torch.utils.flop_counter.FlopCounterMode``
(convolutions and matrix products, 2 FLOPs per multiply-add; normalisations and activations
are not counted, so the fraction is what the counted work achieves). The peak is the best
of a large matrix product and a large 3×3 convolution run in the same precision on the same
device and thread count. Forward passes run as translation runs them: inference mode,
evaluation mode, fp32 weights, optionally under bf16 autocast, optionally channels_last.

    python benchmarks/flops.py                 # tiny (64 px, batch 32) and paper (128 px, batch 8)
    python benchmarks/flops.py --device cuda   # on a GPU

Every timing is the median of ``--repeats`` runs, alternating between the configurations.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

SHAPES = {"tiny": (32, 64), "paper": (8, 128)}  # batch, pixels


def _timed(fn: Callable[[], object], device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    tic = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - tic


def _autocast(device: str, precision: str):
    return torch.autocast(device, torch.bfloat16, enabled=precision == "bf16")


def peak_kernels(device: str, precision: str) -> dict[str, tuple[float, Callable]]:
    """name → (FLOPs, callable) for a large matmul and a large convolution."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    n = 2048 if device == "cpu" else 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c_in, px, batch = 256, 64, 4 if device == "cpu" else 64
    conv = torch.nn.Conv2d(c_in, c_in, 3, padding=1).to(device, dtype).eval()
    x = torch.randn(batch, c_in, px, px, device=device, dtype=dtype)

    def run_conv():
        with torch.inference_mode():
            conv(x)

    return {
        "matmul": (2.0 * n**3, lambda: a @ b),
        "conv3x3": (2.0 * batch * c_in * c_in * 9 * px * px, run_conv),
    }


def unet_forward(preset: str, device: str, precision: str, channels_last: bool):
    """(FLOPs of one forward, callable) for a random-initialised preset."""
    from phendiff.config import ModelConfig
    from phendiff.model.unet import ConditionalUNet

    torch.manual_seed(0)
    config = ModelConfig.from_preset(preset)
    net = ConditionalUNet(config, 13).to(device).eval().requires_grad_(False)
    batch, px = SHAPES[preset]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    x = torch.randn(batch, 3, px, px, device=device).to(memory_format=fmt)
    t = torch.randint(0, 1000, (batch,), device=device)
    y = torch.randint(0, 13, (batch,), device=device)

    def forward():
        with torch.inference_mode(), _autocast(device, precision):
            net(x, t, y)

    counter = FlopCounterMode(display=False)
    with counter:
        forward()
    forward()  # warm-up
    return counter.get_total_flops(), forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="tiny,paper")
    args = parser.parse_args()
    dev = args.device
    print(f"device {dev}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    for precision in ("fp32", "bf16"):
        kernels = peak_kernels(dev, precision)
        for _, fn in kernels.values():
            fn()  # warm-up
        runs = {}
        for preset in args.models.split(","):
            for cl in (False, True):
                runs[(preset, cl)] = unet_forward(preset, dev, precision, cl)
        times: dict[object, list[float]] = {k: [] for k in [*kernels, *runs]}
        for _ in range(args.repeats):  # alternating, so drifts hit every entry alike
            for name, (_, fn) in kernels.items():
                times[name].append(_timed(fn, dev))
            for key, (_, fn) in runs.items():
                times[key].append(_timed(fn, dev))
        rate = {k: f / statistics.median(times[k]) for k, (f, _) in {**kernels, **runs}.items()}
        peak = max(rate[k] for k in kernels)
        print(f"\n{precision}: peak {peak / 1e9:.1f} GFLOP/s "
              + ", ".join(f"{k} {rate[k] / 1e9:.1f}" for k in kernels))  # fmt: skip
        print(f"{'model':<6} {'layout':<14} {'GFLOP/fwd':>10} {'ms/fwd':>8} {'GFLOP/s':>8} "
              f"{'of peak':>8}")  # fmt: skip
        for (preset, cl), (flops, _) in runs.items():
            ms = statistics.median(times[(preset, cl)]) * 1e3
            layout = "channels_last" if cl else "contiguous"
            print(
                f"{preset:<6} {layout:<14} {flops / 1e9:>10.2f} {ms:>8.1f} "
                f"{rate[(preset, cl)] / 1e9:>8.1f} {rate[(preset, cl)] / peak:>8.0%}"
            )


if __name__ == "__main__":
    main()

"""Training-step throughput of phendiff's UNet presets: fp32 vs bf16, and vs plain diffusers.

Each measurement runs in a fresh child process (so peak memory is its own); the methods
alternate, and the median of ``--repeats`` runs is reported, with ratios measured in this
one run. A phendiff step is ``phendiff.train.TrainStep``, the very object ``phendiff train``
calls per optimizer step: noise, timesteps and condition dropout drawn, the forward process
and v-target, forward under autocast, loss, backward, gradient clipping, AdamW, EMA update.
The "diffusers" step is the plain fp32 loop a diffusers user writes on the same UNet and
batch (forward, loss, backward, AdamW). The last line is
``train_speedup=<phendiff default / diffusers fp32>`` for the last model measured.

    python benchmarks/train_throughput.py                      # tiny and paper, on the CPU
    python benchmarks/train_throughput.py --models tiny --repeats 5

Peak memory is the child's peak resident set size minus its size before building the model
on the CPU, and ``torch.cuda.max_memory_allocated`` on a GPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

BATCH = {"tiny": 32, "small": 16, "paper": 4}
STEPS = {"tiny": 10, "small": 4, "paper": 2}


def child(model: str, precision: str, batch: int, steps: int, device: str) -> dict:
    import torch

    from phendiff.config import ModelConfig, TrainConfig
    from phendiff.model.unet import ConditionalUNet, count_parameters
    from phendiff.train import TrainStep

    rss0 = _rss_mb()
    torch.manual_seed(0)
    plain = precision == "diffusers"  # the plain fp32 loop: no autocast, clipping or EMA
    config = TrainConfig(
        model=ModelConfig.from_preset(model),
        batch_size=batch,
        precision="fp32" if plain else precision,
        steps=steps + 1,
    )
    m = config.model
    net = ConditionalUNet(m, num_conditions=13).to(device)
    ema = ConditionalUNet(m, num_conditions=13).to(device).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=config.learning_rate)
    device = torch.device(device)
    train_step = TrainStep(config, net, net, ema, opt, null_label=13, device=device)
    s = m.image_size
    x0 = torch.randn(batch, m.in_channels, s, s)
    labels = torch.randint(0, 13, (batch,))
    gen = torch.Generator().manual_seed(0)

    def step(k: int) -> None:
        if plain:
            noise = torch.randn(x0.shape, generator=gen).to(device)
            t = torch.randint(0, 1000, (batch,), generator=gen).to(device)
            out = net.unet(x0.to(device) + noise, t, labels.to(device)).sample
            torch.nn.functional.mse_loss(out, noise).backward()
            opt.step()
            opt.zero_grad()
            return
        train_step(x0, labels, gen, k, (k + 1) * batch)

    step(0)  # warm-up: allocator, kernels
    _sync(device)
    tic = time.perf_counter()
    for k in range(1, steps + 1):
        step(k)
    _sync(device)
    elapsed = time.perf_counter() - tic
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0
    return {
        "images_per_s": batch * steps / elapsed,
        "peak_mb": peak,
        "parameters": count_parameters(net),
    }


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def measure(model: str, precision: str, device: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        model,
        precision,
        str(BATCH[model]),
        str(STEPS[model]),
        device,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "paper"], choices=sorted(BATCH))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, precision, batch, steps, device = args.child
        print(json.dumps(child(model, precision, int(batch), int(steps), device)))
        return

    print(f"{'model':<6} {'params':>7} {'batch':>5} {'step':<9} {'img/s':>8} {'peak MiB':>9}")
    for model in args.models:
        runs: dict[str, list[dict]] = {"diffusers": [], "fp32": [], "bf16": []}
        for _ in range(args.repeats):
            for precision in runs:  # alternate, so drifts in machine load hit both alike
                runs[precision].append(measure(model, precision, args.device))
        med = {p: statistics.median(r["images_per_s"] for r in rs) for p, rs in runs.items()}
        for precision, rs in runs.items():
            print(
                f"{model:<6} {rs[0]['parameters'] / 1e6:>6.1f}M {BATCH[model]:>5} "
                f"{precision:<9} {med[precision]:>8.2f} "
                f"{max(r['peak_mb'] for r in rs):>9.0f}"
            )
        print(
            f"{model}: bf16/fp32 throughput ratio = {med['bf16'] / med['fp32']:.2f}, "
            f"phendiff (bf16) / plain diffusers fp32 = {med['bf16'] / med['diffusers']:.2f} "
            f"(median of {args.repeats}, device {args.device})"
        )
    print(f"train_speedup={med['bf16'] / med['diffusers']:.2f}")


if __name__ == "__main__":
    main()

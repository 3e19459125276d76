"""GPU-hours of run.sh on real BBBC021, estimated from counted FLOPs (no GPU needed).

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` on the ``meta`` device
(shapes only, nothing computed; convolutions and matrix products, 2 per multiply-add, as
``benchmarks/flops.py``): one training step of the preset (forward + backward at the crop
size and batch), and one network evaluation of a translation tile. Translation costs, per
field, ``tiles × evaluations_per_image`` evaluations (phendiff's own counts:
``phendiff.translate.core.evaluations_per_image`` and the tile layout of
``phendiff.translate.tiles``: a field above 1024² px is cut into 4 × image_size tiles
overlapping by image_size). Time = FLOPs / (peak × utilisation), both assumptions.

    python experiments/bbbc021/estimate.py [--steps 100000] [--batch 64] [--fields 1000] \
        [--peak-tflops 989] [--utilisation 0.3] [--cpu-step-seconds S --cpu-batch B]

``--cpu-step-seconds`` (a training step measured on this machine at ``--cpu-batch``) adds
the FLOP rate it implies and the CPU/GPU ratio.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from phendiff.config import FIXED_POINT, ModelConfig, TranslateOptions
from phendiff.model.unet import ConditionalUNet, count_parameters
from phendiff.translate.core import evaluations_per_image
from phendiff.translate.tiles import tile_layout

FIELD = (1024, 1280)  # BBBC021: Y, X px
MAX_PIXELS = TranslateOptions().max_pixels


def counted(net, batch: int, h: int, w: int, backward: bool) -> float:
    """FLOPs of one forward (and backward) of ``net`` on (batch, C, h, w), on meta tensors."""
    x = torch.randn(batch, net.config.in_channels, h, w, device="meta")
    t = torch.zeros(batch, dtype=torch.long, device="meta")
    y = torch.zeros(batch, dtype=torch.long, device="meta")
    counter = FlopCounterMode(display=False)
    with counter:
        out = net(x, t, y)
        if backward:
            out.float().square().mean().backward()
    return float(counter.get_total_flops())


def tiles(h: int, w: int, size: int) -> tuple[int, int]:
    """(number of tiles, tile side) phendiff translates a h × w field in."""
    layout = tile_layout(h, w, size, MAX_PIXELS)
    if layout is None:
        return 1, 0
    ys, xs, tile, _ = layout
    return len(ys) * len(xs), tile


def main(args) -> None:
    config = ModelConfig.from_preset(args.preset)
    with torch.device("meta"):
        net = ConditionalUNet(config, num_conditions=args.targets + 1)
    s = config.image_size
    step = counted(net, args.batch, s, s, backward=True)
    n_tiles, tile = tiles(*FIELD, s)
    side = (tile, tile) if n_tiles > 1 else FIELD
    per_eval = counted(net, 1, *side, backward=False)
    options = TranslateOptions(steps=args.translate_steps, fixed_point=args.fixed_point)
    evals = evaluations_per_image(options, args.targets)
    field = n_tiles * evals * per_eval
    rate = args.peak_tflops * 1e12 * args.utilisation
    train_h = args.steps * step / rate / 3600
    translate_h = args.fields * field / rate / 3600
    print(f"preset {args.preset}: {count_parameters(net) / 1e6:.1f} M parameters, {s} px crops")
    print(f"training step (batch {args.batch}, forward + backward): {step / 1e12:.2f} TFLOP "
          f"({step / args.batch / 1e9:.1f} GFLOP per crop)")  # fmt: skip
    print(f"translation: {FIELD[0]}x{FIELD[1]} field = {n_tiles} tiles of {side[0]}x{side[1]} px,"
          f" {per_eval / 1e12:.2f} TFLOP per tile evaluation, {evals} evaluations per tile "
          f"({args.translate_steps} steps, {args.fixed_point} refinements, {args.targets} "
          f"targets): {field / 1e15:.2f} PFLOP per field")  # fmt: skip
    print(f"assumed GPU: {args.peak_tflops:g} TFLOP/s peak x {args.utilisation:.0%} = "
          f"{rate / 1e12:.0f} TFLOP/s sustained")  # fmt: skip
    print(f"ESTIMATE training {args.steps} steps: {train_h:.2f} GPU-hours "
          f"({step / rate * 1e3:.0f} ms per step)")  # fmt: skip
    print(f"ESTIMATE translating {args.fields} fields: {translate_h:.2f} GPU-hours "
          f"({field / rate:.1f} s per field)")  # fmt: skip
    print(f"ESTIMATE total on the GPU: {train_h + translate_h:.2f} GPU-hours "
          "(evaluate's per-cell features run on the CPU, not included)")
    if args.cpu_step_seconds:
        cpu_step = counted(net, args.cpu_batch, s, s, backward=True)
        cpu_rate = cpu_step / args.cpu_step_seconds
        print(f"measured CPU step: {args.cpu_step_seconds:.1f} s at batch {args.cpu_batch} = "
              f"{cpu_rate / 1e9:.0f} GFLOP/s; the assumed GPU is "
              f"{rate / cpu_rate:.0f}x that")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--fields", type=int, default=1000)
    parser.add_argument("--targets", type=int, default=8, help="doses other than DMSO")
    parser.add_argument("--translate-steps", type=int, default=25)
    parser.add_argument("--fixed-point", type=int, default=FIXED_POINT)
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="dense bf16 peak (H100/H200 SXM: 989)")  # fmt: skip
    parser.add_argument("--utilisation", type=float, default=0.3)
    parser.add_argument("--cpu-step-seconds", type=float)
    parser.add_argument("--cpu-batch", type=int, default=4)
    main(parser.parse_args())

"""Train for a fixed wall-clock budget: a short timed probe sets the step count, then the run.

The learning-rate schedule (warm-up, cosine decay to zero) needs the number of steps up
front, so a budget in minutes is turned into steps by timing ``PROBE`` steps of the same
configuration first; the run then stops at that many steps, or at the deadline (with a
checkpoint, resumable with ``phendiff train ... --resume``) if the machine turns out slower.

    python experiments/synthetic_screen/train_for.py DATA RUN --minutes M [--model small]
        [--batch-size B] [--lr LR] [--precision auto] [--compounds A,B]
        [--loss-weighting uniform|min_snr|edm] [--edm-p-mean M] [--edm-p-std S]
        [--ema-halflife IMAGES] [--channels 32,64,64] [--layers-per-block N]
        [--scale-shift-norm] [--seed S]

The last seven compare training recipes at equal wall time (the fidelity issue's item 4):
``--channels`` and ``--layers-per-block`` override the preset's widths and depth,
``--scale-shift-norm`` lets the time and condition embedding scale the normalised features
of each residual block (``ModelConfig.scale_shift_norm``) instead of adding to them.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from phendiff.config import LOSS_WEIGHTINGS, ModelConfig, TrainConfig
from phendiff.train import train

PROBE = 30


def config_for(args: argparse.Namespace, steps: int, probe: bool = False) -> TrainConfig:
    """The run's configuration with ``steps`` optimizer steps (a probe samples only once)."""
    every = steps if probe else max(1, steps // 8)
    overrides = {}
    if args.channels:
        overrides["block_out_channels"] = tuple(int(c) for c in args.channels.split(","))
    if args.layers_per_block:
        overrides["layers_per_block"] = args.layers_per_block
    if args.scale_shift_norm:
        overrides["scale_shift_norm"] = True
    return dataclasses.replace(
        TrainConfig(),
        model=ModelConfig.from_preset(args.model, **overrides),
        loss_weighting=args.loss_weighting,
        edm_p_mean=args.edm_p_mean,
        edm_p_std=args.edm_p_std,
        ema_halflife_images=args.ema_halflife,
        seed=args.seed,
        steps=steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=min(200, max(1, steps // 10)),
        precision=args.precision,
        compounds=tuple(args.compounds.split(",")) if args.compounds else None,
        checkpoint_every=every,
        sample_every=every,
        log_every=max(1, min(50, steps // 100)),
        sample_steps=1 if probe else TrainConfig().sample_steps,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("run", type=Path)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--model", default="small", choices=["tiny", "small", "paper"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--compounds", help="train on these compounds only, e.g. DMSO,latrunculin")
    parser.add_argument("--loss-weighting", default=TrainConfig.loss_weighting,
                        choices=LOSS_WEIGHTINGS)  # fmt: skip
    parser.add_argument("--edm-p-mean", type=float, default=TrainConfig.edm_p_mean)
    parser.add_argument("--edm-p-std", type=float, default=TrainConfig.edm_p_std)
    parser.add_argument("--ema-halflife", type=float, default=TrainConfig.ema_halflife_images)
    parser.add_argument("--channels", help="UNet widths per level, e.g. 64,64,64")
    parser.add_argument("--layers-per-block", type=int)
    parser.add_argument("--scale-shift-norm", action="store_true",
                        help="the embedding scales and shifts normalised features (AdaGN)")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="training seed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times: list[float] = []
        probe = config_for(args, PROBE, probe=True)
        train(args.data, Path(tmp) / "probe", probe, progress=False,
              on_step=lambda s: times.append(time.perf_counter()))  # fmt: skip
    rate = (len(times) - 10) / (times[-1] - times[9])  # steps/s, the first 10 as warm-up
    steps = max(PROBE, int(0.95 * rate * args.minutes * 60))
    print(f"probe: {rate:.2f} steps/s -> {steps} steps for {args.minutes:g} min", flush=True)
    deadline = time.monotonic() + args.minutes * 60
    train(args.data, args.run, config_for(args, steps),
          on_step=lambda s: time.monotonic() > deadline)  # fmt: skip


if __name__ == "__main__":
    main()

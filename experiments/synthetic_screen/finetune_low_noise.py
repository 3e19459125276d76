"""Fine-tune a model on its low noise levels only: does it then draw pixel-scale texture?

Pixel-scale detail (herbimycin's chromatin texture) is decided in the last few hundred of the
1,000 noise levels, which uniform-t training visits a fifth of the time at most. This script
continues training a model (e.g. the shipped demo model) with timesteps drawn uniformly from
0 .. BELOW − 1 only, on freshly rendered synthetic fields of every condition the model knows,
with the project's own training step (:class:`phendiff.train.step.TrainStep`: v-MSE, bf16
autocast, gradient clipping, AdamW, EMA, condition dropout), for a fixed wall time, and
writes the EMA weights as a model folder that every phendiff command loads.

    python experiments/synthetic_screen/finetune_low_noise.py MODEL OUT --minutes M
        [--below 200] [--lr 1e-4] [--per-condition 512] [--batch-size 32]
        [--ema-halflife 4000]

Then ``texture_samplers.py OUT 32 ddim:25`` and ``from_noise.py OUT HELDOUT DRAWS``.
The higher levels are left as they were, so the layout a model draws (and cell loss) can
only change through the weights the levels share.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from phendiff.config import TrainConfig
from phendiff.data.synthetic import render_field
from phendiff.model.checkpoint import load_model, save_model
from phendiff.train.step import TrainStep


class LowNoiseStep(TrainStep):
    """The project's training step with t drawn uniformly below ``below`` only."""

    def __init__(self, *args, below: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.below = below

    def draw_timesteps(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randint(0, self.below, (n,), generator=gen)


def fields(model, per_condition: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Freshly rendered fields of every condition (normalised, float32) and their labels."""
    images, labels = [], []
    for label, condition in enumerate(tqdm(model.conditions, desc="rendering", unit="cond")):
        for i in range(per_condition):
            images.append(render_field(condition, np.random.default_rng([seed, label, i])))
            labels.append(label)
    x = torch.as_tensor(model.normalizer.normalize(np.stack(images)), dtype=torch.float32)
    return x, torch.tensor(labels)


def dihedral(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image flipped and rotated by one of the 8 symmetries of the square."""
    k = torch.randint(0, 8, (len(x),), generator=gen)
    out = x.clone()
    for s in range(8):
        sel = k == s
        if sel.any():
            y = torch.rot90(x[sel], s % 4, (2, 3))
            out[sel] = y.flip(3) if s >= 4 else y
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--below", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--per-condition", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--ema-halflife", type=float, default=4000.0)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    if args.out.exists():
        sys.exit(f"{args.out} exists; give a new folder (nothing is overwritten)")
    model = load_model(args.model)
    if not 0 < args.below <= model.config.num_train_timesteps:
        sys.exit(f"--below {args.below}; expected 1 .. {model.config.num_train_timesteps}")
    x, labels = fields(model, args.per_condition, args.seed)
    config = dataclasses.replace(
        TrainConfig(), model=model.config, batch_size=args.batch_size,
        learning_rate=args.lr, warmup_steps=20, steps=10**9,
        ema_halflife_images=args.ema_halflife, ema_rampup=0.0,
    )  # fmt: skip
    online = copy.deepcopy(model.network).float().train().requires_grad_(True)
    ema = copy.deepcopy(model.network).float().eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(online.parameters(), lr=args.lr, weight_decay=0.0)
    step = LowNoiseStep(config, online, online, ema, optimizer, model.conditions.null_label,
                        torch.device("cpu"), below=args.below)  # fmt: skip
    gen = torch.Generator().manual_seed(args.seed)
    deadline = time.monotonic() + args.minutes * 60
    bar = tqdm(desc=f"fine-tuning t < {args.below}", unit="step")
    n, losses = 0, []
    while time.monotonic() < deadline:
        idx = torch.randint(0, len(x), (args.batch_size,), generator=gen)
        losses.append(step(dihedral(x[idx], gen), labels[idx], gen, n, (n + 1) * args.batch_size))
        n += 1
        bar.update(1)
        if n % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
    bar.close()
    training = {**model.training, "fine_tune": {"below": args.below, "steps": n,
                "lr": args.lr, "minutes": args.minutes, "from": str(args.model)}}  # fmt: skip
    save_model(args.out, ema.state_dict(), model.config, model.conditions, model.normalizer,
               training)  # fmt: skip
    print(f"{n} steps (last 100 loss {np.mean(losses[-100:]):.4f}); wrote {args.out}")


if __name__ == "__main__":
    main()

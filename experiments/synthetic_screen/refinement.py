"""Does fixed-point refinement make plain DDIM inversion exact? Per model and Anderson memory.

Two DMSO fields (``render_field``, seeds [7, 0] and [7, 1], 64 px) are inverted by plain DDIM
(25 even steps, fp32) with k refinements per step and regenerated under DMSO, with no
residuals; the script prints their mean reconstruction MSE for k = 0, 2, 4, 8, 16, for each
model and each Anderson memory (0: plain fixed-point iteration). ``--per-step K`` prints
instead, for k = K, the miss ‖Φ(x_{t'}) − x‖ (RMS per pixel, mean of the two fields) that each
inversion step keeps: where the iteration stalls. Measuring a step's miss costs one more
network evaluation, made for this table only.

    python experiments/synthetic_screen/refinement.py MODEL [MODEL ...] [--memory 0 2]
                                                     [--per-step K]
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import torch

import phendiff.diffusion.ddim as ddim
from phendiff.conditions import Condition
from phendiff.config import TranslateOptions
from phendiff.data.synthetic import render_field
from phendiff.model.checkpoint import load_model
from phendiff.translate import translate

REFINEMENTS = (0, 2, 4, 8, 16)


def reconstruction_mse(model, fields, k: int) -> float:
    """Mean MSE of plain DDIM inversion refined k times, regenerated under DMSO."""
    options = TranslateOptions(
        steps=25, inversion="ddim", fixed_point=k, precision="fp32", spacing="even"
    )
    result = translate(model, fields, "DMSO", ["DMSO"], options)
    return float(np.mean([m["mse"] for m in result.metrics]))


def step_misses(model, fields, k: int, memory: int) -> list[tuple[int, int, float]]:
    """``(t, t', miss)`` of every inversion step refined k times (one more evaluation each)."""
    misses = []
    plain_refine = ddim.refine

    def logged(denoiser, x, x_next, t_cur, t_next, labels, iterations):
        out = plain_refine(denoiser, x, x_next, t_cur, t_next, labels, iterations, memory)
        eps, x0_pred = denoiser(out, t_next, labels)
        miss = ddim.ddim_step(x0_pred, eps, denoiser.alpha_bar_at(t_cur)) - x
        misses.append((t_cur, t_next, miss.flatten(1).pow(2).mean(1).sqrt().mean().item()))
        return out

    ddim.refine = logged
    try:
        reconstruction_mse(model, fields, k)
    finally:
        ddim.refine = plain_refine
    return misses


def main() -> None:
    """Print the table (or the per-step misses) for every model and memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--memory", type=int, nargs="+", default=[0, ddim.ANDERSON_MEMORY])
    parser.add_argument("--per-step", type=int, default=None, metavar="K")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    fields = [render_field(Condition("DMSO"), np.random.default_rng([7, i]), 64) for i in (0, 1)]
    if args.per_step is None:
        print("| model | memory | " + " | ".join(f"k = {k}" for k in REFINEMENTS) + " |")
        print("|---|---|" + "---|" * len(REFINEMENTS))
    for path in args.models:
        model = load_model(path)
        for memory in args.memory:
            if args.per_step is not None:
                print(f"{path}, memory {memory}, {args.per_step} refinements: miss per step")
                for t_cur, t_next, miss in step_misses(model, fields, args.per_step, memory):
                    print(f"  {t_cur:4d} -> {t_next:4d}  {miss:.1e}")
                continue
            original = ddim.refine
            ddim.refine = partial(original, memory=memory)
            try:
                row = [reconstruction_mse(model, fields, k) for k in REFINEMENTS]
            finally:
                ddim.refine = original
            cells = " | ".join(f"{v:.2e}" for v in row)
            print(f"| {path} | {memory} | {cells} |", flush=True)


if __name__ == "__main__":
    main()

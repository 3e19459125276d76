"""The optimisation loop of ``phendiff train``: one instance per process.

- every random draw of step ``s`` on rank ``r`` comes from a generator seeded by
  ``(seed, s, r)``, so a resumed run is identical to an uninterrupted one without saving RNG
  state, and a run does not depend on data-loader timing;
- the step itself (:class:`~phendiff.train.step.TrainStep`) sets the learning rate from the
  step count and the EMA decay from the images seen;
- the first Ctrl-C or SIGTERM finishes the current step, saves a checkpoint and stops; every
  process stops at the same step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import shlex
import signal
import time
from pathlib import Path

import numpy as np
import torch

from phendiff.conditions import ConditionTable
from phendiff.config import TrainConfig
from phendiff.data.dataset import TrainingImages
from phendiff.data.normalize import Normalizer
from phendiff.diffusion import ddim
from phendiff.diffusion.denoiser import Denoiser, network_callable
from phendiff.diffusion.forward import add_noise, training_target
from phendiff.diffusion.schedule import make_alpha_bar, steps_down, timestep_grid
from phendiff.errors import PhendiffError
from phendiff.model.checkpoint import save_model
from phendiff.train.checkpoints import checkpoint_path, publish
from phendiff.train.run_folder import TRAINING, save_training_state
from phendiff.train.step import TrainStep, learning_rate
from phendiff.translate.preview import save_grid

log = logging.getLogger(__name__)


@dataclasses.dataclass
class State:
    """Where a run is: optimizer steps taken, images seen, and whether it was asked to stop."""

    step: int = 0
    images_seen: int = 0
    stop_requested: bool = False
    signal: signal.Signals | None = None  # SIGINT (Ctrl-C) or SIGTERM, as opposed to on_step


class Stopped(KeyboardInterrupt):
    """Training stopped by a signal after saving a checkpoint (exit status 128 + signal).

    A :class:`KeyboardInterrupt`, so code that handles Ctrl-C handles SIGTERM alike.

    Attributes
    ----------
    signum : signal.Signals
        ``SIGINT`` (Ctrl-C) or ``SIGTERM`` (what a cluster scheduler sends).
    """

    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(signum.name)
        self.signum = signum


def _step_rng(seed: int, step: int, rank: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, step, rank]))


class TrainingLoop:
    """The optimisation loop and what it writes; one instance per process."""

    def __init__(
        self,
        config: TrainConfig,
        accelerator,
        network,
        ema,
        optimizer,
        images: TrainingImages,
        val_images: TrainingImages | None,
        table: ConditionTable,
        normalizer: Normalizer,
        out: Path,
        state: State,
        data: Path | None = None,
    ) -> None:
        self.config, self.accelerator = config, accelerator
        self.network, self.ema, self.optimizer = network, ema, optimizer
        self.images, self.val_images, self.table = images, val_images, table
        self.normalizer, self.out, self.state = normalizer, out, state
        self.data = data  # for the resume command in the stop message
        self.per_rank = config.batch_size // accelerator.num_processes
        online = accelerator.unwrap_model(network)
        self.step = TrainStep(
            config, network, online, ema, optimizer, table.null_label, accelerator.device
        )

    def run(self, progress: bool, on_step) -> None:
        """Step until ``config.steps`` or a stop request; log, sample and checkpoint on the way."""
        from tqdm.auto import tqdm

        config, acc, state = self.config, self.accelerator, self.state
        bar = tqdm(
            total=config.steps,
            initial=state.step,
            desc="training",
            unit="step",
            disable=not progress,
            dynamic_ncols=True,
        )
        losses: list[float] = []
        tic, images_at_tic = time.perf_counter(), state.images_seen
        while state.step < config.steps:
            losses.append(self.train_step())
            bar.update(1)
            if on_step is not None and on_step(state.step):
                state.stop_requested = True
            if state.step % config.log_every == 0 or state.step == config.steps:
                loss = acc.reduce(torch.tensor(np.mean(losses), device=acc.device), "mean").item()
                rate = (state.images_seen - images_at_tic) / (time.perf_counter() - tic)
                bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:.0f}")
                self.log_metrics(
                    loss=loss, lr=learning_rate(config, state.step - 1), images_per_s=rate
                )
                losses, tic, images_at_tic = [], time.perf_counter(), state.images_seen
            if self.stop_everywhere():
                bar.close()
                self.checkpoint()
                log.warning(
                    "stopped at step %d%s; checkpoint saved in %s (continue with "
                    "'phendiff train %s --out %s --resume')",
                    state.step,
                    f" by {state.signal.name}" if state.signal else "",
                    self.out / "model",
                    "DATA" if self.data is None else shlex.quote(str(self.data)),
                    shlex.quote(str(self.out)),
                )
                if state.signal is not None:
                    raise Stopped(state.signal)
                return
            if state.step % config.sample_every == 0 or state.step == config.steps:
                self.evaluate()
            if state.step % config.checkpoint_every == 0 or state.step == config.steps:
                self.checkpoint(final=state.step == config.steps)
        bar.close()

    def train_step(self) -> float:
        """Draw this step's batch (seeded by step and rank) and take one optimizer step."""
        config, acc, state = self.config, self.accelerator, self.state
        rng = _step_rng(config.seed, state.step, acc.process_index)
        x0, labels = self.images.sample(rng, self.per_rank, self.normalizer)
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        loss = self.step(x0, labels, gen, state.step, state.images_seen + config.batch_size)
        state.step += 1
        state.images_seen += config.batch_size
        return loss

    def stop_everywhere(self) -> bool:
        """True on every rank as soon as any rank was asked to stop (Ctrl-C hits them apart)."""
        flag = self.state.stop_requested
        if self.accelerator.num_processes > 1:
            t = torch.tensor([float(flag)], device=self.accelerator.device)
            flag = bool(self.accelerator.reduce(t, "sum").item() > 0)
        return flag

    def log_metrics(self, **values: float) -> None:
        """Append one row to ``metrics.jsonl`` (main process)."""
        if self.accelerator.is_main_process:
            row = {"step": self.state.step, "images_seen": self.state.images_seen, **values}
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    @torch.no_grad()
    def evaluate(self) -> None:
        """Validation loss of the EMA weights and a sample grid (main process only)."""
        if not self.accelerator.is_main_process:
            return
        values: dict[str, float] = {}
        if self.val_images is not None:
            values["val_loss"] = self.validation_loss()
        m = self.config.model
        n_col = 4
        gen = torch.Generator().manual_seed(self.config.seed)
        # the same noise in every row, so rows differ only by their condition
        noise = torch.randn((n_col, m.in_channels, m.image_size, m.image_size), generator=gen)
        noise = noise.repeat(len(self.table), 1, 1, 1)
        labels = torch.arange(len(self.table)).repeat_interleave(n_col)
        # the trajectory in float64 on the CPU, the EMA network where it lives
        denoiser = Denoiser(
            network_callable(self.ema), make_alpha_bar(**m.schedule_options), m.prediction
        )
        levels = timestep_grid(self.config.sample_steps, m.num_train_timesteps)
        samples = ddim.generate(denoiser, noise, labels, steps_down(levels)).numpy()
        rows = [list(samples[i * n_col : (i + 1) * n_col]) for i in range(len(self.table))]
        save_grid(
            self.out / "samples" / f"step_{self.state.step:07d}.png",
            rows,
            m.channel_names,
            row_labels=self.table.names,
        )
        if values:
            self.log_metrics(**values)

    def validation_loss(self) -> float:
        """Loss of the EMA weights on a fixed draw of validation images, noise and levels."""
        rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, 2**31]))
        x0, labels = self.val_images.sample(rng, 64, self.normalizer)
        gen = torch.Generator().manual_seed(self.config.seed)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, self.config.model.num_train_timesteps, (len(x0),), generator=gen)
        ab = self.step.alpha_bar.cpu()[t].view(-1, 1, 1, 1)
        x_t = add_noise(x0, noise, ab)
        target = training_target(x0, noise, ab, self.config.model.prediction)
        device = self.accelerator.device
        out = self.ema(x_t.to(device), t.to(device), labels.to(device)).float().cpu()
        return torch.nn.functional.mse_loss(out, target).item()

    def checkpoint(self, final: bool = False) -> None:
        """Save the model folder and resume state; at the end, check that all ranks agree."""
        acc = self.accelerator
        digests = None
        if final:  # every rank must hold the same weights; check it rather than assume it
            digests = acc.gather(_digest(acc.unwrap_model(self.network)).to(acc.device)).tolist()
        if acc.is_main_process:
            online = acc.unwrap_model(self.network)
            training = {
                "steps": self.state.step,
                "images_seen": self.state.images_seen,
                "processes": acc.num_processes,
            }
            if digests is not None:
                training["rank_digests"] = [f"{d & (2**64 - 1):016x}" for d in digests]

            def write_training_state(folder: Path) -> None:
                save_training_state(folder / TRAINING, online, self.optimizer, training)

            folder = save_model(
                checkpoint_path(self.out, self.state.step),
                self.ema.state_dict(),
                self.config.model,
                self.table,
                self.normalizer,
                training,
                extra=write_training_state,
            )
            publish(folder, self.out, self.config.keep_checkpoints)
            if digests is not None and len(set(digests)) > 1:
                raise PhendiffError(
                    f"processes ended with different weights ({digests}); the "
                    "distributed setup is broken — report this as a bug"
                )
        acc.wait_for_everyone()


def _digest(module: torch.nn.Module) -> torch.Tensor:
    """A 64-bit fingerprint of the weights as an int64 tensor (gatherable)."""
    h = hashlib.sha256()
    for name, p in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    return torch.tensor([int.from_bytes(h.digest()[:8], "little", signed=True)])


@contextlib.contextmanager
def signals_request_stop(state: State):
    """First Ctrl-C (SIGINT) or SIGTERM (what a scheduler sends): finish the current step,
    checkpoint and stop. A second one: stop at once."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = (signal.SIGINT, signal.SIGTERM)

    def handler(signum, frame):
        state.stop_requested = True
        state.signal = signal.Signals(signum)
        for s in caught:
            signal.signal(s, previous[s])
        log.warning(
            "%s: saving a checkpoint after this step (send it again to abort)",
            state.signal.name,
        )

    previous = {s: signal.signal(s, handler) for s in caught}
    try:
        yield
    finally:
        for s in caught:
            signal.signal(s, previous[s])

"""``phendiff baseline train``: train StarGAN, CycleGAN or PhenEx on a screen.

The same machinery as ``phendiff train``: the same data sources and normalisation, a global
batch split over processes under ``accelerate launch``, every random draw of step ``s`` on
rank ``r`` seeded by ``(seed, s, r)`` (a resumed run repeats an uninterrupted one), the first
Ctrl-C or SIGTERM finishing the step, saving and stopping. ``RUN/baseline.yaml`` holds the
resolved options, ``RUN/metrics.jsonl`` the losses, ``RUN/model/`` the newest model folder
(:mod:`phendiff.baselines.folder`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shlex
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from phendiff.baselines.config import RESUMABLE, BaselineConfig
from phendiff.baselines.folder import load_baseline, load_training_state, save_baseline
from phendiff.baselines.methods import METHOD_CLASSES, Method
from phendiff.config import dump_yaml, from_dict, to_dict
from phendiff.data.atomic import write_text
from phendiff.data.normalize import Normalizer
from phendiff.data.outputs import check_writable
from phendiff.errors import PhendiffError
from phendiff.model.unet import count_parameters
from phendiff.train.data import load_data
from phendiff.train.loop import State, Stopped, signals_request_stop
from phendiff.train.run_folder import trim_metrics

log = logging.getLogger(__name__)

RUN_CONFIG = "baseline.yaml"


def read_baseline_config(out: str | Path) -> BaselineConfig:
    """The saved options of the baseline run in ``out``."""
    import yaml

    path = Path(out) / RUN_CONFIG
    try:
        saved = yaml.safe_load(path.read_text())
        return from_dict(BaselineConfig, saved["baseline"], str(path))
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise PhendiffError(f"{path}: not a readable baseline run configuration ({exc})") from None


def _check_run_folder(out: Path, config: BaselineConfig, resume: bool) -> None:
    check_writable(out)
    saved = out / RUN_CONFIG
    if not resume:
        if saved.exists():
            raise PhendiffError(
                f"{out} already holds a baseline run; pass --resume to continue it, or choose "
                "another --out"
            )
        if out.exists() and any(out.iterdir()):
            raise PhendiffError(f"{out} exists and is not empty; choose a new --out folder")
        return
    if not saved.exists():
        raise PhendiffError(
            f"--resume: {out} holds no baseline run ({RUN_CONFIG} is missing); drop --resume"
        )
    before, now = to_dict(read_baseline_config(out)), to_dict(config)
    if now.get("channel_names") is None:  # not given: read from the data, as it was
        now["channel_names"] = before.get("channel_names")
    changed = sorted(k for k in now if k not in RESUMABLE and before.get(k) != now[k])
    if changed:
        raise PhendiffError(
            f"--resume: {out} was trained with different options ({', '.join(changed)}); only "
            f"{', '.join(sorted(RESUMABLE))} may change on resume"
        )


def _recover(out: Path) -> None:
    """A kill between the two renames of a folder swap leaves ``.model.old-*``: restore it."""
    if (out / "model").exists():
        return
    old = sorted(out.glob(".model.old-*"), key=os.path.getmtime)
    if old:
        os.replace(old[-1], out / "model")


def _grad_sync(accelerator) -> Callable[[torch.nn.Module], None]:
    if accelerator.num_processes == 1:
        return lambda module: None
    import torch.distributed as dist

    def sync(module: torch.nn.Module) -> None:
        for p in module.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= accelerator.num_processes

    return sync


def _digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's weights (identical across ranks iff the weights are)."""
    h = hashlib.sha256()
    for name, p in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def train_baseline(
    data: str | Path,
    out: str | Path,
    config: BaselineConfig,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int], bool | None] | None = None,
    device: str | None = None,
) -> Path:
    """Train (or resume) the baseline ``config.method`` on the screen at ``data``.

    Parameters
    ----------
    data : the screen (a folder per condition, a manifest, or BBBC021's image table).
    out : the run folder; new (or empty) unless ``resume``.
    config : the run's options (resolved here; for ``resume``, the saved ones).
    resume : continue from ``out/model``.
    progress : show a progress bar.
    on_step : ``on_step(step)`` after every step; True stops the run as Ctrl-C does.
    device : "cpu" to keep GPUs out; default the GPU when there is one.

    Returns
    -------
    pathlib.Path
        ``out/model``.

    Raises
    ------
    PhendiffError
        Bad input or a run folder that does not fit, before anything is written.
    Stopped
        After Ctrl-C or SIGTERM, once the model folder is saved.
    """
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    out, data = Path(out), Path(data)
    config = config.resolved()
    _check_run_folder(out, config, resume)
    accelerator = Accelerator(cpu=device == "cpu" or not torch.cuda.is_available())
    main, n_proc = accelerator.is_main_process, accelerator.num_processes
    if config.batch_size % n_proc:
        raise PhendiffError(
            f"batch_size={config.batch_size} is not divisible by {n_proc} processes; "
            "choose a multiple of the number of processes"
        )
    images, _, table, channels = load_data(data, config.data_config(), progress and main)
    config = dataclasses.replace(config, channel_names=channels)
    torch.manual_seed(config.seed)  # identical initial weights on every rank
    control = table.label(table.control_name) if table.control_name else None
    method: Method = METHOD_CLASSES[config.method](config, len(channels), len(table), control)
    method.per_rank = config.batch_size // n_proc
    method.sync = _grad_sync(accelerator)
    for mod in method.modules.values():
        mod.to(accelerator.device)
    for opt in method.optimizers.values():  # move any state made before .to()
        opt.load_state_dict(opt.state_dict())
    state = State()
    if resume:
        if main:
            _recover(out)
        accelerator.wait_for_everyone()
    if resume and (out / "model").exists():
        saved = load_baseline(out / "model")
        if saved.conditions != table:
            raise PhendiffError(
                f"--resume: the run's conditions ({', '.join(saved.conditions.names)}) differ "
                f"from the data's ({', '.join(table.names)})"
            )
        info = load_training_state(saved.path, method.modules, method.optimizers)
        normalizer = saved.normalizer
        state.step, state.images_seen = int(info["steps"]), int(info["images_seen"])
    else:
        normalizer = Normalizer.fit(images.images, percentiles=config.percentiles, seed=config.seed)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        from phendiff import __version__

        text = f"# written by phendiff {__version__}\n" + dump_yaml(
            {"data": str(data), "baseline": to_dict(config)}
        )
        write_text(out / RUN_CONFIG, text)
        trim_metrics(out / "metrics.jsonl", state.step)
        n_params = sum(count_parameters(m) for m in method.modules.values())
        log.info(
            "training %s (%d parameters) on %d images, %d conditions, %d process(es)",
            config.method, n_params, len(images), len(table), n_proc,
        )  # fmt: skip

    def draw(n: int, label: int | None = None):
        x, labels = images.sample(rng, n, normalizer, label)
        return x.to(accelerator.device), labels.to(accelerator.device)

    def checkpoint(final: bool = False) -> None:
        training = {"steps": state.step, "images_seen": state.images_seen, "processes": n_proc}
        if final:  # every rank must hold the same weights; check it rather than assume it
            digests = [_digest(m) for _, m in sorted(method.modules.items())]
            combined = hashlib.sha256("".join(digests).encode()).hexdigest()
            digest = torch.tensor([int(combined[:15], 16)], device=accelerator.device)
            found = accelerator.gather(digest).tolist()
            training["rank_digests"] = [f"{d:016x}" for d in found]
            if len(set(found)) > 1:
                raise PhendiffError(
                    f"processes ended with different weights ({found}); the distributed "
                    "setup is broken — report this as a bug"
                )
        if main:
            save_baseline(
                out / "model", config, channels, table, normalizer, method.exported(), training,
                method.modules, method.optimizers,
            )  # fmt: skip
        accelerator.wait_for_everyone()

    def stop_everywhere() -> bool:
        flag = state.stop_requested
        if n_proc > 1:
            t = torch.tensor([float(flag)], device=accelerator.device)
            flag = bool(accelerator.reduce(t, "sum").item() > 0)
        return flag

    bar = tqdm(total=config.steps, initial=state.step, desc=f"training {config.method}",
               unit="step", disable=not (progress and main), dynamic_ncols=True)  # fmt: skip
    logged: dict[str, list[float]] = {}
    with signals_request_stop(state):
        while state.step < config.steps:
            seq = np.random.SeedSequence([config.seed, state.step, accelerator.process_index])
            rng = np.random.default_rng(seq)
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            # draws made inside the networks (StyleGAN's per-layer noise) use the global
            # generator: seed it per step too, so a resumed run repeats a straight one
            torch.manual_seed(int(rng.integers(2**62)))
            method.set_learning_rate(state.step)
            for k, v in method.step(draw, gen, state.step).items():
                logged.setdefault(k, []).append(v)
            state.step += 1
            state.images_seen += config.batch_size
            bar.update(1)
            if on_step is not None and on_step(state.step):
                state.stop_requested = True
            if state.step % config.log_every == 0 or state.step == config.steps:
                row = {k: float(np.mean(v)) for k, v in logged.items()}
                bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k.endswith("loss")})
                if main:
                    with open(out / "metrics.jsonl", "a") as f:
                        f.write(json.dumps({"step": state.step, "images_seen": state.images_seen,
                                            **row}) + "\n")  # fmt: skip
                logged = {}
            if stop_everywhere():
                bar.close()
                checkpoint()
                log.warning(
                    "stopped at step %d; model saved in %s (continue with 'phendiff baseline "
                    "train %s %s --out %s --resume')", state.step, out / "model", config.method,
                    shlex.quote(str(data)), shlex.quote(str(out)),
                )  # fmt: skip
                if state.signal is not None:
                    raise Stopped(state.signal)
                return out / "model"
            if state.step % config.checkpoint_every == 0 or state.step == config.steps:
                checkpoint(final=state.step == config.steps)
    bar.close()
    if not (out / "model").exists():  # resumed at the end: nothing left to do
        checkpoint()
    return out / "model"

"""Checkpoints that survive any kill: SIGTERM, every kill point of the checkpoint swap,
damaged checkpoints, torn metrics, and a resume that never restarts from step 0 silently."""

import json
import os
import shlex
import shutil
import signal

import pytest
import torch
from safetensors.torch import load_file

from conftest import micro_config
from phendiff.errors import PhendiffError
from phendiff.model import checkpoint
from phendiff.model.checkpoint import load_model
from phendiff.train import Stopped, train
from phendiff.train.checkpoints import newest_checkpoint

CONFIG = micro_config(steps=6, checkpoint_every=2, keep_checkpoints=3)


def _weights(run):
    folder = run / "model"
    return [
        load_file(folder / "model.safetensors"),
        load_file(folder / "training" / "online.safetensors"),
        load_file(folder / "training" / "optimizer.safetensors"),
    ]


def _assert_same(a, b):
    for da, db in zip(_weights(a), _weights(b), strict=True):
        assert da.keys() == db.keys() and all(torch.equal(da[k], db[k]) for k in da)


@pytest.fixture(scope="module")
def reference(screen, tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    train(screen, run, CONFIG, progress=False)
    return run


def _stopped(screen, run, at=4):
    train(screen, run, CONFIG, progress=False, on_step=lambda step: step == at)
    return run


def _steps(run):
    return load_model(run).training["steps"]


def test_sigterm_saves_a_checkpoint_that_resumes_bit_identically(
    screen, tmp_path, reference, caplog
):
    run = tmp_path / "run"

    def terminate(step):
        if step == 3:  # what a cluster scheduler does at the end of a job's time
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as info:
        train(screen, run, CONFIG, progress=False, on_step=terminate)
    assert info.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is given back
    assert _steps(run) == 3
    # the message names the signal and the exact command that continues the run
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "stopped at step 3 by SIGTERM" in message
    command = f"phendiff train {shlex.quote(str(screen))} --out {shlex.quote(str(run))} --resume"
    assert f"'{command}'" in message
    train(screen, run, CONFIG, resume=True, progress=False)
    assert _steps(run) == 6
    _assert_same(run, reference)


def _kill_between_the_renames(run):
    # replace_folder moves model/ aside, then renames the new folder in: killed in between
    os.replace(run / "model", run / ".model.old-1a2b3c4d")


def _killed_during_the_first_write(run):
    (run / ".model.tmp-5e6f7a8b").mkdir()  # empty: the kill came before any file
    (run / "checkpoints" / ".step_0000006.tmp-9c0d1e2f").mkdir()


def _model_stale(run):
    shutil.rmtree(run / "model")
    shutil.copytree(run / "checkpoints" / "step_0000002", run / "model")


def _old_layout_between_the_renames(run):
    # a run from before numbered checkpoints: only model/, killed mid-swap
    shutil.rmtree(run / "checkpoints")
    _kill_between_the_renames(run)


def _newest_damaged(run):
    path = run / "checkpoints" / "step_0000004" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))  # model/ shares this file: it is damaged too


KILL_POINTS = {
    "between the two renames of the swap": (_kill_between_the_renames, 4),
    "during the first write": (_killed_during_the_first_write, 4),
    "numbered checkpoint written, model/ not yet": (_model_stale, 4),
    "old layout, between the renames": (_old_layout_between_the_renames, 4),
    "newest checkpoint damaged": (_newest_damaged, 2),
}


@pytest.mark.parametrize("state", list(KILL_POINTS))
def test_each_kill_point_resumes_from_the_newest_complete_checkpoint(
    state, screen, tmp_path, reference
):
    make, expected = KILL_POINTS[state]
    run = _stopped(screen, tmp_path / "run")
    make(run)
    resumed_from = []
    train(screen, run, CONFIG, resume=True, progress=False,
          on_step=lambda step: resumed_from.append(step))  # fmt: skip
    assert resumed_from[0] == expected + 1
    _assert_same(run, reference)
    leftovers = [p.name for p in (*run.iterdir(), *(run / "checkpoints").iterdir())]
    assert not [n for n in leftovers if ".tmp-" in n or ".old-" in n], leftovers


def test_metrics_without_a_checkpoint_are_never_restarted(screen, tmp_path):
    run = _stopped(screen, tmp_path / "run", at=1)
    shutil.rmtree(run / "model")
    shutil.rmtree(run / "checkpoints")
    before = (run / "metrics.jsonl").read_bytes()
    with pytest.raises(PhendiffError, match="metrics.jsonl .* but no complete checkpoint") as info:
        train(screen, run, CONFIG, resume=True, progress=False)
    assert "delete" in str(info.value) and "\n" not in str(info.value)
    assert (run / "metrics.jsonl").read_bytes() == before


def test_a_torn_last_metrics_line_is_dropped(screen, tmp_path, reference):
    run = _stopped(screen, tmp_path / "run")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "images_se')  # killed in the middle of a write
    train(screen, run, CONFIG, resume=True, progress=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5, 6]
    ref = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in rows if "loss" in r] == [r["loss"] for r in ref if "loss" in r]


def test_a_damaged_metrics_line_in_the_middle_is_an_error(screen, tmp_path):
    run = _stopped(screen, tmp_path / "run")
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")
    with pytest.raises(PhendiffError, match="line 2: not a metrics row"):
        train(screen, run, CONFIG, resume=True, progress=False)


def test_numbered_checkpoints_keep_the_newest(screen, tmp_path):
    config = micro_config(steps=8, checkpoint_every=2, keep_checkpoints=2)
    run = tmp_path / "run"
    train(screen, run, config, progress=False)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step_0000006",
        "step_0000008",
    ]
    for name in ("step_0000006", "step_0000008"):
        assert load_model(run / "checkpoints" / name).training["steps"] == int(name[5:])
    assert _steps(run) == 8
    newest = run / "checkpoints" / "step_0000008" / "model.safetensors"
    assert (run / "model" / "model.safetensors").read_bytes() == newest.read_bytes()


def test_resume_hashes_only_the_newest_complete_checkpoint(reference, monkeypatch):
    # weights can be gigabytes: finding the checkpoint to resume must not hash every one
    hashed = []
    real = checkpoint.file_sha256
    monkeypatch.setattr(checkpoint, "file_sha256", lambda path: hashed.append(path) or real(path))
    assert sorted(p.name for p in (reference / "checkpoints").iterdir()) == [
        "step_0000002", "step_0000004", "step_0000006"
    ]  # fmt: skip
    assert newest_checkpoint(reference) == (reference / "model", 6)
    assert hashed == [reference / "model" / "model.safetensors"]

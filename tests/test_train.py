import json
import logging
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import micro_config
from phendiff.config import TrainConfig
from phendiff.errors import PhendiffError
from phendiff.model.checkpoint import load_model
from phendiff.train import ema_decay, learning_rate, train


def weights(run):
    return (
        load_file(run / "model" / "model.safetensors"),
        load_file(run / "model" / "training" / "online.safetensors"),
        load_file(run / "model" / "training" / "optimizer.safetensors"),
    )


def assert_same(a, b):
    for da, db in zip(a, b, strict=True):
        assert da.keys() == db.keys()
        for k in da:
            assert torch.equal(da[k], db[k]), k


def test_learning_rate_schedule():
    config = TrainConfig(steps=110, warmup_steps=10, learning_rate=1.0)
    lrs = [learning_rate(config, s) for s in range(110)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[60] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


def test_ema_half_life_in_images():
    config = TrainConfig(batch_size=32, ema_halflife_images=3200, ema_rampup=0)
    beta = ema_decay(config, images_seen=10**6)
    # after half-life / batch steps the old weights count for one half
    assert beta ** (3200 / 32) == pytest.approx(0.5)
    ramp = TrainConfig(batch_size=32, ema_halflife_images=3200, ema_rampup=0.5)
    assert ema_decay(ramp, images_seen=64) == pytest.approx(0.5)  # half-life 32 images


def test_train_writes_a_run(screen, tmp_path, caplog):
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        model_dir = train(screen, run, micro_config(steps=4, sample_every=4), progress=False)
    assert "warm-up" not in caplog.text  # 2 warm-up steps of 4
    assert model_dir == run / "model"
    model = load_model(run)
    assert model.training["steps"] == 4 and model.training["images_seen"] == 16
    assert model.config.channel_names == ("DNA", "tubulin", "actin")  # from OME metadata
    assert model.conditions.names[0] == "DMSO" and len(model.conditions) == 13
    assert (run / "config.yaml").exists() and (run / "samples" / "step_0000004.png").exists()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]
    assert all(r["loss"] > 0 for r in rows if "loss" in r)
    assert any("val_loss" in r for r in rows)
    # EMA (exported) and online weights are different tensors
    ema, online, _ = weights(run)
    assert any(not torch.equal(ema[k], online[k]) for k in ema)


def test_warmup_as_long_as_the_run_is_warned(screen, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        train(screen, tmp_path / "r", micro_config(steps=2, warmup_steps=3), progress=False)
    assert "warmup_steps=3 >= steps=2" in caplog.text and "--warmup-steps" in caplog.text


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_interrupted_and_resumed_equals_uninterrupted(screen, tmp_path, precision):
    config = micro_config(steps=6, checkpoint_every=4, precision=precision)
    train(screen, tmp_path / "a", config, progress=False)
    # stop after step 3, as Ctrl-C does: checkpoint at the step boundary and return
    train(screen, tmp_path / "b", config, progress=False, on_step=lambda step: step == 3)
    assert load_model(tmp_path / "b").training["steps"] == 3
    train(screen, tmp_path / "b", config, resume=True, progress=False)
    assert load_model(tmp_path / "b").training["steps"] == 6
    assert_same(weights(tmp_path / "a"), weights(tmp_path / "b"))
    log = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in log]
    assert steps.count(3) == 1 and steps[-1] == 6


def test_resume_can_extend_but_not_change_the_run(screen, tmp_path):
    config = micro_config(steps=2)
    train(screen, tmp_path / "r", config, progress=False)
    with pytest.raises(PhendiffError, match="already holds a training run; pass --resume"):
        train(screen, tmp_path / "r", config, progress=False)
    with pytest.raises(PhendiffError, match=r"different options \(batch_size\)"):
        train(screen, tmp_path / "r", micro_config(steps=2, batch_size=8), resume=True)
    train(screen, tmp_path / "r", micro_config(steps=3), resume=True, progress=False)
    assert load_model(tmp_path / "r").training["steps"] == 3
    with pytest.raises(PhendiffError, match="holds no training run"):
        train(screen, tmp_path / "new", config, resume=True)


@pytest.mark.slow
def test_two_process_accelerate_run_ends_with_identical_weights(screen, tmp_path):
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    run = tmp_path / "ddp"
    # without GPUs, --multi_gpu launches CPU workers through torchrun (accelerate's --cpu flag
    # starts a single process unless it is given an MPI hostfile)
    cmd = [
        accelerate,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "phendiff",
        "train",
        str(screen),
        "--out",
        str(run),
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--image-size",
        "16",
        "--precision",
        "fp32",
        "-q",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((run / "model" / "training" / "state.json").read_text())
    assert state["processes"] == 2 and state["steps"] == 3
    assert len(state["rank_digests"]) == 2 and len(set(state["rank_digests"])) == 1


@pytest.mark.slow
@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_saves_a_checkpoint_that_resumes(screen, tmp_path, signum):
    import signal
    import time

    signum = getattr(signal, signum)
    run = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "phendiff",
        "train",
        str(screen),
        "--out",
        str(run),
        "--image-size",
        "16",
        "--batch-size",
        "4",
        "--precision",
        "fp32",
        "--log-every",
        "1",
        "-q",
    ]
    proc = subprocess.Popen([*args, "--steps", "100000"], stderr=subprocess.PIPE, text=True)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signum, err
    assert "checkpoint saved" in err and "--resume" in err and "Traceback" not in err
    assert f"stopped by {signum.name}" in err
    state = json.loads((run / "model" / "training" / "state.json").read_text())
    assert state["steps"] >= 2
    done = subprocess.run(
        [*args, "--resume", "--steps", str(state["steps"] + 2)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert load_model(run).training["steps"] == state["steps"] + 2

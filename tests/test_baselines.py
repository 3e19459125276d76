"""The GAN baselines (``phendiff baseline``): losses against closed forms, training behaviour
on data with a known answer, projection, resume, and every method's output through evaluate."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from phendiff.baselines.config import BaselineConfig
from phendiff.baselines.losses import classification_loss, gradient_penalty, r1_penalty
from phendiff.baselines.networks import ResnetGenerator, StyleGenerator
from phendiff.baselines.train import train_baseline
from phendiff.baselines.translate import BaselineTranslator, project
from phendiff.cli import main
from phendiff.data.io import read_image, write_tiff

TINY = {"width": 4, "blocks": 1, "z_dim": 8, "mapping_layers": 1, "image_size": 32,
        "batch_size": 4, "n_critic": 2, "class_mean_samples": 64, "log_every": 1}  # fmt: skip


def tiny(method: str, **overrides) -> BaselineConfig:
    return BaselineConfig(method=method, **{**TINY, **overrides})


def test_gradient_penalty_of_a_linear_critic_is_its_closed_form():
    # D(x) = <a, x> has gradient a everywhere: the penalty is (‖a‖ − 1)², whatever x̂ is
    a = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(0))
    real, fake = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8)
    penalty = gradient_penalty(lambda x: (x * a).flatten(1).sum(1), real, fake)
    assert penalty.item() == pytest.approx((a.norm().item() - 1) ** 2, rel=1e-5)


def test_gradient_penalty_of_a_quadratic_critic_uses_the_interpolates():
    # D(x) = ½‖x‖² has gradient x: the penalty is mean((‖x̂‖ − 1)²) at x̂ = εr + (1 − ε)f
    real, fake = torch.randn(6, 2, 4, 4), torch.randn(6, 2, 4, 4)
    penalty = gradient_penalty(lambda x: 0.5 * x.pow(2).flatten(1).sum(1), real, fake,
                               torch.Generator().manual_seed(3))  # fmt: skip
    eps = torch.rand((6, 1, 1, 1), generator=torch.Generator().manual_seed(3))
    x_hat = eps * real + (1 - eps) * fake
    expected = ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)


def test_r1_of_a_linear_critic_is_the_squared_weight_norm():
    a = torch.randn(2, 4, 4)
    r1 = r1_penalty(lambda x: (x * a).flatten(1).sum(1), torch.randn(3, 2, 4, 4))
    assert r1.item() == pytest.approx(a.pow(2).sum().item(), rel=1e-5)


def test_classification_loss_on_a_known_logit_table():
    # softmax of log([1, 3]) is (¼, ¾); of log([2, 2]) is (½, ½)
    logits = torch.log(torch.tensor([[1.0, 3.0], [2.0, 2.0]]))
    loss = classification_loss(logits, torch.tensor([1, 0]))
    assert loss.item() == pytest.approx((-math.log(0.75) - math.log(0.5)) / 2, rel=1e-6)


def test_stargan_generator_keeps_any_input_shape():
    G = ResnetGenerator(3, width=4, blocks=1, n_labels=5)
    y = G(torch.randn(2, 3, 34, 38), torch.tensor([0, 4]))
    assert y.shape == (2, 3, 34, 38) and torch.isfinite(y).all()


def test_phenex_projection_recovers_the_latent_that_made_an_image():
    torch.manual_seed(0)
    G = StyleGenerator(2, 16, n_labels=2, z_dim=8, w_dim=8, width=4, mapping_layers=1)
    with torch.no_grad():
        w_true = G.map(torch.randn(2, 8), torch.tensor([0, 1]))
        images = G.synthesize(w_true, "const")
    start = w_true + 0.5 * torch.randn_like(w_true)
    w = project(G, images, start, "w", steps=300, lr=0.05)
    error = ((w - w_true).norm(dim=1) / w_true.norm(dim=1)).max().item()
    assert error < 0.01, error
    wp = project(G, images, start, "w+", steps=300, lr=0.05)
    assert wp.shape == (2, G.num_ws, 8)
    fit = (G.synthesize(wp, "const") - images).pow(2).mean() / images.pow(2).mean()
    assert fit.item() < 1e-3


@pytest.fixture(scope="module")
def twin_screen(screen, tmp_path_factory):
    """DMSO and an exact copy of it as a second condition: two identical domains."""
    root = tmp_path_factory.mktemp("twin") / "screen"
    shutil.copytree(screen / "DMSO", root / "DMSO")
    shutil.copytree(screen / "DMSO", root / "twin@1")
    return root


def test_cyclegan_on_identical_domains_keeps_the_identity_loss_falling(twin_screen, tmp_path):
    config = tiny("cyclegan", steps=30, width=8, learning_rate=1e-3)
    train_baseline(twin_screen, tmp_path / "run", config, progress=False, device="cpu")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    identity = np.array([r["identity"] for r in rows])
    assert len(identity) == 30
    first, last = identity[:5].mean(), identity[-5:].mean()
    assert last < 0.6 * first, (first, last)


@pytest.mark.parametrize("method", ["stargan", "phenex"])
def test_a_stopped_and_resumed_run_equals_one_straight_run(screen, tmp_path, method):
    from phendiff.baselines.folder import load_baseline

    config = tiny(method, steps=4, compounds=("DMSO", "latrunculin"))
    train_baseline(screen, tmp_path / "straight", config, progress=False, device="cpu")
    train_baseline(screen, tmp_path / "split", config, progress=False, device="cpu",
                   on_step=lambda step: step == 2)  # fmt: skip
    assert load_baseline(tmp_path / "split").training["steps"] == 2
    train_baseline(screen, tmp_path / "split", config, resume=True, progress=False, device="cpu")
    a, b = load_baseline(tmp_path / "straight"), load_baseline(tmp_path / "split")
    assert a.training["steps"] == b.training["steps"] == 4
    assert a.weights.keys() == b.weights.keys()
    for name in a.weights:
        assert torch.equal(a.weights[name], b.weights[name]), name


@pytest.fixture(scope="module")
def runs(screen, tmp_path_factory):
    """One tiny trained run per method (DMSO and latrunculin only)."""
    root = tmp_path_factory.mktemp("baselines")
    out = {}
    for method in ("stargan", "cyclegan", "phenex"):
        config = tiny(method, steps=2, compounds=("DMSO", "latrunculin"))
        train_baseline(screen, root / method, config, progress=False, device="cpu")
        out[method] = root / method
    return out


@pytest.mark.parametrize("method,latent", [("stargan", "w"), ("cyclegan", "w"),
                                           ("phenex", "w"), ("phenex", "w+")])  # fmt: skip
def test_every_baseline_translation_passes_through_evaluate(
    method, latent, runs, screen, tmp_path, capsys
):
    out = tmp_path / "translated"
    main(["baseline", "translate", str(runs[method]), str(screen / "DMSO"), "--target",
          "latrunculin@all", "--out", str(out), "--latent", latent, "--projection-steps", "5",
          "-q", "--device", "cpu"])  # fmt: skip
    index = (out / "translations.csv").read_text().splitlines()
    header = index[0].split(",")
    assert {"recon_l2", "recon_mse", "reconstruction"} <= set(header), header
    doses = [p for p in screen.iterdir() if p.name.startswith("latrunculin@")]
    assert len(index) == 1 + 4 * len(doses)  # 4 DMSO fields, one row per dose
    row = index[1].split(",")
    source = read_image(row[header.index("input")])
    translated = read_image(out / row[header.index("translated")])
    assert translated.shape == source.shape and translated.dtype == source.dtype
    report = tmp_path / "report"
    main(["evaluate", "--real", str(screen), "--translated", str(out), "--out", str(report),
          "--fid-weights", "random", "--features", "basic", "-q"])  # fmt: skip
    fid = list(csv.DictReader((report / "tables" / "fid_kid.csv").open()))
    assert {r["condition"] for r in fid} == {f"latrunculin@{p.name.split('@')[1]}" for p in doses}
    assert all(np.isfinite(float(r["fid_translated"])) for r in fid)
    recon = list(csv.DictReader((report / "tables" / "reconstruction.csv").open()))
    assert len(recon) == 4


def test_baseline_reconstruction_is_its_translation_to_the_source(runs, screen, tmp_path):
    # a GAN's reconstruction is G(x, source): the DMSO target and the reconstruction agree,
    # and the index's L2 is that of the written image against the input, normalised
    out = tmp_path / "t"
    main(["baseline", "translate", str(runs["stargan"]), str(screen / "DMSO"), "--target",
          "DMSO", "--out", str(out), "-q", "--device", "cpu"])  # fmt: skip
    row = next(csv.DictReader((out / "translations.csv").open()))
    translated = read_image(out / row["translated"])
    np.testing.assert_array_equal(translated, read_image(out / row["reconstruction"]))
    normalizer = BaselineTranslator(runs["stargan"], device="cpu").normalizer
    x = normalizer.normalize(read_image(row["input"]).astype(np.float32))
    y = normalizer.normalize(translated.astype(np.float32))
    expected = float(np.sqrt(((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2).sum()))
    assert float(row["recon_l2"]) == pytest.approx(expected, rel=0.05)


def test_bad_baseline_input_gets_one_line(runs, screen, micro_model_dir, tmp_path, capsys):
    def error(args):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code != 0
        message = capsys.readouterr().err.strip()
        assert "Traceback" not in message and len(message.splitlines()) == 1, message
        return message

    translate = ["baseline", "translate", "--out", str(tmp_path / "o"), "--target", "DMSO"]
    message = error([*translate, str(micro_model_dir), str(screen / "DMSO")])
    assert "diffusion model" in message and "phendiff translate" in message
    message = error([*translate, str(runs["stargan"]), str(screen / "DMSO"), "--target", "nope"])
    assert "nope" in message
    no_control = tmp_path / "nocontrol"
    shutil.copytree(screen / "latrunculin@1", no_control / "latrunculin@1")
    shutil.copytree(screen / "latrunculin@3", no_control / "latrunculin@3")
    message = error(["baseline", "train", "cyclegan", str(no_control), "--out",
                     str(tmp_path / "c"), "--steps", "1", "-q"])  # fmt: skip
    assert "control" in message
    message = error(["baseline", "train", "phenex", str(screen), "--out", str(tmp_path / "p"),
                     "--image-size", "48"])  # fmt: skip
    assert "power of 2" in message and "48" in message
    assert not (tmp_path / "p").exists() and not (tmp_path / "c").exists()
    message = error(["baseline", "train", "cyclegan", str(screen), "--out", str(runs["stargan"]),
                     "--resume"])  # fmt: skip
    assert "stargan" in message


def test_translating_never_touches_inputs(runs, screen, tmp_path):
    src = tmp_path / "in"
    shutil.copytree(screen / "DMSO", src)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    main(["baseline", "translate", str(runs["cyclegan"]), str(src), "--source", "DMSO",
          "--target", "latrunculin@3", "--out", str(tmp_path / "o"), "-q", "--device", "cpu"])
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    image = read_image(next(src.iterdir()))
    odd = np.pad(image, ((0, 0), (0, 2), (0, 6)), mode="reflect")  # 34 × 38: tiled, not refused
    write_tiff(tmp_path / "odd.tif", odd)
    main(["baseline", "translate", str(runs["stargan"]), str(tmp_path / "odd.tif"), "--source",
          "DMSO", "--target", "latrunculin@3", "--out", str(tmp_path / "o2"), "-q"])
    row = next(csv.DictReader((tmp_path / "o2" / "translations.csv").open()))
    out = read_image(tmp_path / "o2" / row["translated"])
    assert out.shape == odd.shape


@pytest.mark.slow
def test_two_process_baseline_run_ends_with_identical_weights(screen, tmp_path):
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    run = tmp_path / "ddp"
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "phendiff", "baseline",
           "train", "stargan", str(screen), "--out", str(run), "--steps", "2", "--batch-size",
           "4", "--image-size", "32", "--compounds", "DMSO,latrunculin", "-q"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    from phendiff.baselines.folder import load_baseline

    training = load_baseline(run).training
    assert training["processes"] == 2 and training["steps"] == 2
    assert len(training["rank_digests"]) == 2 and len(set(training["rank_digests"])) == 1

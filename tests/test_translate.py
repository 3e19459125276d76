"""Translation of real images: the API, the files it writes, the CLI and the demo."""

import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from phendiff.cli import main
from phendiff.conditions import Condition
from phendiff.data.sources import load_source
from phendiff.errors import PhendiffError
from phendiff.model.checkpoint import load_model
from phendiff.translate import TranslateOptions, translate


@pytest.fixture(scope="module")
def model(micro_model_dir):
    return load_model(micro_model_dir)


@pytest.fixture(scope="module")
def dmso(screen):
    return [r.load() for r in load_source(screen) if not r.condition.dosed][:3]


FAST = TranslateOptions(steps=4, batch_size=2)


def test_shapes_dtypes_and_dose_series(model, dmso):
    result = translate(model, dmso, "DMSO", ["latrunculin@all", "nocodazole@3"], FAST)
    assert [t.name for t in result.targets] == [
        "latrunculin@0.1",
        "latrunculin@0.3",
        "latrunculin@1",
        "latrunculin@3",
        "nocodazole@3",
    ]
    assert len(result.translated) == 3
    assert result.translated[0].shape == (5, 3, 32, 32)
    assert result.translated[0].dtype == np.uint16 == result.reconstruction[0].dtype
    assert all(r == Condition("DMSO") for r in result.sources)


def test_exact_reconstruction_and_determinism(model, dmso):
    exact = translate(model, dmso, "DMSO", ["DMSO", "herbimycin@3"], FAST)
    for image, recon, out in zip(dmso, exact.reconstruction, exact.translated, strict=True):
        np.testing.assert_array_equal(recon, image)  # exact to round-off: same uint16 values
        np.testing.assert_array_equal(out[0], image)  # target == source: the reconstruction
    assert max(m["mse"] for m in exact.metrics) < 1e-20
    again = translate(model, dmso, "DMSO", ["DMSO", "herbimycin@3"], FAST)
    for a, b in zip(exact.translated, again.translated, strict=True):
        np.testing.assert_array_equal(a, b)
    plain = translate(model, dmso, "DMSO", ["DMSO"], TranslateOptions(steps=4, inversion="ddim"))
    assert min(m["mse"] for m in plain.metrics) > 1e-4  # the paper's inversion is not exact


def test_targets_batched_together_match_one_at_a_time(model, dmso):
    # targets generated side by side in one network batch give what one at a time gives;
    # fp32, because bf16 kernels round differently for other batch shapes and this untrained
    # network amplifies any difference
    targets = ["DMSO", "herbimycin@3", "nocodazole@1", "latrunculin@0.3"]
    for inversion in ("exact", "bdia", "ddim"):
        options = TranslateOptions(steps=4, inversion=inversion, precision="fp32")
        together = translate(model, dmso, "DMSO", targets, options)
        alone = translate(
            model, dmso, "DMSO", targets,
            TranslateOptions(steps=4, inversion=inversion, precision="fp32", network_batch=1),
        )  # fmt: skip
        for a, b in zip(together.translated, alone.translated, strict=True):
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=0, atol=2)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_translations_do_not_depend_on_the_batch_size(model, dmso, precision):
    # every network call has network_batch samples (the last one padded), so an image's
    # translation is the same alone, in a partial batch, or split over two network calls
    targets = ["herbimycin@3", "latrunculin@3"]
    runs = [
        translate(model, dmso, "DMSO", targets, TranslateOptions(
            steps=4, batch_size=b, network_batch=4, precision=precision))
        for b in (1, 2, 3)
    ]  # fmt: skip
    for run in runs[1:]:
        for a, b in zip(runs[0].translated, run.translated, strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_condition_the_network_cannot_tell_apart_translates_to_the_input(micro_model_dir, dmso):
    # give herbimycin@0.1 DMSO's class embedding: the network is then the same function under
    # both labels, so a translation must return the input (the reconstruction) to round-off
    # with either exact scheme, keeping its texture exactly; plain DDIM cannot
    import torch

    model = load_model(micro_model_dir)
    embedding = model.network.unet.class_embedding.weight
    with torch.no_grad():
        embedding[model.conditions.label("herbimycin@0.1")] = embedding[
            model.conditions.label("DMSO")
        ]
    images = np.stack(dmso[:2]).astype(np.float32)
    for inversion, exact in (("exact", True), ("bdia", True), ("ddim", False)):
        options = TranslateOptions(steps=6, inversion=inversion, precision="fp64")
        out = translate(model, images, "DMSO", ["herbimycin@0.1", "latrunculin@3"], options)
        same, other = np.stack(out.translated)[:, 0], np.stack(out.translated)[:, 1]
        error = np.abs(same - images).max() / np.ptp(images)
        assert (error < 1e-9) if exact else (error > 1e-4), (inversion, error)
        assert np.array_equal(same, np.stack(out.reconstruction)), inversion
        assert np.abs(other - images).max() / np.ptp(images) > 1e-3, inversion


def test_auto_precision_is_bf16_on_the_cpu():
    import torch

    from phendiff.diffusion.denoiser import resolve_precision

    assert resolve_precision("auto", torch.device("cpu")) == "bf16"
    assert resolve_precision("fp64", torch.device("cpu")) == "fp64"
    with pytest.raises(PhendiffError, match="expected one of auto, fp32, bf16, fp64"):
        TranslateOptions(precision="fp16")


def test_channels_last_layout_computes_the_same_and_leaves_the_model_alone(model, dmso):
    import torch

    from phendiff.diffusion.denoiser import network_callable

    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 3, 32, 32)))
    t, labels = torch.tensor([999, 500]), torch.tensor([0, 3])
    outs = {}
    for fmt in (torch.contiguous_format, torch.channels_last):
        outs[fmt] = network_callable(model.network, "fp32", memory_format=fmt)(x, t, labels)
        assert outs[fmt].dtype == torch.float64 and outs[fmt].is_contiguous()
    scale = outs[torch.contiguous_format].abs().max()
    torch.testing.assert_close(outs[torch.channels_last], outs[torch.contiguous_format],
                               rtol=0, atol=1e-5 * float(scale))  # fmt: skip
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    translate(model, dmso[:1], "DMSO", ["DMSO"], TranslateOptions(steps=4, precision="fp64"))
    for name, value in model.network.state_dict().items():  # converted copies, never in place
        assert value.dtype == torch.float32 and value.is_contiguous(), name
        assert torch.equal(value, before[name]), name


def test_float_images_and_bf16_keep_exactness(model, dmso):
    images = [im.astype(np.float32) for im in dmso[:1]]
    result = translate(model, images, "DMSO", ["DMSO"], TranslateOptions(steps=4, precision="bf16"))
    assert result.reconstruction[0].dtype == np.float32
    np.testing.assert_allclose(result.reconstruction[0], images[0], rtol=0, atol=1e-6)


def test_larger_images_whole_and_tiled(model, dmso):
    big = np.concatenate([np.concatenate([dmso[0], dmso[1]], 2)] * 2, 1)[:, :60, :52]
    whole = translate(model, [big], "DMSO", ["DMSO", "nocodazole@3"], FAST)
    assert whole.translated[0].shape == (2, 3, 60, 52)
    np.testing.assert_array_equal(whole.reconstruction[0], big)  # padded, then cropped
    tiled = translate(
        model, [big], "DMSO", ["nocodazole@3"], TranslateOptions(steps=4, max_pixels=32 * 32)
    )
    np.testing.assert_array_equal(tiled.reconstruction[0], big)  # exact tile by tile
    assert tiled.translated[0].shape == (1, 3, 60, 52)


def test_bad_input(model, dmso):
    with pytest.raises(PhendiffError, match="known conditions: DMSO, herbimycin@0.1"):
        translate(model, dmso, "DMSO", ["taxol@1"], FAST)
    with pytest.raises(PhendiffError, match="known compounds"):
        translate(model, dmso, "DMSO", ["taxol@all"], FAST)
    with pytest.raises(PhendiffError, match="not known to this model"):
        translate(model, dmso, "nocodazole@7", ["DMSO"], FAST)
    with pytest.raises(PhendiffError, match="2 channels; the model expects 3"):
        translate(model, [dmso[0][:2]], "DMSO", ["DMSO"], FAST)
    with pytest.raises(PhendiffError, match="smaller than the model"):
        translate(model, [dmso[0][:, :8, :8]], "DMSO", ["DMSO"], FAST)
    with pytest.raises(PhendiffError, match="steps=0"):
        TranslateOptions(steps=0)


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr().err.strip()


def test_cli_translate_to_own_condition_returns_the_input(micro_model_dir, screen, tmp_path):
    files = sorted((screen / "DMSO").glob("*.tif"))[:2]
    out = tmp_path / "out"
    main(
        [
            "translate",
            str(micro_model_dir),
            *map(str, files),
            "--source",
            "DMSO",
            "--target",
            "DMSO",
            "--out",
            str(out),
            "--steps",
            "5",
            "-q",
        ]
    )
    rows = list(csv.DictReader(open(out / "translations.csv")))
    assert len(rows) == 2 and {r["target"] for r in rows} == {"DMSO"}
    for row, path in zip(rows, files, strict=True):
        original = tifffile.imread(path).astype(np.float64)
        written = tifffile.imread(out / row["translated"])
        assert written.dtype == np.uint16 and written.shape == original.shape
        span = original.max() - original.min()
        assert np.abs(written - original).max() <= 1e-3 * span


@pytest.mark.slow
def test_cli_smoke_on_the_synthetic_screen(micro_model_dir, screen, tmp_path, capsys):
    out = tmp_path / "out"
    main(
        [
            "translate",
            str(micro_model_dir),
            str(screen),
            "--target",
            "nocodazole@all",
            "--target",
            "DMSO",
            "--out",
            str(out),
            "--steps",
            "3",
            "--batch-size",
            "16",
            "-q",
        ]
    )
    rows = list(csv.DictReader(open(out / "translations.csv")))
    n_images = len(load_source(screen))
    assert len(rows) == 5 * n_images
    assert {r["source"] for r in rows} == {c.name for c in load_model(micro_model_dir).conditions}
    first = out / rows[0]["id"]
    for name in (
        "input.png",
        "reconstruction.tif",
        "differences.png",
        "dose_series.png",
        "dose_series_differences.png",
        "nocodazole@1.tif",
        "nocodazole@1.png",
        "nocodazole@1_diff.tif",
    ):
        assert (first / name).is_file(), name
    diff = tifffile.imread(first / "nocodazole@1_diff.tif")
    assert diff.dtype == np.float32
    assert (out / "translate.json").is_file()
    # never overwrite without --overwrite
    code, err = run_cli(
        [
            "translate",
            str(micro_model_dir),
            str(screen),
            "--target",
            "DMSO",
            "--out",
            str(out),
            "-q",
        ],
        capsys,
    )
    assert code == 2 and "--overwrite" in err


def test_cli_bad_input(micro_model_dir, screen, tmp_path, capsys):
    files = [str(p) for p in sorted((screen / "DMSO").glob("*.tif"))[:1]]
    base = ["translate", str(micro_model_dir), *files, "--out", str(tmp_path / "o"), "-q"]
    cases = [
        ([*base, "--target", "DMSO"], "source condition of this image is unknown"),
        ([*base, "--source", "DMSO", "--target", "taxol@1"], "known conditions"),
        ([*base, "--source", "nocodazole@0.3", "--target", "DMSO"], None),  # fine: loose file
        ([*base, "--source", "DMSO", "--target", "DMSO", "--steps", "0"], "steps=0"),
    ]
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00 not a tiff")
    cases.append(
        (
            [
                "translate",
                str(micro_model_dir),
                str(bad),
                "--source",
                "DMSO",
                "--target",
                "DMSO",
                "--out",
                str(tmp_path / "o2"),
                "-q",
            ],
            "bad.tif",
        )
    )
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.ones((3, 8, 8), np.uint16), photometric="minisblack")
    cases.append(
        (
            [
                "translate",
                str(micro_model_dir),
                str(small),
                "--source",
                "DMSO",
                "--target",
                "DMSO",
                "--out",
                str(tmp_path / "o3"),
                "-q",
            ],
            "smaller",
        )
    )
    two = tmp_path / "two.tif"
    tifffile.imwrite(two, np.ones((2, 32, 32), np.uint16), photometric="minisblack")
    cases.append(
        (
            [
                "translate",
                str(micro_model_dir),
                str(two),
                "--source",
                "DMSO",
                "--target",
                "DMSO",
                "--out",
                str(tmp_path / "o4"),
                "-q",
            ],
            "expects 3",
        )
    )
    for args, needle in cases:
        if needle is None:
            main(args)
            shutil.rmtree(tmp_path / "o")
            continue
        code, err = run_cli(args, capsys)
        assert code == 2 and needle in err and len(err.splitlines()) == 1, (args, err)


@pytest.mark.slow
def test_sharded_across_two_processes_matches_one(micro_model_dir, screen, tmp_path):
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    args = [
        "-m",
        "phendiff",
        "translate",
        str(micro_model_dir),
        str(screen / "DMSO"),
        str(screen / "latrunculin@3"),
        "--source",
        "DMSO",
        "--target",
        "herbimycin@3",
        "--steps",
        "3",
        "--precision",
        "fp32",  # bf16 rounding depends on the batch shape, and shards have other shapes
        "-q",
    ]
    # the latrunculin folder with --source DMSO: loose files take the given source
    one = subprocess.run(
        [sys.executable, *args, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
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
            *args,
            "--out",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    rows_one = list(csv.DictReader(open(tmp_path / "one" / "translations.csv")))
    rows_two = list(csv.DictReader(open(tmp_path / "two" / "translations.csv")))
    assert [r["id"] for r in rows_one] == [r["id"] for r in rows_two] and len(rows_one) == 8
    for r in rows_one:
        a = tifffile.imread(tmp_path / "one" / r["translated"]).astype(int)
        b = tifffile.imread(tmp_path / "two" / r["translated"]).astype(int)
        # other batch layouts and thread counts: float32 round-off of the network, which the
        # 1/√ᾱ of the noisiest step amplifies to a few camera units on this untrained model
        assert np.abs(a - b).max() <= 1e-3 * a.max()


@pytest.mark.slow
def test_demo_writes_a_page(tmp_path, capsys):
    out = tmp_path / "demo"
    main(["demo", "--out", str(out), "--images", "1", "--steps", "3", "-q"])
    page = (out / "index.html").read_text()
    assert "dose_series.png" in page and "latrunculin@3" in page
    for src in [s.split("'")[0] for s in page.split("<img src='")[1:]]:
        assert (out / src).is_file(), src
    assert "open" in capsys.readouterr().out
    code, err = run_cli(["demo", "--out", str(out), "-q"], capsys)
    assert code == 2 and "--overwrite" in err


def test_fixed_point_defaults_and_errors():
    from phendiff.config import FIXED_POINT

    assert TranslateOptions().refinements == FIXED_POINT > 0  # exact inversion is refined
    assert TranslateOptions(inversion="ddim").refinements == 0  # the paper's plain inversion
    assert TranslateOptions(inversion="ddim", fixed_point=3).refinements == 3
    assert TranslateOptions(fixed_point=0).refinements == 0
    with pytest.raises(PhendiffError, match="fixed_point=-1; expected >= 0"):
        TranslateOptions(fixed_point=-1)
    with pytest.raises(PhendiffError, match="with bdia inversion"):
        TranslateOptions(inversion="bdia", fixed_point=2)


def test_translate_refines_every_inversion_step(model, dmso):
    # network evaluations of one translation to one other target, 4 steps, K refinements:
    # inversion 4 (1 + K), residual pass 4, reconstruction 4, the target 4
    from dataclasses import replace

    from phendiff.translate import model_denoiser

    base = model_denoiser(model, "fp32")
    calls = []

    def counting(x, t, labels):
        calls.append(int(t[0]))
        return base.network(x, t, labels)

    spy = replace(base, network=counting)
    for k in (0, 3):
        calls.clear()
        options = TranslateOptions(steps=4, fixed_point=k, precision="fp32")
        result = translate(model, dmso[:1], "DMSO", ["herbimycin@3"], options, denoiser=spy)
        assert len(calls) == 4 * (1 + k) + 4 + 4 + 4, (k, calls)
        np.testing.assert_array_equal(result.reconstruction[0], dmso[0])  # still exact


def test_refinement_makes_plain_ddim_inversion_nearly_exact_on_the_demo_model():
    # the shipped (trained) model: refined DDIM inversion regenerates its input far closer
    # than plain DDIM inversion does, with no residuals at all
    from phendiff.data.synthetic import render_field
    from phendiff.demo import demo_model_path

    demo = load_model(demo_model_path())
    fields = [render_field(Condition("DMSO"), np.random.default_rng([7, i]), 64) for i in range(2)]
    mse = {}
    for k in (0, 8):
        options = TranslateOptions(steps=25, inversion="ddim", fixed_point=k, precision="fp32",
                                   spacing="even")  # the grid it was measured on
        result = translate(demo, fields, "DMSO", ["DMSO"], options)
        mse[k] = np.mean([m["mse"] for m in result.metrics])
    assert mse[8] < mse[0] / 20, mse


@pytest.mark.parametrize(
    "options",
    [
        dict(inversion="exact", fixed_point=0),
        dict(inversion="exact", fixed_point=3, guidance=2.0),
        dict(inversion="exact", fixed_point=1, guidance=2.0, guidance_above=0.5),
        dict(inversion="exact", fixed_point=1, guidance=2.0, guidance_above=0.5, spacing="even"),
        dict(inversion="ddim", fixed_point=2),
        dict(inversion="noised", depth=0.5),
    ],
)
def test_evaluations_per_image_counts_the_network_calls(model, dmso, options):
    """The progress bar's cost model: every sweep of the network, counted at the network."""
    import dataclasses

    from phendiff.translate import model_denoiser
    from phendiff.translate.core import evaluations_per_image

    calls = []

    def counted(x, t, labels):
        calls.append(x.shape[0])
        return network(x, t, labels)

    options = TranslateOptions(steps=3, precision="fp32", **options)
    denoiser = model_denoiser(model, "fp32")
    network = denoiser.network
    denoiser = dataclasses.replace(denoiser, network=counted)
    # the source among the targets costs nothing: its output is the round trip
    translate(model, dmso[:2], "DMSO", ["DMSO", "latrunculin@3", "nocodazole@1"], options,
              denoiser=denoiser)  # fmt: skip
    assert sum(calls) == 2 * evaluations_per_image(options, 2, len(denoiser.alpha_bar))

"""The command line: bad input gets one clear line, exit status 2, and nothing written."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from phendiff.cli import main


def write_screen(root, conditions=("DMSO", "noc@1"), n=3, shape=(3, 32, 32), dtype=np.uint16):
    rng = np.random.default_rng(0)
    for c in conditions:
        (root / c).mkdir(parents=True)
        for i in range(n):
            image = rng.integers(100, 4000, size=shape).astype(dtype)
            tifffile.imwrite(root / c / f"f{i}.tif", image, photometric="minisblack")
    return root


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    return exc.value.code, err


TRAIN = ["--steps", "2", "--batch-size", "2", "--image-size", "16", "-q"]


def bad_screens(tmp):
    """(name, data path, text the error must contain) for every bad input of the brief."""
    cases = []
    cases.append(("missing", tmp / "nope", "not found"))
    (tmp / "empty").mkdir(parents=True)
    cases.append(("empty", tmp / "empty", "empty"))
    corrupt = write_screen(tmp / "corrupt")
    (corrupt / "DMSO" / "f1.tif").write_bytes(b"II*\x00garbage")
    cases.append(("corrupt", corrupt, "f1.tif"))
    mixed = write_screen(tmp / "mixed")
    tifffile.imwrite(
        mixed / "noc@1" / "f0.tif", np.ones((2, 32, 32), np.uint16), photometric="minisblack"
    )
    cases.append(("mixed", mixed, "channel"))
    small = write_screen(tmp / "small", shape=(3, 12, 12))
    cases.append(("small", small, "smaller"))
    nan = write_screen(tmp / "nan", dtype=np.float32)
    image = tifffile.imread(nan / "DMSO" / "f0.tif")
    image[0, 3, 3] = np.nan
    tifffile.imwrite(nan / "DMSO" / "f0.tif", image, photometric="minisblack")
    cases.append(("nan", nan, "NaN"))
    cases.append(("unknown", write_screen(tmp / "unknown", ("DMSO", "nocodazole")), "nocodazole"))
    cases.append(("malformed", write_screen(tmp / "malformed", ("DMSO", "noc@1uM")), "1uM"))
    manifest = write_screen(tmp / "manifest")
    (manifest / "manifest.csv").write_text(
        "path,compound,concentration\nDMSO/f0.tif,DMSO,0\n../elsewhere/x.tif,noc,1\n"
    )
    cases.append(("manifest", manifest, "x.tif"))
    return cases


def test_bad_training_inputs_get_one_line(tmp_path, capsys):
    for name, data, needle in bad_screens(tmp_path / "data"):
        out = tmp_path / f"run-{name}"
        code, err = run_cli(["train", str(data), "--out", str(out), *TRAIN], capsys)
        assert code == 2, (name, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (name, err)
        assert err.startswith("phendiff train: error: ") and needle in err, (name, err)
        assert not out.exists(), name  # nothing written half-way


@pytest.mark.slow
def test_out_holding_another_run(tmp_path, capsys):
    data = write_screen(tmp_path / "data")
    out = tmp_path / "run"
    main(["train", str(data), "--out", str(out), *TRAIN])
    before = (out / "model" / "model.safetensors").read_bytes()
    code, err = run_cli(["train", str(data), "--out", str(out), *TRAIN], capsys)
    assert code == 2 and "already holds a training run; pass --resume" in err
    code, err = run_cli(
        ["train", str(data), "--out", str(out), "--resume", "--batch-size", "4", "-q"], capsys
    )
    assert code == 2 and "batch_size" in err
    assert (out / "model" / "model.safetensors").read_bytes() == before  # untouched
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    code, err = run_cli(["train", str(data), "--out", str(tmp_path / "other"), *TRAIN], capsys)
    assert code == 2 and "not empty" in err
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_train_resume_and_info(tmp_path, capsys):
    data = write_screen(tmp_path / "data", ("DMSO", "noc@0.3", "noc@1"))
    out = tmp_path / "run"
    main(["train", str(data), "--out", str(out), *TRAIN, "--channel-names", "DNA,tub,act"])
    main(["train", str(data), "--out", str(out), "--resume", "--steps", "3", "-q"])
    capsys.readouterr()
    main(["info", str(out)])
    text = capsys.readouterr().out
    assert "3 steps" in text and "DNA" in text and "noc@0.3" in text and "16 x 16" in text
    assert "3: (no condition" in text
    saved = json.loads((out / "model" / "conditions.json").read_text())
    assert [row["name"] for row in saved] == ["DMSO", "noc@0.3", "noc@1"]


@pytest.mark.slow
def test_prediction_and_zero_terminal_snr_flags(tmp_path, capsys):
    data = write_screen(tmp_path / "data")
    eps = ["--prediction", "epsilon"]
    code, err = run_cli(
        ["train", str(data), "--out", str(tmp_path / "r"), *TRAIN, *eps, "--zero-terminal-snr"],
        capsys,
    )
    assert code == 2 and "zero_terminal_snr needs prediction='v_prediction'" in err
    assert not (tmp_path / "r").exists()
    for name, flags, expected in [
        ("default", [], ("v_prediction", True)),
        ("eps", eps, ("epsilon", False)),  # zero terminal SNR follows an explicit ε
        ("v-off", ["--no-zero-terminal-snr"], ("v_prediction", False)),
    ]:
        main(["train", str(data), "--out", str(tmp_path / name), *TRAIN, *flags])
        config = json.loads((tmp_path / name / "model" / "config.json").read_text())["model"]
        assert (config["prediction"], config["zero_terminal_snr"]) == expected, name


def test_info_on_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    code, err = run_cli(["info", str(tmp_path / "x")], capsys)
    assert code == 2 and "not a phendiff model folder" in err


def test_config_file_is_strict(tmp_path, capsys):
    data = write_screen(tmp_path / "data")
    (tmp_path / "c.yaml").write_text("stepz: 3\n")
    code, err = run_cli(
        ["train", str(data), "--out", str(tmp_path / "r"), "--config", str(tmp_path / "c.yaml")],
        capsys,
    )
    assert code == 2 and "unknown option(s) stepz" in err and "valid options" in err


def test_help_is_fast_and_does_not_import_torch():
    code = "import sys, phendiff.cli as c; c.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("command", ["synth", "train", "translate", "evaluate", "info", "demo"])
def test_every_command_shows_an_example_and_its_defaults(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"example: phendiff {command}" in text
    if command in ("train", "translate", "evaluate", "demo"):
        assert "--device DEVICE" in text and "(default: auto)" in text


def test_synth_command(tmp_path, capsys):
    main(["synth", str(tmp_path / "s"), "--per-condition", "2", "--size", "32", "-q"])
    assert (tmp_path / "s" / "manifest.csv").exists()
    assert (tmp_path / "s" / "ground_truth.csv").exists()
    code, err = run_cli(["synth", str(tmp_path / "s"), "--per-condition", "2", "-q"], capsys)
    assert code == 2 and "overwrite" in err

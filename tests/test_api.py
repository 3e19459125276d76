"""The Python API exported from ``phendiff``: the README's example runs as written."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import phendiff
from phendiff.errors import PhendiffError

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs(capsys):
    exec(compile(_readme_example(), "README.md", "exec"), {})
    targets, shape, psnr = capsys.readouterr().out.strip().splitlines()
    assert targets == str([f"latrunculin@{d}" for d in ("0.1", "0.3", "1", "3")])
    assert shape == "(4, 3, 64, 64) uint16"
    assert float(psnr.split()[2]) > 100  # the exact round trip


def test_import_is_light_and_the_packages_stay_callable():
    code = ("import sys, phendiff; assert 'torch' not in sys.modules; "
            "import phendiff.translate.files, phendiff.evaluate.masks; "
            "assert callable(phendiff.translate) and callable(phendiff.evaluate); "
            "assert phendiff.translate.translate_files")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


def test_arrays_in_every_layout_and_options_by_name(micro_model_dir, screen):
    from phendiff.data.sources import load_source

    model = phendiff.load_model(micro_model_dir)
    assert str(model.network.parameters().__next__().device) == "cpu"  # no GPU here
    images = [r.load() for r in load_source(screen) if not r.condition.dosed][:2]
    one = phendiff.translate(model, images[0], "DMSO", "latrunculin@3", steps=3)
    stack = phendiff.translate(model, np.stack(images), "DMSO", ["latrunculin@3"], steps=3)
    assert len(one.translated) == 1 and len(stack.translated) == 2
    np.testing.assert_array_equal(one.translated[0], stack.translated[0])
    with pytest.raises(PhendiffError, match="unknown option"):
        phendiff.translate(model, images[0], "DMSO", "latrunculin@3", stepz=3)
    with pytest.raises(PhendiffError, match="steps"):
        phendiff.translate(model, images[0], "DMSO", "latrunculin@3", steps=0)


def test_device_flag_is_checked_against_the_machine(micro_model_dir, screen, tmp_path, capsys):
    import torch

    from phendiff.cli import main
    from phendiff.cli.defaults import device_from

    assert device_from("cpu") == "cpu"
    assert device_from("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(PhendiffError, match="expected auto, cpu, cuda or cuda:N"):
        device_from("gpu")
    with pytest.raises(PhendiffError, match="CUDA GPU"):
        device_from(f"cuda:{torch.cuda.device_count()}")  # one past the last GPU
    for command in (["translate", str(micro_model_dir), str(screen / "DMSO"), "--target",
                     "DMSO", "--out", str(tmp_path / "o")],
                    ["demo", "--out", str(tmp_path / "d")],
                    ["train", str(screen), "--out", str(tmp_path / "t")]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main([*command, "--device", "cuda:99", "-q"])
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and "--device cuda:99" in err and len(err.splitlines()) == 1
        assert not any(tmp_path.iterdir())  # nothing written

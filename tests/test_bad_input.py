"""A careless user's inputs, as a table: every command ends in one clear line, and nothing of
the user's is lost, overwritten or left half-written.

Each :class:`Case` is a command line run in a fresh folder (``{tmp}``) holding a copy of a
few DMSO fields (``{dmso}``, ``{field}``), the test screen (``{screen}``) and the micro model
(``{model}``). ``setup`` prepares anything else in the folder. ``expect`` is the text the
single error line must contain, or ``OK`` for a run that must succeed. After every case the
files in ``keep`` have their content from before the run, and no staging or temporary files
(``.*.tmp-*``, ``.*.tmp``) are left anywhere in the folder. To add a case, append a row.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

from phendiff.cli import main

OK = None


@dataclass(frozen=True)
class Case:
    name: str
    args: str  # the command line after "phendiff"; placeholders in braces
    expect: str | None  # a text of the one-line error, or OK
    setup: Callable[[Path], None] | None = None
    keep: tuple[str, ...] = ()  # files (relative to {tmp}) whose content must not change
    cwd: str | None = None  # run in this folder (relative to {tmp})


def _precious(*where: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        for rel in where:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(f"user data in {rel}")

    return setup


def _then(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        for step in steps:
            step(tmp)

    return setup


def _translated(tmp: Path) -> None:
    main(["translate", str(tmp / "model"), str(tmp / "dmso"), "--source", "DMSO", "--target",
          "herbimycin@3", "--steps", "2", "--out", str(tmp / "tr"), "-q"])  # fmt: skip


def _edit_index(edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / "tr" / "translations.csv"
        path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")

    return setup


def _drop_column(lines: list[str]) -> list[str]:
    k = lines[0].split(",").index("recon_l2_255")
    return [",".join(v for j, v in enumerate(line.split(",")) if j != k) for line in lines]


def _text_in_number(lines: list[str]) -> list[str]:
    k = lines[0].split(",").index("recon_l2_255")
    values = lines[1].split(",")
    values[k] = "n/a"
    return [lines[0], ",".join(values), *lines[2:]]


def _odd_name(name: bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        folder = os.fsencode(tmp / "odd")
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(tmp / "field.tif", os.path.join(folder, name))

    return setup


def _config(text: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / "run.yaml").write_text(text)


def _truncated_tiff(tmp: Path) -> None:
    data = (tmp / "field.tif").read_bytes()
    (tmp / "cut").mkdir()
    (tmp / "cut" / "cut.tif").write_bytes(data[: len(data) * 2 // 3])


def _multi_channel_tiff(tmp: Path) -> None:
    (tmp / "wide").mkdir()
    tifffile.imwrite(tmp / "wide" / "a.tif", np.ones((5, 32, 32), np.uint16),
                     photometric="minisblack")  # fmt: skip


def _damaged_weights(tmp: Path) -> None:
    path = tmp / "model" / "model.safetensors"
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for i in rng.integers(len(data) // 2, len(data), 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _nan_weights(tmp: Path) -> None:
    """Weights that are NaN but whose recorded hash matches (saved as phendiff saves)."""
    from phendiff.model.checkpoint import load_model, save_model

    model = load_model(tmp / "model")
    state = {k: v.clone() for k, v in model.network.state_dict().items()}
    for v in state.values():
        if v.is_floating_point():
            v.fill_(float("nan"))
    save_model(tmp / "nan_model", state, model.config, model.conditions, model.normalizer)


TRANSLATE = "translate {model} {dmso} --source DMSO --target herbimycin@3 --steps 2"
EVALUATE = "evaluate --real {screen} --translated {tmp}/tr --fid-weights random"
DEMO = "demo --images 1 --steps 2"
TRAIN = "train {screen} --out {tmp}/run --image-size 32"

CASES = [
    # --overwrite replaces only the command's own files, and never where it must not write
    Case("synth --overwrite keeps the user's files", "synth {tmp}/userdir --per-condition 1 "
         "--size 32 --overwrite", OK, _precious("userdir/thesis.txt", "userdir/raw/a.txt"),
         keep=("userdir/thesis.txt", "userdir/raw/a.txt")),
    Case("demo --out . --overwrite is refused", f"{DEMO} --out . --overwrite", "current folder",
         _precious("here/precious.txt"), keep=("here/precious.txt",), cwd="here"),
    Case("demo --overwrite keeps the user's files", f"{DEMO} --out {{tmp}}/d --overwrite", OK,
         _precious("d/precious.txt"), keep=("d/precious.txt",)),
    Case("translate into the input's folder", f"{TRANSLATE} --out {{dmso}} --overwrite",
         "holds the input", keep=("dmso/a.tif",)),
    Case("translate into a parent of the input", f"{TRANSLATE} --out {{tmp}} --overwrite",
         "holds the input", _precious("precious.txt"), keep=("precious.txt", "dmso/a.tif")),
    Case("translate --overwrite keeps the user's files", f"{TRANSLATE} --out {{tmp}}/tr "
         "--overwrite", OK, _then(_translated, _precious("tr/notes.txt")),
         keep=("tr/notes.txt",)),
    Case("translate without --overwrite into a used folder", f"{TRANSLATE} --out {{tmp}}/tr",
         "not empty", _translated, keep=("tr/translations.csv",)),
    Case("evaluate into the translations", f"{EVALUATE} --out {{tmp}}/tr --overwrite",
         "holds the input", _translated, keep=("tr/translations.csv",)),
    # output-side errors: before any work, one line, nothing left behind
    Case("--out is a file", f"{TRANSLATE} --out {{tmp}}/precious.txt", "is a file",
         _precious("precious.txt"), keep=("precious.txt",)),
    Case("synth --out is a file", "synth {tmp}/precious.txt", "is a file",
         _precious("precious.txt"), keep=("precious.txt",)),
    Case("train --out is a file", "train {screen} --out {tmp}/precious.txt --image-size 32",
         "is a file", _precious("precious.txt"), keep=("precious.txt",)),
    Case("demo --out below a file", f"{DEMO} --out {{tmp}}/precious.txt/demo", "is a file",
         _precious("precious.txt"), keep=("precious.txt",)),
    Case("an input name that is not UTF-8", "translate {model} {tmp}/odd --source DMSO "
         "--target DMSO --steps 2 --out {tmp}/o", "not valid UTF-8", _odd_name(b"f\xff.tif")),
    Case("a 255-byte input name", "translate {model} {tmp}/odd --source DMSO --target DMSO "
         "--steps 2 --out {tmp}/o", OK, _odd_name(b"f" * 251 + b".tif")),
    # evaluation inputs
    Case("an edited translations.csv (column gone)", f"{EVALUATE} --out {{tmp}}/rep",
         "no column recon_l2_255", _then(_translated, _edit_index(_drop_column))),
    Case("an edited translations.csv (text for a number)", f"{EVALUATE} --out {{tmp}}/rep",
         "line 2: recon_l2_255='n/a'", _then(_translated, _edit_index(_text_in_number))),
    Case("FID weights that are not there", "evaluate --real {screen} --translated {tmp}/tr "
         "--out {tmp}/rep --fid-weights {tmp}/nothere.pth", "nothere.pth", _translated),
    Case("evaluate --alpha 5", f"{EVALUATE} --out {{tmp}}/rep --alpha 5", "alpha", _translated),
    # numbers and types: an integer is an integer, every number in range
    Case("translate --guidance nan", f"{TRANSLATE} --out {{tmp}}/o --guidance nan", "guidance"),
    Case("translate --guidance inf", f"{TRANSLATE} --out {{tmp}}/o --guidance inf", "guidance"),
    Case("demo --steps 0", f"{DEMO} --out {{tmp}}/d --steps 0", "steps"),
    Case("demo --images 0", f"{DEMO} --out {{tmp}}/d --images 0", "images"),
    Case("YAML steps: 2.5", f"{TRAIN} --config {{tmp}}/run.yaml", "steps",
         _config("steps: 2.5\n")),
    Case("YAML learning rate as text", f"{TRAIN} --config {{tmp}}/run.yaml", "learning_rate",
         _config("learning_rate: fast\n")),
    Case("train --precision fp16 on a CPU, twice", f"{TRAIN} --precision fp16", "fp16"),
    # damaged inputs are named as damaged
    Case("a truncated TIFF", "translate {model} {tmp}/cut --source DMSO --target DMSO "
         "--steps 2 --out {tmp}/o", "truncated", _truncated_tiff),
    Case("a TIFF with other channels", "translate {model} {tmp}/wide --source DMSO --target "
         "DMSO --steps 2 --out {tmp}/o", "5 channels", _multi_channel_tiff),
    Case("flipped bits in the weights", f"{TRANSLATE} --out {{tmp}}/o", "SHA-256",
         _damaged_weights),
    Case("NaN weights", "translate {tmp}/nan_model {dmso} --source DMSO --target DMSO --steps 2 "
         "--out {tmp}/o", "non-finite", _nan_weights),
]  # fmt: skip


@pytest.fixture
def place(tmp_path, screen, micro_model_dir):
    (tmp_path / "dmso").mkdir()
    for i, src in enumerate(sorted((screen / "DMSO").glob("*.tif"))[:2]):
        shutil.copyfile(src, tmp_path / "dmso" / f"{'ab'[i]}.tif")
    shutil.copyfile(tmp_path / "dmso" / "a.tif", tmp_path / "field.tif")
    shutil.copytree(micro_model_dir, tmp_path / "model")
    return {
        "tmp": str(tmp_path),
        "dmso": str(tmp_path / "dmso"),
        "field": str(tmp_path / "field.tif"),
        "model": str(tmp_path / "model"),
        "screen": str(screen),
    }


def _leftovers(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob(".*")
        if ".tmp-" in p.name or p.name.endswith(".tmp") or ".old-" in p.name
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, place, capsys, monkeypatch):
    tmp = Path(place["tmp"])
    if case.setup is not None:
        case.setup(tmp)
    kept = {rel: (tmp / rel).read_bytes() for rel in case.keep}
    if case.cwd:
        monkeypatch.chdir(tmp / case.cwd)
    capsys.readouterr()
    args = [*case.args.format(**place).split(), "-q"]
    for _ in range(2 if "twice" in case.name else 1):
        code, err = _run(args, capsys)
        if case.expect is OK:
            assert code == 0, err
        else:
            assert code == 2, (code, err)
            assert len(err.splitlines()) == 1 and case.expect in err, err
            assert "Traceback" not in err
    for rel, content in kept.items():
        assert (tmp / rel).read_bytes() == content, f"{rel} changed"
    assert _leftovers(tmp) == []
    if case.expect is not OK:
        for new in ("o", "rep", "run", "d"):
            assert not (tmp / new).exists() or not any((tmp / new).iterdir()), new


def _run(args: list[str], capsys) -> tuple[int, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_an_os_error_after_the_work_is_one_line_and_leaves_nothing(place, capsys, monkeypatch):
    # a file system that fails the final move (read-only, full): one line naming the path
    tmp = Path(place["tmp"])
    real_replace = os.replace

    def failing_replace(src, dst):
        if "o" in Path(dst).parts[-2:]:
            raise OSError(errno.EROFS, "Read-only file system", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    code, err = _run(f"{TRANSLATE} --out {tmp}/o -q".format(**place).split(), capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "Read-only file system; the file system is read-only" in err and f"{tmp}/o" in err
    assert not (tmp / "o").exists() and _leftovers(tmp) == []


def test_a_run_folder_that_is_not_writable_is_refused_before_any_work(place, capsys, monkeypatch):
    tmp = Path(place["tmp"])
    monkeypatch.setattr(os, "access", lambda path, mode: not str(path).startswith(str(tmp)))
    for args in (f"{TRANSLATE} --out {{tmp}}/o", "synth {tmp}/s", f"{DEMO} --out {{tmp}}/d",
                 f"{EVALUATE} --out {{tmp}}/rep", f"{TRAIN} --steps 2"):  # fmt: skip
        code, err = _run([*args.format(**place).split(), "-q"], capsys)
        assert code == 2 and "not writable" in err and len(err.splitlines()) == 1, (args, err)
    assert sorted(p.name for p in tmp.iterdir()) == ["dmso", "field.tif", "model"]


def test_batch_sizes_give_identical_files(place, capsys):
    tmp = Path(place["tmp"])
    for b in (1, 8):
        main(f"{TRANSLATE} --out {{tmp}}/b{b} --batch-size {b} -q".format(**place).split())
    rows = json.loads((tmp / "b1" / "translate.json").read_text())
    assert rows["options"]["batch_size"] == 1
    files = sorted(p.relative_to(tmp / "b1") for p in (tmp / "b1").rglob("*.tif"))
    assert len(files) == 6  # 2 inputs × (translation, difference, reconstruction)
    for rel in files:
        assert (tmp / "b1" / rel).read_bytes() == (tmp / "b8" / rel).read_bytes(), rel

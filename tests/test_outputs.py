"""The output-folder policy: staged writes, a manifest, an overwrite that keeps user files."""

import json
import os
from pathlib import Path

import pytest

from phendiff.data.outputs import check_output_folder, manifest_path, output_folder
from phendiff.errors import PhendiffError


def _files(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".phendiff-")
    }


def _write(stage: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / rel).write_text(text)


def test_a_new_folder_appears_whole_with_its_manifest(tmp_path):
    out = tmp_path / "deep" / "out"
    with output_folder(out, "demo") as stage:
        assert stage.parent == out.parent and stage.name.startswith(".out.tmp-")
        _write(stage, {"a.txt": "1", "sub/b.txt": "2"})
        assert not out.exists()  # nothing in place before the command has finished
    assert _files(out) == {"a.txt": "1", "sub/b.txt": "2"}
    manifest = json.loads(manifest_path(out, "demo").read_text())
    assert manifest == {"command": "demo", "files": ["a.txt", "sub/b.txt"]}
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # no staging folder left


def test_a_failure_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "out"
    with output_folder(out, "demo") as stage:
        _write(stage, {"a.txt": "first"})
    before = _files(out)
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), output_folder(out, "demo", overwrite=True) as stage:
            _write(stage, {"a.txt": "second", "c.txt": "3"})
            raise exc
        assert _files(out) == before
    with pytest.raises(RuntimeError), output_folder(tmp_path / "new", "demo") as stage:
        _write(stage, {"a.txt": "x"})
        raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_overwrite_replaces_only_what_the_command_wrote(tmp_path):
    out = tmp_path / "out"
    with output_folder(out, "translate") as stage:
        _write(stage, {"a/x.tif": "old", "a/y.tif": "old", "index.csv": "old"})
    (out / "precious.txt").write_text("mine")
    (out / "a" / "notes.txt").write_text("mine too")
    with pytest.raises(PhendiffError, match="not empty"):  # a non-empty folder needs it
        with output_folder(out, "translate"):
            pass
    with output_folder(out, "translate", overwrite=True) as stage:
        _write(stage, {"a/x.tif": "new", "b/z.tif": "new", "index.csv": "new"})
    assert _files(out) == {
        "a/x.tif": "new",  # rewritten
        "b/z.tif": "new",  # new
        "index.csv": "new",
        "precious.txt": "mine",  # never the command's: kept
        "a/notes.txt": "mine too",
    }  # a/y.tif, written by the previous run only, is gone
    with output_folder(out, "translate", overwrite=True) as stage:
        _write(stage, {"index.csv": "newer"})
    assert not (out / "b").exists()  # emptied folders of the command go too
    assert (out / "a" / "notes.txt").exists()


def test_a_manifest_never_reaches_outside_its_folder(tmp_path):
    out, outside = tmp_path / "out", tmp_path / "outside.txt"
    outside.write_text("keep")
    with output_folder(out, "synth") as stage:
        _write(stage, {"a.txt": "1"})
    record = {"command": "synth", "files": ["a.txt", "../outside.txt", str(outside)]}
    manifest_path(out, "synth").write_text(json.dumps(record))
    with output_folder(out, "synth", overwrite=True) as stage:
        _write(stage, {"b.txt": "2"})
    assert outside.read_text() == "keep" and _files(out) == {"b.txt": "2"}
    manifest_path(out, "synth").write_text("{not json")
    with pytest.raises(PhendiffError, match="damaged manifest"):
        with output_folder(out, "synth", overwrite=True):
            pass


@pytest.mark.parametrize("overwrite", [False, True])
def test_refused_folders(tmp_path, monkeypatch, overwrite):
    data = tmp_path / "data" / "plate1"
    data.mkdir(parents=True)
    (data / "a.tif").write_text("image")
    for out in (data, data.parent, data / "a.tif"):
        with pytest.raises(PhendiffError) as info:
            check_output_folder(out, overwrite, inputs=[data / "a.tif"])
        assert "\n" not in str(info.value)
    with pytest.raises(PhendiffError, match="is a file"):
        check_output_folder(data / "a.tif", overwrite)
    if overwrite:
        monkeypatch.chdir(data)
        monkeypatch.setenv("HOME", str(tmp_path))
        for out, what in ((".", "current folder"), (tmp_path, "home folder"), ("/", "root")):
            with pytest.raises(PhendiffError, match=what):
                check_output_folder(out, True)
        assert (data / "a.tif").read_text() == "image"


def test_an_unwritable_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(PhendiffError, match="not writable"):
        check_output_folder(tmp_path / "new" / "out", False)
    assert list(tmp_path.iterdir()) == []

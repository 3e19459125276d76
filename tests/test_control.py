"""A screen whose control is not called DMSO: named at training, used by translate and evaluate."""

import csv
import json
import shutil

import pytest

from phendiff.cli import main
from phendiff.conditions import Condition
from phendiff.model.checkpoint import read_model_meta

TRAIN = ["--steps", "2", "--batch-size", "2", "--image-size", "16", "-q"]


@pytest.fixture(scope="module")
def untreated(screen, tmp_path_factory):
    """The synthetic screen's DMSO and latrunculin folders, DMSO renamed ``untreated``."""
    root = tmp_path_factory.mktemp("untreated") / "screen"
    shutil.copytree(screen / "DMSO", root / "untreated")
    for folder in sorted(screen.glob("latrunculin@*")):
        shutil.copytree(folder, root / folder.name)
    return root


def _fails(args, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    return err


def test_untreated_screen_trains_translates_and_evaluates(untreated, tmp_path, capsys):
    run = tmp_path / "run"
    train = ["train", str(untreated), "--out", str(run), *TRAIN]
    err = _fails(train, capsys)  # which undosed condition is the control is not guessed
    assert "no DMSO among the conditions (untreated, latrunculin@0.1" in err
    assert "--control untreated" in err
    err = _fails([*train, "--control", "mock"], capsys)
    assert "control 'mock' is not among the conditions (untreated, latrunculin@0.1" in err
    assert not run.exists()  # nothing written by a refused run

    main([*train, "--control", "untreated"])
    table = read_model_meta(run)[2]
    assert table.control == Condition("untreated") and table.names[0] == "untreated"
    saved = json.loads((run / "model" / "conditions.json").read_text())
    assert [r["name"] for r in saved if r["control"]] == ["untreated"]

    out = tmp_path / "out"
    main(["translate", str(run), str(untreated / "untreated"), "--target", "latrunculin@all",
          "--out", str(out), "--steps", "2", "-q"])  # fmt: skip
    rows = list(csv.DictReader(open(out / "translations.csv")))
    assert {r["source"] for r in rows} == {"untreated"}  # the folder is the source
    assert json.loads((out / "translate.json").read_text())["control"] == "untreated"

    report = tmp_path / "report"
    main(["evaluate", "--real", str(untreated), "--translated", str(out), "--out", str(report),
          "--fid-weights", "random", "-q"])  # fmt: skip
    tests = list(csv.DictReader(open(report / "tables" / "condition_tests.csv")))
    assert tests and "untreated" not in {t["condition"] for t in tests}
    assert {t["condition"] for t in tests} <= {c.name for c in table if c.dosed}
    page = (report / "index.html").read_text()
    assert "tests of each condition against untreated" in page
    assert "&quot;control&quot;: &quot;untreated&quot;" in page  # the options shown
    # --control overrides the recorded control, and must be among the real conditions
    err = _fails(["evaluate", "--real", str(untreated), "--translated", str(out),
                  "--out", str(tmp_path / "r2"), "--fid-weights", "random", "--control",
                  "mock", "-q"], capsys)  # fmt: skip
    assert "--control 'mock' is not among the conditions" in err and "untreated" in err
    assert not (tmp_path / "r2").exists()


def test_translate_spells_the_control_as_the_model_does(untreated, micro_model_dir, tmp_path):
    from phendiff.conditions import ConditionTable
    from phendiff.translate import collect_inputs

    table = ConditionTable.from_conditions(
        [Condition("Untreated"), Condition("latrunculin", 3)], control="untreated"
    )
    records = collect_inputs([untreated / "untreated"], conditions=table)
    assert {r.condition.name for r in records} == {"Untreated"}
    records = collect_inputs([untreated / "untreated"], source="UNTREATED", conditions=table)
    assert {r.condition.name for r in records} == {"Untreated"}
    # a folder the model knows no condition of is no source
    with pytest.raises(Exception, match="--source"):
        collect_inputs([untreated / "untreated"], conditions=read_model_meta(micro_model_dir)[2])

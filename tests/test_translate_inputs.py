"""What ``phendiff translate`` takes as input: condition folders, --compounds, --target all."""

import csv
import shutil

import pytest

from phendiff.cli import main
from phendiff.conditions import Condition
from phendiff.errors import PhendiffError
from phendiff.translate import collect_inputs


def _rows(out):
    return list(csv.DictReader(open(out / "translations.csv")))


def test_a_condition_folder_is_its_own_source(screen, tmp_path):
    records = collect_inputs([screen / "latrunculin@3"])
    assert {r.condition for r in records} == {Condition("latrunculin", 3.0)}
    assert {r.condition for r in collect_inputs([screen / "DMSO"])} == {Condition("DMSO")}
    assert {r.condition for r in collect_inputs([screen / "DMSO"], "latrunculin@3")} == {
        Condition("latrunculin", 3.0)  # --source wins over the folder's name
    }
    plain = tmp_path / "images"
    shutil.copytree(screen / "DMSO", plain)
    with pytest.raises(PhendiffError, match="--source"):
        collect_inputs([plain])  # a folder named after nothing


def test_compounds_filter_and_target_all(micro_model_dir, screen, tmp_path):
    records = collect_inputs([screen], compounds=["DMSO"])
    assert records and {r.condition.name for r in records} == {"DMSO"}
    out = tmp_path / "out"
    first = sorted((screen / "DMSO").glob("*.tif"))[0]
    main(["translate", str(micro_model_dir), str(first), "--source", "DMSO", "--target", "all",
          "--out", str(out), "--steps", "2", "-q"])  # fmt: skip
    assert len(_rows(out)) == 13  # every condition of the model, DMSO included


def test_unknown_input_conditions_are_listed_with_the_fix(micro_model_dir, tmp_path, capsys):
    from phendiff.data.synthetic import generate_screen

    other = generate_screen(tmp_path / "s", per_condition=1, size=32, seed=3, progress=False)
    manifest = other / "manifest.csv"
    rows = list(csv.DictReader(open(manifest)))
    for row in rows:  # a compound the model was not trained on
        row["compound"] = row["compound"].replace("nocodazole", "taxol")
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(SystemExit) as exc:
        main(["translate", str(micro_model_dir), str(manifest), "--target", "DMSO",
              "--out", str(tmp_path / "o"), "-q"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1
    assert "4 input condition(s) unknown to this model: taxol@0.1" in err and "--compounds" in err
    main(["translate", str(micro_model_dir), str(manifest), "--compounds", "DMSO",
          "--target", "DMSO", "--out", str(tmp_path / "o"), "--steps", "2", "-q"])  # fmt: skip
    assert {r["source"] for r in _rows(tmp_path / "o")} == {"DMSO"}


def test_the_progress_bar_moves_within_a_batch_and_lands_on_whole_images():
    import torch

    from phendiff.diffusion.denoiser import Denoiser
    from phendiff.translate.progress import image_progress

    calls = []
    base = Denoiser(lambda x, t, y: calls.append(len(x)) or torch.zeros_like(x),
                    torch.linspace(0.99, 0.01, 10, dtype=torch.float64))  # fmt: skip
    bar, ticking, batch = image_progress(4, True, base, rows_per_image=10)
    x = torch.zeros(5, 1, 2, 2)
    batch(2)  # two images in flight
    ticking(x, 3, None)
    assert bar.n == pytest.approx(0.5) and calls == [5]  # 5 rows of the 10 one image needs
    for _ in range(10):
        ticking(x, 3, None)
    assert bar.n == pytest.approx(1.95)  # never past the batch before its files are written
    batch(2)
    assert bar.n == 2
    batch(0)
    assert bar.n == 4
    bar.close()

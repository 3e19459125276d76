"""experiments/synthetic_screen/summarize_baselines.py on hand-made reports: the paper's tables
read from reports kept in several sittings (baselines.sh KEEP=DIR), with every number known."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "synthetic_screen" / "summarize_baselines.py"
DOSES = ("0.1", "0.3", "1", "3")


def _report(folder: Path, fid: list[float], copy: list[float], l2: list[float],
            cells: dict[tuple[str, str], list[int]], agree: float, ceiling: float,
            steps: int | None = None, minutes: float | None = None) -> None:  # fmt: skip
    tables = folder / "tables"
    tables.mkdir(parents=True)
    conditions = ["DMSO", *(f"latrunculin@{d}" for d in DOSES)]
    pd.DataFrame({"condition": conditions, "fid_translated": fid, "fid_copy": copy}).to_csv(
        tables / "fid_kid.csv", index=False
    )
    pd.DataFrame({"recon_l2_255": l2, "recon_mse": [v / 1000 for v in l2]}).to_csv(
        tables / "reconstruction.csv", index=False
    )
    rows = [{"kind": k, "condition": c, "cell_count": n} for (k, c), ns in cells.items()
            for n in ns]  # fmt: skip
    pd.DataFrame(rows).to_csv(tables / "images.csv", index=False)
    for name, rate in (("agreement", agree), ("replicate_agreement", ceiling)):
        pd.DataFrame({"level": ["compound", "compound", "dose"],
                      "compound": ["latrunculin", "nocodazole", "latrunculin"],
                      "same_conclusion_rate": [rate, 0.0, 0.0]}).to_csv(  # fmt: skip
            tables / f"{name}.csv", index=False
        )
    if steps is not None:
        (folder / "model_config.json").write_text(json.dumps({"training": {"steps": steps}}))
        (folder / "budget.json").write_text(json.dumps({"minutes": minutes}))


def _summary(work: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(work)], capture_output=True,
                          text=True, check=True)  # fmt: skip


def _row(stdout: str, name: str) -> list[str]:
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in\n{stdout}")


def test_reports_from_two_sittings_make_one_table(tmp_path):
    copy = [50.0, 55.0, 60.0, 70.0, 140.0]
    cells = {("translated", "DMSO"): [10, 10], ("translated", "latrunculin@3"): [5, 7],
             ("real", "DMSO"): [8, 12], ("real", "latrunculin@3"): [4, 6]}  # fmt: skip
    _report(tmp_path / "baselines" / "demo-report", [49.0, 58.0, 59.0, 90.0, 175.0], copy,
            [0.0, 0.0], cells, 0.75, 0.875, steps=4000, minutes=97)  # fmt: skip
    _report(tmp_path / "baselines" / "stargan-report", [99.0, 290.0, 300.0, 310.0, 320.0], copy,
            [7000.0, 8000.0], cells, 0.25, 0.875, steps=3210, minutes=97)  # fmt: skip
    out = _summary(tmp_path)
    assert "warning" not in out.stderr
    fid = out.stdout.split("**Reconstruction")[0]
    assert _row(fid, "phendiff (demo model)")[1:5] == ["58.0", "59.0", "90.0", "175.0"]
    assert _row(fid, "StarGAN")[1:5] == ["290.0", "300.0", "310.0", "320.0"]
    assert _row(fid, "copy-source (input unchanged)")[1:6] == ["55.0", "60.0", "70.0", "140.0",
                                                               "50.0"]  # fmt: skip
    other = out.stdout.split("**Reconstruction")[1]
    header = _row(other, "method")
    star = dict(zip(header, _row(other, "StarGAN"), strict=True))
    assert star["recon L2 (0–255)"] == "7500.0" and star["images"] == "2"
    assert star["survival 3 µM, translated"] == "0.6"  # 6 / 10 cells per field
    assert star["survival 3 µM, real"] == "0.5"  # 5 / 10
    assert star["same conclusion"] == "0.25" and star["replicate ceiling"] == "0.875"
    assert float(star["steps"]) == 3210 and float(star["minutes"]) == 97


def test_reports_of_different_sets_are_flagged(tmp_path):
    cells = {("translated", "DMSO"): [10], ("real", "DMSO"): [10]}
    _report(tmp_path / "baselines" / "stargan-report", [1.0] * 5, [50.0, 55.0, 60.0, 70.0, 140.0],
            [1.0], cells, 0.5, 0.9)  # fmt: skip
    _report(tmp_path / "baselines" / "cyclegan-report", [1.0] * 5, [50.0, 55.0, 61.0, 70.0, 140.0],
            [1.0], cells, 0.5, 0.9)  # fmt: skip
    out = _summary(tmp_path)
    assert "CycleGAN's copy-source FIDs differ from StarGAN's" in out.stderr


def test_keep_copies_what_the_summary_reads_and_nothing_else(tmp_path):
    live = tmp_path / "live"
    cells = {("translated", "DMSO"): [10, 12], ("translated", "latrunculin@3"): [6, 5],
             ("real", "DMSO"): [8, 12], ("real", "latrunculin@3"): [4, 6]}  # fmt: skip
    report = live / "baselines" / "cyclegan-report"
    _report(report, [2.0, 3.0, 4.0, 5.0, 6.0], [50.0, 55.0, 60.0, 70.0, 140.0], [3.0, 5.0], cells,
            0.5, 0.9)  # fmt: skip
    images = pd.read_csv(report / "tables" / "images.csv").assign(extra=1.5, path="a.tif")
    images.to_csv(report / "tables" / "images.csv", index=False)
    (report / "tables" / "per_cell.csv").write_text("x\n1\n")  # not read by the summary
    model = live / "baselines" / "cyclegan" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"training": {"steps": 654}}))
    kept = tmp_path / "kept"
    subprocess.run([sys.executable, str(SCRIPT), "keep", str(report), str(model),
                    str(kept / "baselines" / "cyclegan-report"), "97"], check=True)  # fmt: skip
    dest = kept / "baselines" / "cyclegan-report"
    assert not (dest / "tables" / "per_cell.csv").exists()
    assert list(pd.read_csv(dest / "tables" / "images.csv").columns) == ["kind", "condition",
                                                                         "cell_count"]  # fmt: skip
    assert json.loads((dest / "budget.json").read_text())["minutes"] == 97
    assert not dest.with_name(dest.name + ".tmp").exists()
    # the kept copy summarises as the live report does (whose steps come from its model);
    # only the kept one knows its budget
    def table(work: Path) -> dict[str, str]:
        out = _summary(work).stdout
        fid = out.split("**Reconstruction")[0]
        other = out.split("**Reconstruction")[1]
        row = dict(zip(_row(other, "method"), _row(other, "CycleGAN"), strict=True))
        return {"fid": _row(fid, "CycleGAN"), **row}

    k, v = table(kept), table(live)
    assert float(k.pop("minutes")) == 97 and "minutes" not in v
    assert k == v and float(k["steps"]) == 654 and k["survival 3 µM, translated"] == "0.5"

"""experiments/bbbc021/run.sh --check: the paper's BBBC021 pipeline end to end on a small
folder in BBBC021's own layout (tiny model, a few steps), as a user would run it."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "experiments" / "bbbc021"


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def test_the_small_folder_has_bbbc021s_layout(tmp_path):
    out = tmp_path / "BBBC021"
    subprocess.run([sys.executable, str(EXPERIMENT / "make_fake.py"), str(out),
                    "--fields-per-well", "1"], check=True, capture_output=True)  # fmt: skip
    with open(out / "BBBC021_v1_image.csv") as f:
        rows = list(csv.DictReader(f))
    columns = {"Image_FileName_DAPI", "Image_PathName_Actin", "Image_Metadata_Compound",
               "Image_Metadata_Concentration", "Image_Metadata_Plate_DAPI"}  # fmt: skip
    assert columns <= set(rows[0])
    first = rows[0]
    assert first["Image_PathName_DAPI"] == "Week1/Week1_22123"  # the quirk of the real CSV
    image = tifffile.imread(out / "Week1_22123" / first["Image_FileName_DAPI"])
    assert image.dtype == np.uint16 and image.shape == (128, 160)  # one channel per file
    taxol = [r for r in rows if r["Image_Metadata_Compound"] == "taxol"]
    assert taxol and not (out / "Week1_22123" / taxol[0]["Image_FileName_DAPI"]).exists()


@pytest.mark.slow
def test_run_sh_check_writes_the_papers_tables_and_figures(tmp_path):
    work = tmp_path / "work"
    data = work / "BBBC021"
    subprocess.run([sys.executable, str(EXPERIMENT / "make_fake.py"), str(data)],
                   check=True, capture_output=True)  # fmt: skip
    before = _digest(data)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(EXPERIMENT / "run.sh"), "--check", str(work)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert "check passed" in done.stdout
    assert _digest(data) == before  # the BBBC021 folder is only read

    paper = work / "paper"
    table1 = pd.read_csv(paper / "table1_fid.csv")
    conditions = ["DMSO", "latrunculin B@0.3", "latrunculin B@1", "latrunculin B@3"]
    assert sorted(table1["condition"]) == sorted(conditions)
    assert np.isfinite(table1["fid_translated"]).all() and (table1["fid_translated"] >= 0).all()
    assert (table1["n_translated"] == 4).all()  # the 4 DMSO inputs of --check
    table2 = pd.read_csv(paper / "table2_reconstruction.csv").set_index("metric")
    # exact inversion: the round trip is the input to round-off, in every unit
    assert table2.loc["psnr", "mean"] > 200 and table2.loc["l2_255_128px", "max"] < 1e-6
    for name in ("fig3_dose_series.png", "fig4_scatter.png", "summary.md"):
        assert (paper / name).stat().st_size > 0
    translations = pd.read_csv(work / "translated" / "translations.csv")
    assert set(translations["source"]) == {"DMSO"} and translations["plate"].notna().all()

"""The report's summary tables and warnings, and the mask files, on hand-made inputs."""

import numpy as np
import pandas as pd
import pytest
import tifffile

from phendiff.errors import PhendiffError
from phendiff.evaluate import masks as M
from phendiff.evaluate import summary as S


def _fid() -> pd.DataFrame:
    rows = [
        # condition, translated, copy, floor, kid spread
        ("DMSO", 10.0, 10.0, 12.0, 0.01),
        ("a@1", 20.0, 30.0, 11.0, 0.02),
        ("a@0.1", 12.0, 11.0, 13.0, np.nan),
        ("b@3", 40.0, 50.0, 9.0, 0.03),
    ]
    return pd.DataFrame(
        [{"condition": c, "n_real": 8, "n_translated": 8, "n_copy": 8, "extractor": "x",
          "note": "", "fid_translated": t, "fid_copy": k, "fid_real_split": f,
          "kid_std_translated": s} for c, t, k, f, s in rows]  # fmt: skip
    )


def test_fid_per_dose_has_the_shape_of_table_1():
    tables = S.fid_per_dose(_fid())
    assert list(tables) == ["a", "b"]
    a = tables["a"].set_index("FID")
    assert list(a.columns) == ["DMSO", "0.1 µM", "1 µM"]  # control first, doses ascending
    assert list(a.index) == ["translated", "copy source (baseline)", "real vs real (floor)"]
    assert a.loc["copy source (baseline)", "1 µM"] == 30.0
    assert tables["b"].set_index("FID").loc["translated", "3 µM"] == 40.0
    assert S.fid_per_dose(pd.DataFrame({"condition": ["DMSO"], "note": ["not computed"]})) == {}


def test_warnings_name_every_caveat():
    per_image = pd.DataFrame(
        {"kind": ["real"] * 6 + ["translated"] * 2, "condition": ["DMSO"] * 6 + ["a@1"] * 2,
         "cell_count": [3, 0, 2, 2, 2, 2, 1, 1]}  # fmt: skip
    )
    fid = _fid()
    fid.loc[3, "note"] = "not computed: too few images"
    text = S.warnings(fid, per_image, {"notes": {"statistics": "not computed: no DMSO"}})
    joined = " ".join(text)
    assert "as few as 8 images per set" in joined
    assert "above the copy-source FID at 2 of 4 conditions (DMSO, a@0.1)" in joined
    assert "KID's spread not computed for a@0.1" in joined
    assert "b@3: not computed: too few images" in joined
    assert "statistics: not computed: no DMSO" in joined
    assert "translated a@1 (2)" in joined  # too few images to test
    assert "1 of 8 images have no cells" in joined


def test_conclusions_beside_the_ceiling():
    agree = pd.DataFrame({"level": ["condition", "compound", "all"],
                          "condition": ["a@1", "a@all", "all"], "n_pairs": [5, 5, 5],
                          "same_conclusion_rate": [0.8, 0.8, 0.8]})  # fmt: skip
    ceiling = agree.assign(same_conclusion_rate=[1.0, 0.9, 0.9])
    table = S.conclusions({"agreement": agree, "replicate_agreement": ceiling})
    assert table.to_dict("list") == {"compound": ["a", "all"], "tests": [5, 5],
                                     "same conclusion": [0.8, 0.8],
                                     "replicate ceiling": [0.9, 0.9]}  # fmt: skip
    assert "replicate ceiling" not in S.conclusions({"agreement": agree})


def test_pair_nuclei_renumbers_to_the_cell_holding_most_of_each():
    nuclei = np.array([[1, 1, 1, 0, 2, 3]])
    cells = np.array([[4, 4, 9, 9, 9, 0]])  # nucleus 1 mostly in 4; 3 in no cell
    assert M.pair_nuclei(nuclei, cells).tolist() == [[4, 4, 4, 0, 9, 0]]
    assert not M.pair_nuclei(nuclei, np.zeros_like(cells)).any()


def test_find_masks_by_key_or_flat_file_stem(tmp_path):
    image = np.zeros((2, 5, 6), np.uint16)
    real = {"image": "real/DMSO/x", "kind": "real", "path": "/data/DMSO/x.tif"}
    moved = {"image": "translated/a@1/id0", "kind": "translated", "path": "/t/id0/a@1.tif"}
    tifffile.imwrite(tmp_path / "x_nuclei.tif", np.ones((5, 6), np.uint16))  # flat, by stem
    (tmp_path / "translated" / "a@1").mkdir(parents=True)
    tifffile.imwrite(tmp_path / "translated/a@1/id0_nuclei.tif", np.ones((1, 5, 6), np.int32))
    tifffile.imwrite(tmp_path / "translated/a@1/id0_cells.tif", np.full((5, 6), 2, np.uint16))
    found = M.find_masks(tmp_path, [(image, real), (image, moved)])
    assert found[0] == (tmp_path / "x_nuclei.tif", None)
    assert found[1][1] == tmp_path / "translated/a@1/id0_cells.tif"
    nuclei, cells = M.load_masks(found[0])
    assert nuclei is cells and nuclei.shape == (5, 6)  # no cells file: cells are the nuclei
    nuclei, cells = M.load_masks(found[1])
    assert (nuclei == 2).all() and (cells == 2).all()
    with pytest.raises(PhendiffError, match="no masks for 1 of 1 images"):
        M.find_masks(tmp_path, [(image, {**real, "image": "real/DMSO/y", "path": "/d/y.tif"})])
    tifffile.imwrite(tmp_path / "bad_nuclei.tif", np.full((5, 6), 0.5, np.float32))
    with pytest.raises(PhendiffError, match="expected integer labels"):
        M.read_label(tmp_path / "bad_nuclei.tif")


def test_written_masks_round_trip(tmp_path):
    nuclei = np.arange(12).reshape(3, 4)
    M.write_masks(tmp_path, "real/DMSO/a", nuclei, nuclei * 2)
    back = tifffile.imread(tmp_path / "real/DMSO/a_cells.tif")
    assert back.dtype == np.uint16 and (back == nuclei * 2).all()
    M.write_masks(tmp_path, "big", nuclei * 10_000, nuclei)
    assert tifffile.imread(tmp_path / "big_nuclei.tif").dtype == np.uint32


def test_a_report_without_statistics_says_so_and_writes_the_rest(tmp_path):
    from phendiff.config import EvaluateOptions
    from phendiff.evaluate.report import write_report

    recon = pd.DataFrame({"id": ["a"], "source": ["DMSO"], "recon_mse": [0.0]})
    per_image = pd.DataFrame({"kind": ["real"], "condition": ["DMSO"], "cell_count": [2]})
    why = "not computed: no DMSO images among the translated sets"
    page = write_report(
        tmp_path, recon, _fid(), per_image, {"notes": {"statistics": why}},
        EvaluateOptions(measure="actin"), {"real": "r", "translated": "t", "dna": "DNA",
                                           "cytoplasm": "actin"},
    )  # fmt: skip
    text = page.read_text()
    assert text.count(why) >= 3  # Fig. 4, dose response, the conclusions table, ...
    assert "FID per dose" in text and (tmp_path / "figures" / "fid.png").is_file()
    assert "Area of the actin objects" in text and "not computed" in text


@pytest.mark.parametrize("differences", [False, True])
def test_dose_series_difference_map_has_a_colour_bar(tmp_path, monkeypatch, differences):
    from phendiff.conditions import Condition
    from phendiff.translate import figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: drawn.append(fig))
    rng = np.random.default_rng(0)
    source = ("input", rng.uniform(-1, 1, (3, 8, 8)))
    series = [(Condition.parse(c), rng.uniform(-1, 1, (3, 8, 8))) for c in ("a@1", "a@3", "b@1")]
    figures.dose_series_figure(tmp_path / "f.png", source, series, ("DNA", "tubulin", "actin"),
                               differences=differences)  # fmt: skip
    (fig,) = drawn
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == (1 if differences else 0)
    assert len(fig.axes) == 2 * 3 + len(bars)  # two compounds × (input + two doses)

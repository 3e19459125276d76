"""Image sources, splits and scanning: every fixture is built here in tmp_path."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile

from phendiff.conditions import Condition
from phendiff.data.sources import (
    ImageRecord,
    ScanResult,
    assign_splits,
    from_bbbc021,
    from_folders,
    from_manifest,
    load_source,
    scan_images,
)
from phendiff.errors import PhendiffError

DMSO = Condition("DMSO")
NOC = Condition("nocodazole", 0.3)


def _tif(path: Path, shape=(3, 16, 16), dtype=np.uint16, value=7) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.full(shape, value, dtype), photometric="minisblack")
    return path


def _csv(path: Path, rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(PhendiffError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------- ImageRecord


def test_record_group_load_and_validation(tmp_path):
    single = ImageRecord((_tif(tmp_path / "a.tif"),), DMSO)
    assert single.group == str(tmp_path / "a.tif")
    assert single.load().shape == (3, 16, 16)
    planes = [_tif(tmp_path / f"c{i}.tif", (16, 16), value=i) for i in range(2)]
    split = ImageRecord(planes, "nocodazole@0.3", plate="P1", well="B02")
    assert split.paths == tuple(planes) and split.condition == NOC
    assert split.group == "P1/B02"
    np.testing.assert_array_equal(split.load()[:, 0, 0], [0, 1])
    assert "train, val, test" in _error(ImageRecord, ("a.tif",), DMSO, split="training")
    assert "at least one file" in _error(ImageRecord, (), DMSO)


# ---------------------------------------------------------------------------- folders


def _folder_tree(root: Path) -> Path:
    _tif(root / "nocodazole@1" / "x.tif")
    _tif(root / "nocodazole@0.3" / "b.tiff")
    _tif(root / "nocodazole@0.3" / "a.tif")
    _tif(root / "DMSO" / "z.tif")
    (root / "DMSO" / "notes.txt").write_text("not an image")
    _tif(root / ".ipynb_checkpoints" / "stray.tif")
    return root


def test_from_folders_reads_conditions_in_canonical_order(tmp_path):
    records = from_folders(_folder_tree(tmp_path / "data"))
    assert [(r.condition.name, r.paths[0].name) for r in records] == [
        ("DMSO", "z.tif"), ("nocodazole@0.3", "a.tif"), ("nocodazole@0.3", "b.tiff"),
        ("nocodazole@1", "x.tif"),
    ]
    assert all(r.split is None and r.plate is None for r in records)
    assert records == from_folders(tmp_path / "data")


def test_from_folders_errors(tmp_path):
    assert "folder not found" in _error(from_folders, tmp_path / "nope")
    _tif(tmp_path / "file.tif")
    assert "not a folder" in _error(from_folders, tmp_path / "file.tif")
    (tmp_path / "empty").mkdir()
    assert "no condition folders" in _error(from_folders, tmp_path / "empty")
    _tif(tmp_path / "bad" / "DMSO" / "a.tif")
    _tif(tmp_path / "bad" / "noc@1uM" / "a.tif")
    message = _error(from_folders, tmp_path / "bad")
    assert "'noc@1uM'" in message and "<compound>@<concentration in µM>" in message
    # a folder without a dose is a condition (the control, once named at training)
    _tif(tmp_path / "mock" / "untreated" / "a.tif")
    _tif(tmp_path / "mock" / "noc@1" / "a.tif")
    records = from_folders(tmp_path / "mock")
    assert [r.condition for r in records] == [Condition("untreated"), Condition("noc", 1)]
    (tmp_path / "noimg" / "DMSO").mkdir(parents=True)
    (tmp_path / "noimg" / "DMSO" / "a.txt").write_text("x")
    assert "no images" in _error(from_folders, tmp_path / "noimg")


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("DMSO_P1_A01_f000.tif", ("", "A01", "0")),  # phendiff synth
        ("Week1_150607_B02_s4_w1ABC-DEF.tif", ("", "B02", "4")),  # BBBC021
        ("plate3-C12-site12.tif", ("", "C12", "12")),
        ("P12_A01_s1.tif", ("", "A01", "1")),  # the last well-like part: P12 is the plate
        ("Hoechst_s2.tif", ("", "", "2")),
        ("a01b_sX.tif", ("", "", "")),  # parts of words are not wells or fields
        ("untitled.tif", ("", "", "")),
    ],
)
def test_location_from_the_file_name(name, where):
    record = ImageRecord((name,), DMSO)
    assert tuple(record.location().values()) == where
    assert list(record.location()) == ["plate", "well", "field"]
    # what the source says comes first; the plate is never guessed
    given = ImageRecord((name,), DMSO, plate="P9", well="H11", field="3")
    assert given.location() == {"plate": "P9", "well": "H11", "field": "3"}


# ---------------------------------------------------------------------------- manifest


def test_manifest_single_file_per_image(tmp_path):
    _tif(tmp_path / "imgs" / "a.tif")
    _tif(tmp_path / "imgs" / "b.tif")
    absolute = _tif(tmp_path / "elsewhere" / "c.tif")
    manifest = _csv(tmp_path / "m" / "manifest.csv", [
        ["path", "Compound", "concentration", "plate", "well", "split", "Field"],
        ["../imgs/a.tif", "DMSO", "", "P1", "A01", "", "2"],
        ["../imgs/b.tif", "dmso", "0", "P1", "A02", "Train", ""],
        [str(absolute), "nocodazole", "0.3", "", "", "test", ""],
    ])
    records = from_manifest(manifest)
    assert [r.condition for r in records] == [DMSO, DMSO, NOC]
    assert records[0].paths == (tmp_path / "imgs" / "a.tif",)
    assert [r.split for r in records] == [None, "train", "test"]
    assert [(r.plate, r.well) for r in records] == [("P1", "A01"), ("P1", "A02"), (None, None)]
    assert records[0].channels is None  # a "path" column names no channel
    assert [r.field for r in records] == ["2", None, None]


def test_manifest_with_one_column_per_channel(tmp_path):
    for name in ("a", "b"):
        for channel in ("DNA", "actin"):
            _tif(tmp_path / f"{name}_{channel}.tif", (8, 8))
    manifest = _csv(tmp_path / "manifest.csv", [
        ["path_DNA", "compound", "path_actin", "concentration"],
        ["a_DNA.tif", "DMSO", "a_actin.tif", ""],
        ["b_DNA.tif", "nocodazole", "b_actin.tif", "0.3"],
    ])
    records = from_manifest(manifest)
    assert [[p.name for p in r.paths] for r in records] == [
        ["a_DNA.tif", "a_actin.tif"], ["b_DNA.tif", "b_actin.tif"]]
    assert records[1].load().shape == (2, 8, 8)
    assert records[0].channels == ("DNA", "actin")


def test_manifest_errors(tmp_path):
    _tif(tmp_path / "a.tif")
    m = tmp_path / "m.csv"
    _csv(m, [["file", "compound"], ["a.tif", "DMSO"]])
    message = _error(from_manifest, m)
    assert "missing column(s)" in message and "'file'" in message and "concentration" in message
    header = ["path", "compound", "concentration"]
    _csv(m, [header, ["a.tif", "DMSO", ""], ["a.tif", "noc", "lots"]])
    message = _error(from_manifest, m)
    assert "line 3" in message and "'lots'" in message
    _csv(m, [["path", "compound", "concentration"], ["a.tif", "untreated", ""]])
    assert [r.condition for r in from_manifest(m)] == [Condition("untreated")]  # a control
    _csv(m, [["path", "compound", "concentration"], ["", "untreated", ""]])
    assert "line 2" in _error(from_manifest, m)
    _csv(m, [["path", "compound", "concentration"], ["a.tif", "noc", "-1"]])
    assert "line 2" in _error(from_manifest, m)
    rows = [["path", "compound", "concentration"]] + [[f"x{i}.tif", "DMSO", ""] for i in range(5)]
    _csv(m, rows + [["a.tif", "DMSO", ""]])
    message = _error(from_manifest, m)
    assert "5 of 6 image files not found" in message and "and 2 more" in message
    assert "relative to the manifest folder" in message or "against the manifest folder" in message
    _csv(m, [["path", "compound", "concentration"], ["../../outside/x.tif", "DMSO", ""]])
    assert "outside" in _error(from_manifest, m)
    _csv(m, [["path", "compound", "concentration"]])
    assert "no rows" in _error(from_manifest, m)
    m.write_text("")
    assert "empty file" in _error(from_manifest, m)
    _csv(m, [["path", "compound", "concentration", "split"], ["a.tif", "DMSO", "", "holdout"]])
    assert "'holdout'" in _error(from_manifest, m)
    m.write_text("path;compound;concentration\na.tif;DMSO;\n")
    assert "comma-separated" in _error(from_manifest, m)
    assert "file not found" in _error(from_manifest, tmp_path / "none.csv")


# ---------------------------------------------------------------------------- BBBC021

BBBC021_HEADER = [
    "TableNumber", "ImageNumber", "Image_FileName_DAPI", "Image_PathName_DAPI",
    "Image_FileName_Tubulin", "Image_PathName_Tubulin", "Image_FileName_Actin",
    "Image_PathName_Actin", "Image_Metadata_Plate_DAPI", "Image_Metadata_Well_DAPI",
    "Replicate", "Image_Metadata_Compound", "Image_Metadata_Concentration",
]


def _bbbc021(root: Path, with_files=("DMSO", "nocodazole", "latrunculin B")) -> Path:
    """A fake BBBC021: CSV paths say Week1/Week1_22123, files sit in Week1_22123/."""
    rows = [BBBC021_HEADER]
    table = [("DMSO", 0.0, "B02"), ("DMSO", 0.0, "B03"), ("nocodazole", 1.0, "C02"),
             ("nocodazole", 3.0, "C03"), ("latrunculin B", 0.3, "D02"), ("taxol", 0.1, "E02")]
    for i, (compound, dose, well) in enumerate(table):
        names = [f"Week1_{well}_s1_w{c}_{i}.tif" for c in (1, 2, 4)]
        if compound in with_files:
            for name in names:
                _tif(root / "Week1_22123" / name, (12, 12))
        cells = []
        for name in names:
            cells += [name, "Week1/Week1_22123"]
        rows.append([1, i + 1, *cells, "Week1_22123", well, 1, compound, dose])
    return _csv(root / "BBBC021_v1_image.csv", rows)


def test_bbbc021_resolves_the_path_quirk_and_filters_compounds(tmp_path):
    csv_path = _bbbc021(tmp_path)
    records = from_bbbc021(csv_path, compounds=["dmso", "NOCODAZOLE", "latrunculin b"])
    assert [r.condition.name for r in records] == [
        "DMSO", "DMSO", "nocodazole@1", "nocodazole@3", "latrunculin B@0.3"]
    first = records[0]
    assert [p.name.split("_w")[1][0] for p in first.paths] == ["1", "2", "4"]  # DAPI, Tub, Act
    assert first.paths[0].parent == tmp_path / "Week1_22123"
    assert (first.plate, first.well, first.group) == ("Week1_22123", "B02", "Week1_22123/B02")
    assert first.load().shape == (3, 12, 12)
    assert first.channels == ("DAPI", "Tubulin", "Actin")
    treated = from_bbbc021(csv_path, compounds=["nocodazole"])
    assert {r.condition.compound for r in treated} == {"nocodazole"}


def test_bbbc021_literal_path_and_root(tmp_path):
    csv_path = _bbbc021(tmp_path / "meta", with_files=())
    literal = tmp_path / "images" / "Week1" / "Week1_22123"  # PathName taken as written
    for i, well in enumerate(("B02", "B03")):
        for c in (1, 2, 4):
            _tif(literal / f"Week1_{well}_s1_w{c}_{i}.tif", (12, 12))
    records = from_bbbc021(csv_path, root=tmp_path / "images", compounds=["DMSO"])
    assert [r.paths[0] for r in records] == [
        literal / "Week1_B02_s1_w1_0.tif", literal / "Week1_B03_s1_w1_1.tif"]


def test_bbbc021_errors(tmp_path):
    csv_path = _bbbc021(tmp_path)
    message = _error(from_bbbc021, csv_path, compounds=["DMSO", "aspirin"])
    assert "'aspirin'" in message and "latrunculin B" in message and "taxol" in message
    message = _error(from_bbbc021, csv_path)  # taxol's files were never unzipped
    assert "3 of 18 image files not found" in message and "Week1_22123/" in message
    _csv(tmp_path / "short.csv", [BBBC021_HEADER[:4]])
    assert "Image_Metadata_Compound" in _error(from_bbbc021, tmp_path / "short.csv")


# ---------------------------------------------------------------------------- load_source


def test_load_source_dispatches(tmp_path):
    folders = _folder_tree(tmp_path / "folders")
    assert load_source(folders) == from_folders(folders)
    assert [r.condition for r in load_source(folders, compounds=["DMSO"])] == [DMSO]
    _tif(tmp_path / "withm" / "a.tif")
    _csv(tmp_path / "withm" / "manifest.csv",
         [["path", "compound", "concentration"], ["a.tif", "DMSO", ""]])
    assert load_source(tmp_path / "withm")[0].paths == (tmp_path / "withm" / "a.tif",)
    assert len(load_source(tmp_path / "withm" / "manifest.csv", compounds=["dmso"])) == 1
    assert "'taxol'" in _error(load_source, tmp_path / "withm", compounds=["taxol"])
    bbbc = _bbbc021(tmp_path / "bbbc")
    assert len(load_source(bbbc, compounds=["nocodazole"])) == 2
    assert "not found" in _error(load_source, tmp_path / "nothing")
    _tif(tmp_path / "x.tif")
    assert "not a folder or a .csv" in _error(load_source, tmp_path / "x.tif")


# ---------------------------------------------------------------------------- splits


def _plate_records(n_wells=10, images_per_well=3) -> list[ImageRecord]:
    records = []
    for condition in (DMSO, NOC, Condition("taxol", 1.0)):
        for w in range(n_wells):
            for s in range(images_per_well):
                path = f"{condition.name}/w{w}_s{s}.tif"
                records.append(ImageRecord((path,), condition, plate="P1", well=f"{condition}{w}"))
    lonely = ImageRecord(("solo/a.tif",), Condition("herbimycin A", 1.0), plate="P1", well="Z1")
    return records + [lonely]


def test_assign_splits_groups_stratifies_and_is_deterministic():
    records = _plate_records()
    out = assign_splits(records, val_fraction=0.2, seed=3)
    assert [r.paths for r in out] == [r.paths for r in records]
    assert all(r.split in ("train", "val") for r in out)
    splits_by_group = {}
    for r in out:
        splits_by_group.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in splits_by_group.values())  # no well in both splits
    for condition in (DMSO, NOC):
        val_wells = {r.group for r in out if r.condition == condition and r.split == "val"}
        assert len(val_wells) == 2  # 20 % of 10 wells
    assert [r.split for r in out if r.condition.compound == "herbimycin A"] == ["train"]
    assert out == assign_splits(records, val_fraction=0.2, seed=3)
    seeds = {tuple(r.split for r in assign_splits(records, 0.2, seed)) for seed in range(5)}
    assert len(seeds) > 1


def test_assign_splits_small_fraction_still_gives_each_condition_a_val_group():
    out = assign_splits(_plate_records(n_wells=3), val_fraction=0.01)
    for condition in (DMSO, NOC):
        assert any(r.split == "val" for r in out if r.condition == condition)


def test_assign_splits_keeps_explicit_splits_and_groups():
    records = _plate_records(n_wells=4)
    fixed = {0: "test", 3: "val"}  # first images of wells DMSO0 and DMSO1
    records = [replace(r, split=fixed.get(i)) for i, r in enumerate(records)]
    out = assign_splits(records, val_fraction=0.5, seed=0)
    assert [r.split for r in out[:3]] == ["test"] * 3  # the rest of a test well stays test
    assert [r.split for r in out[3:6]] == ["val"] * 3
    assert "test" not in {r.split for r in out[6:]}


def test_assign_splits_zero_fraction_and_bad_arguments():
    records = _plate_records(n_wells=2)
    assert {r.split for r in assign_splits(records, val_fraction=0)} == {"train"}
    assert "val_fraction" in _error(assign_splits, records, val_fraction=1.0)
    assert "seed" in _error(assign_splits, records, seed=-1)


# ---------------------------------------------------------------------------- scan_images


def test_scan_images_summarises(tmp_path):
    records = [
        ImageRecord((_tif(tmp_path / "a.tif", (2, 20, 30), np.uint8, 200),), DMSO),
        ImageRecord((_tif(tmp_path / "b.tif", (2, 25, 22), np.uint16, 4000),), NOC),
    ]
    result = scan_images(records, min_size=20, progress=False)
    assert result == ScanResult(n_channels=2, dtype="uint16", shapes=[(20, 30), (25, 22)],
                                max_value=4000.0)


def test_scan_images_errors(tmp_path):
    good = [ImageRecord((_tif(tmp_path / f"g{i}.tif"),), DMSO) for i in range(3)]
    odd = ImageRecord((_tif(tmp_path / "odd.tif", (1, 16, 16)),), DMSO)
    message = _error(scan_images, [*good, odd], progress=False)
    assert "odd.tif: 1 channel(s) but 3 of 4 images have 3" in message
    small = ImageRecord((_tif(tmp_path / "small.tif", (3, 16, 10)),), DMSO)
    message = _error(scan_images, [*good, small], min_size=12, progress=False)
    assert "small.tif" in message and "(3, 16, 10)" in message and "12" in message
    assert "--image-size" in message
    nan = np.zeros((3, 16, 16), np.float32)
    nan[1, 2, 3] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", nan, photometric="minisblack")
    nan_record = ImageRecord((tmp_path / "nan.tif",), DMSO)
    assert "nan.tif" in _error(scan_images, [*good, nan_record], progress=False)
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    broken = ImageRecord((tmp_path / "broken.tif",), DMSO)
    assert "broken.tif" in _error(scan_images, [*good, broken], progress=False)
    assert "no images" in _error(scan_images, [], progress=False)

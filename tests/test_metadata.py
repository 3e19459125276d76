"""What a file says beyond its pixels survives translation: pixel size, channel names and
order, and provenance; channel names that disagree with the model's are an error."""

import csv
import logging

import numpy as np
import pytest
import tifffile

from phendiff.cli import main
from phendiff.data.io import read_image, write_tiff
from phendiff.data.metadata import read_notes, read_physical_size
from phendiff.errors import PhendiffError
from phendiff.translate.channels import channel_order, parse_channel_map

MODEL_NAMES = ("DNA", "tubulin", "actin")


def test_channel_order_by_name_in_any_order():
    assert channel_order(["DNA", "tubulin", "actin"], MODEL_NAMES) is None
    assert channel_order(["ACTIN", "dna", "Tubulin"], MODEL_NAMES) == (1, 2, 0)
    assert channel_order(None, MODEL_NAMES) is None  # a file that names nothing
    assert channel_order(["a", "b", "c"], MODEL_NAMES, ignore=True) is None
    assert channel_order(["a", "b", "c"], ("ch0", "ch1", "ch2")) is None  # an unnamed model
    mapping = parse_channel_map("DAPI=DNA,Tubulin=tubulin,Actin=actin")
    assert channel_order(["Tubulin", "Actin", "DAPI"], MODEL_NAMES, mapping) == (2, 0, 1)
    with pytest.raises(PhendiffError) as info:
        channel_order(["DAPI", "Tubulin", "Actin"], MODEL_NAMES, where="f.tif")
    message = str(info.value)
    assert "\n" not in message and "(DAPI, Tubulin, Actin)" in message
    assert "(DNA, tubulin, actin)" in message and "--channel-names DAPI=DNA" in message
    for bad in ("DAPI", "DAPI=DNA,dapi=DNA", "=DNA"):
        with pytest.raises(PhendiffError, match="INPUT=MODEL"):
            parse_channel_map(bad)


def test_physical_size_from_ome_imagej_and_resolution_tags(tmp_path):
    image = np.zeros((3, 8, 8), np.uint16)
    write_tiff(tmp_path / "a.ome.tif", image, MODEL_NAMES, physical_size=(0.5, 0.65))
    assert read_physical_size(tmp_path / "a.ome.tif") == (0.5, 0.65)
    tifffile.imwrite(tmp_path / "ij.tif", image, imagej=True, resolution=(1 / 0.33, 1 / 0.33),
                     metadata={"unit": "micron", "axes": "CYX"})  # fmt: skip
    assert read_physical_size(tmp_path / "ij.tif") == pytest.approx((0.33, 0.33))
    tifffile.imwrite(tmp_path / "cm.tif", image, resolution=(1e4 / 2, 1e4 / 2),
                     resolutionunit="CENTIMETER", photometric="minisblack")  # fmt: skip
    assert read_physical_size(tmp_path / "cm.tif") == pytest.approx((2.0, 2.0))
    tifffile.imwrite(
        tmp_path / "dpi.tif",
        image,
        resolution=(72, 72),
        resolutionunit="INCH",
        photometric="minisblack",
    )
    assert read_physical_size(tmp_path / "dpi.tif") is None  # 72 dpi is a placeholder
    tifffile.imwrite(tmp_path / "plain.tif", image, photometric="minisblack")
    assert read_physical_size(tmp_path / "plain.tif") is None
    nm = '<OME><Image><Pixels PhysicalSizeX="650" PhysicalSizeXUnit="nm"/></Image></OME>'
    tifffile.imwrite(tmp_path / "nm.tif", image, description=nm, photometric="minisblack")
    assert read_physical_size(tmp_path / "nm.tif") == pytest.approx((0.65, 0.65))


def _ome_inputs(screen, folder, names, order=(0, 1, 2), sizes=(0.65, 0.65)):
    """Two DMSO fields of the screen as OME-TIFFs with other channel names and pixel sizes."""
    folder.mkdir()
    paths = []
    for k, src in enumerate(sorted((screen / "DMSO").glob("*.tif"))[:2]):
        image = read_image(src)[list(order)]
        size = (sizes[k], sizes[k])
        paths.append(write_tiff(folder / f"f{k}.ome.tif", image, names, physical_size=size))
    return paths


def _translate(model, inputs, out, *extra):
    main(["translate", str(model), *map(str, inputs), "--source", "DMSO", "--target",
          "latrunculin@3", "--target", "DMSO", "--out", str(out), "--steps", "3", "-q",
          *extra])  # fmt: skip
    return list(csv.DictReader(open(out / "translations.csv")))


def test_translate_keeps_pixel_size_names_order_and_records_provenance(
    micro_model_dir, screen, tmp_path, caplog
):
    import phendiff

    plain = _translate(micro_model_dir, sorted((screen / "DMSO").glob("*.tif"))[:2],
                       tmp_path / "plain")  # fmt: skip
    names = ("Actin", "DAPI", "Tubulin")  # stored in another order, named otherwise
    inputs = _ome_inputs(screen, tmp_path / "in", names, order=(2, 0, 1), sizes=(0.65, 0.5))
    with caplog.at_level(logging.WARNING):
        rows = _translate(micro_model_dir, inputs, tmp_path / "out",
                          "--channel-names", "DAPI=DNA,Tubulin=tubulin,Actin=actin")  # fmt: skip
    assert "2 different pixel sizes" in caplog.text  # warned, each file keeps its own
    for row, ref, size in zip(rows, plain, (0.65, 0.65, 0.5, 0.5), strict=True):
        path = tmp_path / "out" / row["translated"]
        with tifffile.TiffFile(path) as tif:
            meta = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        assert meta["PhysicalSizeX"] == size and meta["PhysicalSizeY"] == size
        assert [c["Name"] for c in meta["Channel"]] == list(names)
        notes = read_notes(path)
        assert notes["source"] == "DMSO" and notes["target"] == row["target"]
        assert notes["model"] == str(micro_model_dir) and notes["phendiff"] == phendiff.__version__
        # the model saw the channels in its own order: the same result, in the file's order
        expected = tifffile.imread(tmp_path / "plain" / ref["translated"])[[2, 0, 1]]
        np.testing.assert_array_equal(tifffile.imread(path), expected)
    recon = tmp_path / "out" / rows[0]["reconstruction"]
    assert read_physical_size(recon) == (0.65, 0.65)
    assert read_notes(recon)["kind"] == "reconstruction"


def test_channel_name_mismatch_is_an_error_before_any_work(micro_model_dir, screen, tmp_path,
                                                           capsys):  # fmt: skip
    inputs = _ome_inputs(screen, tmp_path / "in", ("DAPI", "Tubulin", "Actin"))
    with pytest.raises(SystemExit) as exc:
        _translate(micro_model_dir, inputs, tmp_path / "out")
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1
    assert "(DAPI, Tubulin, Actin)" in err and "--channel-names" in err
    assert "--ignore-channel-names" in err and not (tmp_path / "out").exists()
    rows = _translate(micro_model_dir, inputs, tmp_path / "out", "--ignore-channel-names")
    written = tifffile.TiffFile(tmp_path / "out" / rows[0]["translated"])
    names = [
        c["Name"]
        for c in tifffile.xml2dict(written.ome_metadata)["OME"]["Image"]["Pixels"]["Channel"]
    ]  # noqa: E501
    written.close()
    assert names == ["DAPI", "Tubulin", "Actin"]  # the file's names, in the file's order

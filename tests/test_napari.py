"""The napari widget (phendiff.viewer) on the demo model, headless.

Needs the extra and a Qt binding (``pip install -e ".[napari]" pyqt5 pytest-qt``); skipped
without them. napari's canvas needs OpenGL: on Linux an X display, which pytest-xvfb starts
when Xvfb is installed (``apt-get install xvfb``, ``pip install pytest-xvfb``). Qt draws
offscreen either way. Translations use 2 plain-DDIM steps, so each takes seconds.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported
pytest.importorskip("napari")
pytest.importorskip("pytestqt")
if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
    pytest.skip(
        "napari's canvas needs OpenGL through an X display: apt-get install xvfb and "
        "pip install pytest-xvfb",
        allow_module_level=True,
    )

import phendiff  # noqa: E402
from phendiff.conditions import Condition  # noqa: E402
from phendiff.data.synthetic import render_field  # noqa: E402
from phendiff.viewer.layers import DIFFERENCE_COLORMAP, layer_image, result_layers  # noqa: E402
from phendiff.viewer.widget import TranslateWidget  # noqa: E402

CHANNELS = ("DNA", "tubulin", "actin")  # the demo model's
SCALE, OFFSET = (1.0, 0.65, 0.65), (0.0, 10.0, 20.0)  # µm per px, µm
LOAD_MS, RUN_MS = 120_000, 180_000  # generous: CI shares 2 cores


def _field(seed: int = 0) -> np.ndarray:
    return render_field(Condition("DMSO"), np.random.default_rng(seed))  # (3, 64, 64) uint16


# --- layers.py: no viewer needed ------------------------------------------------------


def test_layer_image_accepts_the_models_channels_only():
    image = _field()
    assert layer_image(image, CHANNELS, "a") is image
    assert layer_image(image[0], ("DNA",), "a").shape == (1, 64, 64)  # (Y, X), 1-channel model
    assert layer_image([image, image[:, ::2, ::2]], CHANNELS, "a", multiscale=True) is image
    cases = {
        "moveaxis": np.moveaxis(image, 0, -1),  # channels last
        "np.stack": image[0],  # one channel of three
        "first axis": image[:2],
    }
    for fix, data in cases.items():
        with pytest.raises(phendiff.PhendiffError) as info:
            layer_image(data, CHANNELS, "field")
        message = str(info.value)
        assert f"shape {data.shape}" in message and "3 channels (DNA, tubulin, actin)" in message
        assert fix in message and "\n" not in message
    with pytest.raises(phendiff.PhendiffError, match="is RGB"):
        layer_image(np.moveaxis(image, 0, -1), CHANNELS, "field", rgb=True)


def test_result_layers_difference_is_signed_in_input_units():
    image = np.full((2, 4, 5), 100, np.uint16)
    translated = np.stack([image - 30, image + 7, image])  # (T=3, C=2, Y, X)
    out, diff = result_layers(image, translated, "x", "d@all", ["d@1", "d@2", "d@3"],
                              ["a", "b"], scale=SCALE, translate=OFFSET)  # fmt: skip
    assert out[0] is translated and diff[0].dtype == np.float32
    np.testing.assert_array_equal(diff[0][:, 0, 0, 0], [-30, 7, 0])  # no uint16 wrap-around
    assert diff[1]["contrast_limits"] == [[-30.0, 30.0], [-30.0, 30.0]]
    assert out[1]["scale"] == (1.0, 0.65, 0.65) and out[1]["translate"] == (0.0, 10.0, 20.0)
    assert out[1]["name"] == ["x → d@all [a]", "x → d@all [b]"]
    with pytest.raises(phendiff.PhendiffError, match="expected"):
        result_layers(image, translated, "x", "d@all", ["d@1"], ["a", "b"])


# --- the widget -----------------------------------------------------------------------


@pytest.fixture
def viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(_field(), name="field", scale=SCALE, translate=OFFSET)
    return viewer


@pytest.fixture
def widget(viewer, qtbot):
    widget = TranslateWidget(viewer)
    viewer.window.add_dock_widget(widget, name="phendiff")
    qtbot.waitUntil(lambda: widget.translate_button.isEnabled(), timeout=LOAD_MS)
    assert widget.model is not None, widget.status.text()
    return widget


def _fast(widget: TranslateWidget) -> None:
    widget.steps_box.setValue(2)
    widget.inversion_box.setCurrentText("ddim")
    widget.target_box.setCurrentText("latrunculin@all")


def test_choices_come_from_the_model_and_the_cli_defaults(widget):
    table = widget.model.conditions
    sources = [widget.source_box.itemText(i) for i in range(widget.source_box.count())]
    targets = [widget.target_box.itemText(i) for i in range(widget.target_box.count())]
    assert sources == table.names and widget.source_box.currentText() == "DMSO"
    assert targets[:4] == ["herbimycin@all", "latrunculin@all", "nocodazole@all", "all"]
    assert targets[4:] == table.names
    assert widget.options() == phendiff.TranslateOptions()  # the CLI's defaults
    assert widget.layer_box.currentText() == "field"
    assert widget.model_edit.text() == str(phendiff.demo_model_path())


def test_translate_adds_dose_series_and_differences_without_blocking(widget, viewer, qtbot):
    _fast(widget)
    image = viewer.layers["field"].data
    worker = widget.translate()
    assert worker is not None and len(viewer.layers) == 1  # returned before the work ended
    assert not widget.translate_button.isEnabled()
    qtbot.waitUntil(lambda: len(viewer.layers) == 7, timeout=RUN_MS)
    qtbot.waitUntil(lambda: widget.translate_button.isEnabled(), timeout=RUN_MS)

    reference = phendiff.translate(widget.model, image, "DMSO", ["latrunculin@all"],
                                   options=widget.options())  # fmt: skip
    expected = reference.translated[0]  # (4, 3, 64, 64) uint16
    for c, channel in enumerate(CHANNELS):
        out = viewer.layers[f"field → latrunculin@all [{channel}]"]
        diff = viewer.layers[f"field → latrunculin@all − input [{channel}]"]
        assert out.data.shape == diff.data.shape == (4, 64, 64)  # the dose axis leads
        for layer in (out, diff):
            np.testing.assert_allclose(layer.scale, (1.0, 0.65, 0.65))
            np.testing.assert_allclose(layer.translate, (0.0, 10.0, 20.0))
            assert layer.metadata["phendiff"]["targets"] == [t.name for t in reference.targets]
        np.testing.assert_array_equal(out.data, expected[:, c])
        assert diff.data.dtype == np.float32
        independent = expected[:, c].astype(np.float64) - image[c].astype(np.float64)
        np.testing.assert_array_equal(diff.data, independent)
        low, high = diff.contrast_limits
        assert low == -high and high == pytest.approx(np.abs(independent).max())
        assert diff.colormap.name == DIFFERENCE_COLORMAP
    assert "added 6 layers: 4 target(s)" in widget.status.text()


def test_wrong_channel_count_says_what_to_do_and_adds_nothing(widget, viewer):
    viewer.add_image(_field()[:2], name="two channels")
    widget.layer_box.setCurrentText("two channels")
    assert widget.translate() is None
    message = widget.status.text()
    assert "'two channels' has shape (2, 64, 64)" in message
    assert "expects (C, Y, X) with 3 channels (DNA, tubulin, actin)" in message
    assert "first axis" in message and len(viewer.layers) == 2


def test_errors_in_the_worker_end_in_the_status_line(widget, viewer, qtbot):
    viewer.add_image(_field()[:, :32, :32], name="small")  # below the model's 64 px
    _fast(widget)
    widget.layer_box.setCurrentText("small")
    assert widget.translate() is not None
    qtbot.waitUntil(lambda: "smaller than the model's 64×64" in widget.status.text(),
                    timeout=RUN_MS)  # fmt: skip
    qtbot.waitUntil(lambda: widget.translate_button.isEnabled(), timeout=RUN_MS)
    assert len(viewer.layers) == 2


def test_a_bad_model_folder_is_one_line(widget, qtbot, tmp_path):
    widget.load_model(tmp_path)
    qtbot.waitUntil(lambda: widget.translate_button.isEnabled(), timeout=LOAD_MS)
    assert widget.model is None and str(tmp_path) in widget.status.text()
    assert widget.translate() is None and "no model loaded" in widget.status.text()


def test_the_plugin_opens_from_its_manifest(make_napari_viewer, qtbot):
    import npe2

    manager = npe2.PluginManager.instance()
    manager.discover()
    if "phendiff" not in manager._manifests:
        pytest.skip("phendiff's napari entry point is not installed: pip install -e '.[napari]'")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("phendiff", "Translate")
    assert isinstance(widget, TranslateWidget)
    qtbot.waitUntil(lambda: widget.translate_button.isEnabled(), timeout=LOAD_MS)
    assert widget.model is not None

"""The dock widget: translate an image layer to other conditions without leaving napari.

Pick an image layer, a model folder (the demo model by default), the layer's condition and
the targets — one condition, a dose series ``<compound>@all`` or ``all`` — then Translate.
Loading the model and translating both run in a worker thread, so the viewer stays live;
the results come back as layers that keep the input's pixel size (see
:mod:`phendiff.viewer.layers`). Every user mistake and every :class:`phendiff.PhendiffError`
ends as one line in the widget's status line, never as a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path

import napari
import numpy as np
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

import phendiff
from phendiff.config import INVERSIONS
from phendiff.viewer.layers import layer_image, result_layers

logger = logging.getLogger(__name__)


def _translate(model, image: np.ndarray, source: str, target: str, options):
    """Runs in the worker thread: the public API, as a notebook would call it."""
    return phendiff.translate(model, image, source, [target], options=options)


class TranslateWidget(QWidget):
    """Translate the chosen image layer with a phendiff model; results as new layers.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose image layers are offered and to which results are added (napari
        passes it by this name).
    model_path : str or path-like, optional
        The model folder loaded at start; default ``phendiff.demo_model_path()``.

    Attributes
    ----------
    model : PhendiffModel or None
        The loaded model; None while loading or after a failed load.
    worker : napari.qt.threading.FunctionWorker or None
        The running (or last) load or translation.
    status : QLabel
        The one-line status: what is happening, what was added, or what went wrong.

    Examples
    --------
    >>> viewer = napari.Viewer()                                    # doctest: +SKIP
    >>> viewer.window.add_dock_widget(TranslateWidget(viewer))      # doctest: +SKIP
    """

    def __init__(self, napari_viewer: napari.Viewer, model_path: str | Path | None = None):
        super().__init__()
        self.viewer = napari_viewer
        self.model = None
        self.worker = None
        defaults = phendiff.TranslateOptions()
        self.layer_box = QComboBox()
        self.model_edit = QLineEdit(str(model_path or phendiff.demo_model_path()))
        self.browse_button = QPushButton("Browse…")
        self.source_box = QComboBox()
        self.target_box = QComboBox()
        self.steps_box = QSpinBox()
        self.steps_box.setRange(1, 1000)
        self.steps_box.setValue(defaults.steps)
        self.guidance_box = QDoubleSpinBox()
        self.guidance_box.setRange(-20.0, 50.0)
        self.guidance_box.setSingleStep(0.5)
        self.guidance_box.setValue(defaults.guidance)
        self.inversion_box = QComboBox()
        self.inversion_box.addItems(list(INVERSIONS))
        self.inversion_box.setCurrentText(defaults.inversion)
        self.translate_button = QPushButton("Translate")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._layout()
        self.browse_button.clicked.connect(self._browse)
        self.model_edit.editingFinished.connect(self._model_path_edited)
        self.translate_button.clicked.connect(self.translate)
        for event in ("inserted", "removed", "reordered"):
            getattr(self.viewer.layers.events, event).connect(self._layers_changed)
        self._layers_changed()
        self.load_model(self.model_edit.text())

    def _layout(self) -> None:
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit)
        model_row.addWidget(self.browse_button)
        form = QFormLayout(self)
        form.addRow("image layer", self.layer_box)
        form.addRow("model", model_row)
        form.addRow("source", self.source_box)
        form.addRow("target", self.target_box)
        form.addRow("steps", self.steps_box)
        form.addRow("guidance", self.guidance_box)
        form.addRow("inversion", self.inversion_box)
        form.addRow(self.translate_button)
        form.addRow(self.status)

    # --- layers -------------------------------------------------------------------------

    def _layers_changed(self, event=None) -> None:
        """Offer the viewer's image layers, keeping the current choice when it is still there."""
        if event is not None and getattr(event, "type", "") == "inserted":
            event.value.events.name.connect(self._layers_changed)
        current = self.layer_box.currentData()
        self.layer_box.clear()
        for layer in self.viewer.layers:
            if isinstance(layer, napari.layers.Image):
                self.layer_box.addItem(layer.name, layer)
        index = self.layer_box.findText(current.name) if current is not None else -1
        if index >= 0:
            self.layer_box.setCurrentIndex(index)

    # --- model --------------------------------------------------------------------------

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "phendiff model folder",
                                                  self.model_edit.text())  # fmt: skip
        if folder:
            self.model_edit.setText(folder)
            self.load_model(folder)

    def _model_path_edited(self) -> None:
        path = self.model_edit.text().strip()
        if self.model is None or Path(path) != Path(self.model.path):
            self.load_model(path)

    def load_model(self, path: str | Path):
        """Load the model folder ``path`` in a worker thread; fills the condition choices.

        Returns
        -------
        napari.qt.threading.FunctionWorker
            Its ``returned`` signal fires once the model is loaded.
        """
        self.model = None
        self.source_box.clear()
        self.target_box.clear()
        self.translate_button.setEnabled(False)
        self._say(f"loading the model {path} …")
        self.worker = create_worker(phendiff.load_model, str(path), _start_thread=False,
                                    _connect={"returned": self._model_loaded,
                                              "errored": self._failed})  # fmt: skip
        self.worker.finished.connect(lambda: self.translate_button.setEnabled(True))
        self.worker.start()
        return self.worker

    def _model_loaded(self, model) -> None:
        self.model = model
        table = model.conditions
        self.source_box.addItems(table.names)
        if table.control_name is not None:
            self.source_box.setCurrentText(table.control_name)
        targets = [f"{compound}@all" for compound in table.compounds] + ["all", *table.names]
        self.target_box.addItems(targets)
        channels = ", ".join(model.config.channel_names)
        self._say(f"model {Path(model.path).name}: {len(table)} conditions, channels {channels}")

    # --- translation --------------------------------------------------------------------

    def options(self):
        """The translation options: the CLI's defaults with this widget's steps, guidance
        and inversion (a :class:`phendiff.TranslateOptions`)."""
        return phendiff.TranslateOptions(steps=self.steps_box.value(),
                                         guidance=self.guidance_box.value(),
                                         inversion=self.inversion_box.currentText())  # fmt: skip

    def translate(self):
        """Translate the chosen layer to the chosen targets in a worker thread.

        Returns at once; the result layers are added when the worker returns. A layer the
        model cannot take, or a missing model, is reported in :attr:`status` and adds nothing.

        Returns
        -------
        napari.qt.threading.FunctionWorker or None
            The running translation, or None when it could not start.
        """
        layer = self.layer_box.currentData()
        if self.model is None:
            return self._say("no model loaded yet; wait for it or pick a model folder", True)
        if layer is None:
            return self._say("no image layer; open an image (C, Y, X) in napari first", True)
        source, target = self.source_box.currentText(), self.target_box.currentText()
        try:
            image = layer_image(layer.data, self.model.config.channel_names, layer.name,
                                rgb=layer.rgb, multiscale=layer.multiscale)  # fmt: skip
            targets = [c.name for c in self.model.conditions.resolve(target)]
            options = self.options()
        except phendiff.PhendiffError as exc:
            return self._say(str(exc), True)
        self.translate_button.setEnabled(False)
        self._say(f"translating {layer.name!r} from {source} to {len(targets)} condition(s) …")
        self.worker = create_worker(_translate, self.model, image, source, target, options,
                                    _start_thread=False,
                                    _connect={"errored": self._failed})  # fmt: skip
        self.worker.returned.connect(
            lambda result: self._add_results(result, layer, image, target)
        )
        self.worker.finished.connect(lambda: self.translate_button.setEnabled(True))
        self.worker.start()
        return self.worker

    def _add_results(self, result, layer, image: np.ndarray, target: str) -> None:
        names = [c.name for c in result.targets]
        units = getattr(layer, "units", None)
        units = None if units is None else [str(u) for u in units]
        layers = result_layers(image, result.translated[0], layer.name, target, names,
                               self.model.config.channel_names, scale=layer.scale,
                               translate=layer.translate,
                               units=units)  # fmt: skip
        for data, kwargs, _ in layers:
            self.viewer.add_image(data, **kwargs)
        added = sum(data.shape[1] for data, _, _ in layers)
        series = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"
        self._say(f"added {added} layers: {len(names)} target(s) on the slider ({series}); "
                  f"round trip PSNR {result.metrics[0]['psnr']:.0f} dB")  # fmt: skip

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, phendiff.PhendiffError):
            self._say(str(exc), True)
        else:  # a bug, not a user error: keep the traceback in the log
            logger.error("phendiff widget: %s", exc, exc_info=exc)
            self._say(f"failed: {type(exc).__name__}: {exc}", True)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        if error:
            self.status.setStyleSheet("color: #e05050")
            show_error(text)
        else:
            self.status.setStyleSheet("")

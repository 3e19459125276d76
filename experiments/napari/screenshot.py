"""The README's screenshot of the napari widget: a synthetic DMSO field translated to the
latrunculin dose series with the demo model, at the CLI's default settings.

    xvfb-run -a python experiments/napari/screenshot.py docs/napari_widget.png

Needs ``pip install -e ".[napari]" pyqt5`` and an X display: on a headless Debian machine
``apt-get install xvfb libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
libxcb-render-util0 libxcb-xinerama0 libxcb-shape0`` (Qt's xcb platform).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")  # a real window: the GL canvas is grabbed too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--dose", type=int, default=3, help="slider position (0 = lowest dose)")
    args = parser.parse_args()

    import tempfile

    os.environ["NAPARI_CONFIG"] = os.path.join(tempfile.mkdtemp(), "settings.yaml")
    import napari
    from napari.settings import get_settings
    from qtpy.QtWidgets import QApplication

    from phendiff.conditions import Condition
    from phendiff.data.synthetic import render_field
    from phendiff.viewer.widget import TranslateWidget

    # no deprecation toasts over the canvas, in settings of this run only (not the user's)
    get_settings().application.gui_notification_level = "error"
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 800)
    field = render_field(Condition("DMSO"), np.random.default_rng(3))
    viewer.add_image(field, name="DMSO field", scale=(0.65, 0.65))
    widget = TranslateWidget(viewer)
    viewer.window.add_dock_widget(widget, name="phendiff", area="right")
    app = QApplication.instance()

    def wait(done, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() > end:
                raise SystemExit(f"timed out; widget says: {widget.status.text()}")
            app.processEvents()
            time.sleep(0.05)

    wait(lambda: widget.model is not None and widget.translate_button.isEnabled(), 300)
    widget.target_box.setCurrentText("latrunculin@all")
    widget.translate()
    wait(lambda: len(viewer.layers) > 1 and widget.translate_button.isEnabled(), 900)
    print(widget.status.text())
    # show the input's DNA channel beside the translation's, and the actin difference
    for layer in viewer.layers:
        layer.visible = False
    names = [layer.name for layer in viewer.layers]
    shown = [n for n in names if n.endswith("[actin]") and "−" not in n]
    shown += [n for n in names if n.endswith("[actin]") and "−" in n]
    for name in shown:
        viewer.layers[name].visible = True
    viewer.grid.enabled = True
    viewer.grid.shape = (1, 2)
    viewer.dims.set_current_step(0, args.dose)
    viewer.reset_view()
    wait(lambda: True, 1)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.05)
    image = viewer.screenshot(canvas_only=False, flash=False)
    import imageio.v3 as iio

    iio.imwrite(args.out, image)
    print(f"wrote {args.out} {image.shape}")
    viewer.close()


if __name__ == "__main__":
    main()

"""The napari plugin (``pip install "phendiff[napari]" pyqt5``): translate an image layer.

- ``layers.py``  numpy only: a layer's data checked against the model's channels, and the
                 translated and difference layers as napari layer-data tuples;
- ``widget.py``  :class:`~phendiff.viewer.widget.TranslateWidget`, the dock widget that
                 ``napari.yaml`` contributes: pick a layer, a model, a source and targets;
                 the translation runs in a worker thread.

Only phendiff's public API is used (``phendiff.load_model``, ``phendiff.translate``), as a
notebook would; nothing here is imported by the rest of phendiff. The package is not called
``napari`` so that it never shadows napari itself.
"""

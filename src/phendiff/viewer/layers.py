"""From an image layer to the model's input, and from a translation to napari layers.

numpy only (no Qt, no napari), so every rule here is tested without a display. A layer's
data must be ``(C, Y, X)`` with the model's channel count, or ``(Y, X)`` for a one-channel
model; nothing is guessed from the shape. The results are napari layer-data tuples
``(data, kwargs, "image")``: the translated images and their signed differences to the
input, each ``(T, C, Y, X)`` with the targets on the leading (slider) axis and the channels
split into layers by ``channel_axis=1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from phendiff import PhendiffError

# diverging colormap of the difference layers: 0 (no change) is white
DIFFERENCE_COLORMAP = "PiYG"


def layer_image(
    data,
    channel_names: Sequence[str],
    layer_name: str,
    rgb: bool = False,
    multiscale: bool = False,
) -> np.ndarray:
    """The model's input ``(C, Y, X)`` from an image layer's data.

    Parameters
    ----------
    data : array-like
        ``layer.data``: ``(C, Y, X)`` with ``C == len(channel_names)``, or ``(Y, X)`` when
        the model has one channel. Any dtype (uint8, uint16, float); for a multiscale layer,
        the list of levels (the full-resolution level 0 is used).
    channel_names : sequence of str
        The model's channels, in its order.
    layer_name : str
        Named in the error message.
    rgb, multiscale : bool
        ``layer.rgb`` and ``layer.multiscale``.

    Returns
    -------
    numpy.ndarray
        ``(C, Y, X)`` in the layer's dtype and units.

    Raises
    ------
    PhendiffError
        One line: the shape received, the shape expected, and how to fix it.
    """
    image = np.asarray(data[0] if multiscale else data)
    n = len(channel_names)
    expected = f"(C, Y, X) with {n} channels ({', '.join(channel_names)})"
    if n == 1:
        expected += " or (Y, X)"
    if rgb:
        raise PhendiffError(
            f"layer {layer_name!r} is RGB, shape {image.shape}; the model expects {expected} "
            "— open the image with rgb=False and the channels first: np.moveaxis(data, -1, 0)"
        )
    if image.ndim == 2 and n == 1:
        return image[np.newaxis]
    if image.ndim == 3 and image.shape[0] == n:
        return image
    if image.ndim == 3 and image.shape[-1] == n:
        fix = "put the channels first: viewer.add_image(np.moveaxis(data, -1, 0))"
    elif image.ndim == 2:
        fix = f"stack the {n} channel layers into one (C, Y, X) layer: np.stack([...])"
    else:
        fix = f"pick a layer whose first axis holds the model's {n} channels"
    raise PhendiffError(
        f"layer {layer_name!r} has shape {image.shape}; the model expects {expected} — {fix}"
    )


def spatial(values: Sequence[float] | None, default: float, ndim: int = 2) -> tuple:
    """The last ``ndim`` entries of a layer's ``scale``, ``translate`` or ``units`` (the
    Y and X axes), or ``default`` for each when ``values`` is None."""
    if values is None:
        return (default,) * ndim
    return tuple(values)[-ndim:]


def result_layers(
    image: np.ndarray,
    translated: np.ndarray,
    layer_name: str,
    targets_label: str,
    target_names: Sequence[str],
    channel_names: Sequence[str],
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
    units: Sequence[str] | None = None,
) -> list[tuple[np.ndarray, dict, str]]:
    """The translated images and their differences to the input, as napari layer data.

    Parameters
    ----------
    image : numpy.ndarray
        The input, ``(C, Y, X)`` in its units.
    translated : numpy.ndarray
        ``(T, C, Y, X)``: ``phendiff.translate(...).translated[0]``, in the input's dtype.
    layer_name : str
        The input layer's name; the layers are named ``"<layer> → <targets> [<channel>]"``
        and ``"<layer> → <targets> − input [<channel>]"``.
    targets_label : str
        The targets as the user gave them (``"latrunculin@all"``).
    target_names : sequence of str
        The T conditions in slider order (stored in each layer's ``metadata``).
    channel_names : sequence of str
        The C channel names.
    scale, translate : sequence of float, optional
        The input layer's; their last two entries (Y, X) are kept, the target axis gets
        scale 1 and offset 0.
    units : sequence of str, optional
        The input layer's axis units (napari ≥ 0.6), kept likewise.

    Returns
    -------
    list of (numpy.ndarray, dict, str)
        Two ``(data, kwargs, "image")`` tuples for ``viewer.add_image(data, **kwargs)``:
        the translation ``(T, C, Y, X)`` in the input's dtype, contrast limits per channel
        spanning input and outputs; the difference ``translated − input`` as float32 in the
        input's units, colormap :data:`DIFFERENCE_COLORMAP`, contrast limits ``±max|d|``.
    """
    t, c = translated.shape[:2]
    if translated.shape[1:] != image.shape or len(target_names) != t:
        raise PhendiffError(
            f"translation of shape {translated.shape} for input {image.shape} and "
            f"{len(target_names)} targets; expected (targets, C, Y, X)"
        )
    difference = translated.astype(np.float32) - image.astype(np.float32)[np.newaxis]
    common = {
        "channel_axis": 1,
        "scale": (1.0, *spatial(scale, 1.0)),
        "translate": (0.0, *spatial(translate, 0.0)),
    }
    if units is not None:
        common["units"] = ("pixel", *spatial(units, "pixel"))
    low = np.minimum(image.min(axis=(1, 2)), translated.min(axis=(0, 2, 3))).astype(float)
    high = np.maximum(image.max(axis=(1, 2)), translated.max(axis=(0, 2, 3))).astype(float)
    bound = np.abs(difference).max(axis=(0, 2, 3)).astype(float)
    bound[bound == 0] = 1.0  # napari needs low < high
    meta = {"targets": list(target_names), "source_layer": layer_name}
    out = {
        **common,
        "name": [f"{layer_name} → {targets_label} [{ch}]" for ch in channel_names],
        "contrast_limits": [[lo, max(hi, lo + 1)] for lo, hi in zip(low, high, strict=True)],
        "metadata": [{"phendiff": {**meta, "kind": "translated", "channel": ch}}
                     for ch in channel_names],
    }  # fmt: skip
    diff = {
        **common,
        "name": [f"{layer_name} → {targets_label} − input [{ch}]" for ch in channel_names],
        "colormap": [DIFFERENCE_COLORMAP] * c,
        "contrast_limits": [[-b, b] for b in bound],
        "blending": "translucent",
        "metadata": [{"phendiff": {**meta, "kind": "difference", "channel": ch}}
                     for ch in channel_names],
    }  # fmt: skip
    return [(translated, out, "image"), (difference, diff, "image")]

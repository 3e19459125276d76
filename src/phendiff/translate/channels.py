"""Matching an input's channel names with the model's before anything is translated.

A file that names its channels (OME-TIFF, BBBC021's per-channel columns, a manifest's
``path_<channel>`` columns) is matched to the model's channels by name, case-insensitively,
in any order: a file whose channels are stored in another order is reordered for the model
and written back in its own order, under its own names. Names that differ from the model's
are an error unless ``--channel-names`` maps them (``DAPI=DNA,Tubulin=tubulin,...``) or
``--ignore-channel-names`` takes the channels in file order. Files without names, and
models trained on unnamed channels (``ch0, ch1, ...``), take the channels in file order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from phendiff.errors import PhendiffError


def parse_channel_map(text: str | None) -> dict[str, str] | None:
    """``"DAPI=DNA,Tubulin=tubulin"`` as ``{"DAPI": "DNA", "Tubulin": "tubulin"}``.

    Examples
    --------
    >>> parse_channel_map("DAPI=DNA, Actin=actin")
    {'DAPI': 'DNA', 'Actin': 'actin'}
    """
    if text is None:
        return None
    out: dict[str, str] = {}
    for part in text.split(","):
        name, sep, model = (s.strip() for s in part.partition("="))
        if not (sep and name and model) or name.lower() in {k.lower() for k in out}:
            raise PhendiffError(
                f"--channel-names {text!r}: {part.strip()!r} is not INPUT=MODEL or names an "
                "input channel twice; expected e.g. --channel-names DAPI=DNA,Tubulin=tubulin"
            )
        out[name] = model
    return out


def channel_order(
    given: Sequence[str] | None,
    model: Sequence[str],
    mapping: Mapping[str, str] | None = None,
    ignore: bool = False,
    where: str = "input",
) -> tuple[int, ...] | None:
    """Indices that put a file's channels in the model's order, or None to keep file order.

    Parameters
    ----------
    given : sequence of str or None
        The file's channel names in file order (None: the file names none).
    model : sequence of str
        The model's channel names.
    mapping : mapping of str to str, optional
        Input name → model name, for names that differ (case-insensitive keys).
    ignore : bool
        Take the channels in file order whatever their names.
    where : str
        The file, for the message.

    Returns
    -------
    tuple of int or None
        ``order`` with ``image[list(order)]`` in model order; None when that is file order.

    Examples
    --------
    >>> channel_order(["Actin", "DAPI", "Tubulin"], ["DNA", "tubulin", "actin"], {"DAPI": "DNA"})
    (1, 2, 0)
    """
    if given is None or ignore or list(model) == [f"ch{i}" for i in range(len(model))]:
        return None  # nothing named, names ignored, or a model trained on unnamed channels
    lower = {k.lower(): v for k, v in (mapping or {}).items()}
    named = [lower.get(n.lower(), n).lower() for n in given]
    wanted = [m.lower() for m in model]
    if sorted(named) != sorted(wanted) or len(set(named)) != len(named):
        suggest = ",".join(f"{g}={m}" for g, m in zip(given, model, strict=False))
        raise PhendiffError(
            f"{where}: channels ({', '.join(given)}) do not match the model's "
            f"({', '.join(model)}); map them with --channel-names {suggest} (INPUT=MODEL, "
            "any order) or pass --ignore-channel-names to take them in file order"
        )
    order = tuple(named.index(m) for m in wanted)
    return None if order == tuple(range(len(order))) else order

"""The inputs of an evaluation: the real screen and a ``phendiff translate`` output folder.

:func:`load_sets` reads both and checks they match; :func:`feature_scale` and
:func:`channel_role` settle the intensity scale and the channel of nuclei and cell bodies.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phendiff.conditions import CONTROL, Condition
from phendiff.data.io import read_channel_names, read_image
from phendiff.data.sources import load_source
from phendiff.errors import PhendiffError
from phendiff.translate.files import read_index

log = logging.getLogger(__name__)

DNA_NAMES = ("dna", "dapi", "hoechst", "nuclei", "nucleus")
CYTO_NAMES = ("actin", "phalloidin", "tubulin", "cytoplasm", "cellmask", "membrane")


@dataclass
class Sets:
    """Images of the evaluation, each (C, Y, X) in file units, keyed by condition name.

    Every image has a metadata dict in the ``*_meta`` tables, in the same order: its
    ``image`` key (``real/<condition>/<file stem>``, ``translated/<target>/<input id>``;
    also the name of its masks), ``path`` (its file), ``input`` (the file it was translated
    from; the path itself for real images), ``plate``, ``well`` and ``field`` (``""`` where
    unknown; :meth:`~phendiff.data.sources.ImageRecord.location`). ``control`` is the
    condition the others are compared with.
    """

    channel_names: tuple[str, ...]
    real: dict[str, list[np.ndarray]]
    translated: dict[str, list[tuple[str, np.ndarray]]]  # target → (input id, image)
    sources: dict[str, tuple[str, np.ndarray]]  # input id → (source condition, image)
    reconstructions: dict[str, np.ndarray]  # input id → round trip
    recon_rows: list[dict]
    real_meta: dict[str, list[dict]] = field(default_factory=dict)
    translated_meta: dict[str, list[dict]] = field(default_factory=dict)
    reconstruction_meta: dict[str, dict] = field(default_factory=dict)  # input id → metadata
    control: str = CONTROL

    def items(self):
        """``(image, metadata)`` of every image to measure, metadata with ``kind`` and
        ``condition``: real images of the translation targets and the control, every
        translation, and the round trips of sources that are not a target (the translated
        control)."""
        targets = set(self.translated)
        out = []
        for condition, images in self.real.items():
            if condition in targets or condition == self.control:
                meta = self.real_meta[condition]
                out += [
                    (im, {**m, "condition": condition, "kind": "real"})
                    for im, m in zip(images, meta, strict=True)
                ]
        for target, pairs in self.translated.items():
            meta = self.translated_meta[target]
            out += [
                (im, {**m, "condition": target, "kind": "translated"})
                for (_, im), m in zip(pairs, meta, strict=True)
            ]
        for id_, (source, _) in self.sources.items():
            if source not in targets:
                meta = {**self.reconstruction_meta[id_], "condition": source}
                out.append((self.reconstructions[id_], {**meta, "kind": "translated"}))
        return out


def record_meta(record, key: str) -> dict:
    """The metadata of an untranslated image (see :class:`Sets`): its key, file and location."""
    path = str(record.paths[0])
    return {"image": key, "path": path, "input": path, **record.location()}


def load_sets(
    real: str | Path, translated: str | Path, progress: bool = False, control: str | None = None
) -> Sets:
    """Read the real screen and a ``phendiff translate`` output folder; check they match.

    ``control`` names the control; None: the one of the model that translated (from
    ``translate.json``), else ``DMSO``."""
    from tqdm.auto import tqdm

    translated = Path(translated)
    rows = read_index(translated)
    if not rows:
        raise PhendiffError(f"{translated}/translations.csv has no rows; nothing to evaluate")
    out = Sets((), {}, {}, {}, {}, [], control=_control(translated, control))
    stems: dict[str, int] = {}
    for record in tqdm(load_source(real), desc="reading real images", disable=not progress):
        name = record.condition.name
        key = f"real/{name}/{record.paths[0].stem}"
        stems[key] = stems.get(key, 0) + 1
        key += f"~{stems[key]}" if stems[key] > 1 else ""  # one stem twice (other folders)
        out.real.setdefault(name, []).append(record.load())
        out.real_meta.setdefault(name, []).append(record_meta(record, key))
    for row in tqdm(rows, desc="reading translations", disable=not progress):
        image = read_image(translated / row["translated"])
        out.translated.setdefault(row["target"], []).append((row["id"], image))
        where = {k: row[k] for k in ("plate", "well", "field")}
        out.translated_meta.setdefault(row["target"], []).append(
            {"image": f"translated/{row['target']}/{row['id']}",
             "path": str(translated / row["translated"]), "input": row["input"], **where}
        )  # fmt: skip
        if row["id"] not in out.sources:
            out.sources[row["id"]] = (row["source"], read_image(row["input"]))
            out.reconstructions[row["id"]] = read_image(translated / row["reconstruction"])
            out.reconstruction_meta[row["id"]] = {
                "image": f"translated/{row['source']}/{row['id']}",
                "path": str(translated / row["reconstruction"]),
                "input": row["input"],
                **where,
            }
            out.recon_rows.append(
                {
                    "id": row["id"],
                    "source": row["source"],
                    **{k: float(row[k]) for k in row if k.startswith("recon_")},
                }
            )
    first_real = next(iter(out.real.values()))[0]
    first_translated = next(iter(out.translated.values()))[0][1]
    if first_real.shape[0] != first_translated.shape[0]:
        raise PhendiffError(
            f"real images have {first_real.shape[0]} channels but translated ones have "
            f"{first_translated.shape[0]}; evaluate translations of this screen's images"
        )
    names = read_channel_names(translated / rows[0]["translated"])
    out.channel_names = names or tuple(f"ch{i}" for i in range(first_real.shape[0]))
    missing = sorted(set(out.translated) - set(out.real))
    if missing:
        log.warning(
            "no real images of %s: FID and statistics for them are not computed", ", ".join(missing)
        )
    return out


def _control(translated: Path, given: str | None) -> str:
    """The control's name: ``given``, else the translating model's, else ``DMSO``."""
    if given is not None:
        return Condition.parse(given).name
    try:
        recorded = json.loads((translated / "translate.json").read_text()).get("control")
    except (OSError, ValueError, AttributeError):
        recorded = None  # an older or hand-made folder: the default control
    return recorded or CONTROL


def feature_scale(images: Sequence[np.ndarray]) -> float:
    """One intensity scale for all sets: the real data's bit depth (2^k − 1), or 1 for floats."""
    if images[0].dtype.kind == "f":
        return max(1.0, float(max(im.max() for im in images)))
    top = max(int(im.max()) for im in images)
    return float(2 ** max(8, math.ceil(math.log2(top + 1))) - 1)


def channel_role(names: Sequence[str], given: str | None, wanted: Sequence[str]) -> str | None:
    """The channel that plays a role: ``given`` if it is one of ``names``, else the first name
    containing one of ``wanted`` (case-insensitive, in order of ``wanted``), else None."""
    if given is not None:
        if given not in names:
            raise PhendiffError(f"channel {given!r} is not one of {', '.join(names)}")
        return given
    for want in wanted:
        for name in names:
            if want in name.lower():
                return name
    return None


def same_size(images: list[np.ndarray]) -> list[np.ndarray]:
    """Centre-crop to the smallest size so images of a set stack (the network resizes)."""
    h = min(im.shape[1] for im in images)
    w = min(im.shape[2] for im in images)
    out = []
    for im in images:
        y, x = (im.shape[1] - h) // 2, (im.shape[2] - w) // 2
        out.append(im[:, y : y + h, x : x + w])
    return out

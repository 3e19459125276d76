"""Which images to translate: files, folders, manifests or BBBC021 CSVs, and their conditions.

Used by ``phendiff translate`` and ``phendiff baseline translate`` alike.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path

from phendiff.conditions import CONTROL, Condition, ConditionTable
from phendiff.data.io import IMAGE_SUFFIXES
from phendiff.data.sources import ImageRecord, load_source
from phendiff.errors import PhendiffError


def collect_inputs(
    inputs: Sequence[str | Path],
    source: str | None = None,
    compounds: Sequence[str] | None = None,
    conditions: ConditionTable | None = None,
) -> list[ImageRecord]:
    """Image records from files, folders, manifests or BBBC021 CSVs.

    A condition known from the layout (folder per condition, manifest) is the source; loose
    image files take ``source``, and so do the images of a folder, which without ``source``
    take the condition the folder is named after (``SCREEN/DMSO``, ``SCREEN/untreated``): one
    of the model's ``conditions`` when they are given. A ``source`` that contradicts a
    manifest or a folder of condition folders is an error. ``compounds`` keeps only those
    compounds of manifests, BBBC021 CSVs and folders of condition folders (case-insensitive;
    the control only if listed). With ``conditions``, names are spelled as the model spells
    them (``Untreated`` for ``untreated``).
    """
    spell = functools.partial(_spelled, conditions)
    given = spell(Condition.parse(source)) if source else None
    records: list[ImageRecord] = []
    for item in map(Path, inputs):
        if item.is_file() and item.suffix.lower() in IMAGE_SUFFIXES:
            records.append(_loose(item, given))
        elif item.is_dir() and _loose_images(item):
            source_here = given or _folder_condition(item, conditions)  # SCREEN/DMSO is DMSO
            records.extend(_loose(p, source_here) for p in _loose_images(item))
        elif item.exists():
            for record in load_source(item, compounds=compounds):
                record = dataclasses.replace(record, condition=spell(record.condition))
                if given is not None and record.condition != given:
                    raise PhendiffError(
                        f"{record.name}: its condition is {record.condition.name} (from "
                        f"{item}) but --source is {given.name}; drop --source"
                    )
                records.append(record)
        else:
            raise PhendiffError(
                f"{item}: no such file or folder; expected image files, a "
                "folder of images or conditions, or a manifest CSV"
            )
    if not records:
        raise PhendiffError("no input images given; pass image files, folders or a manifest")
    return records


def _spelled(conditions: ConditionTable | None, condition: Condition) -> Condition:
    """``condition`` as the model's table spells it, where the table knows it."""
    if conditions is None:
        return condition
    try:
        return conditions.find(condition)
    except PhendiffError:
        return condition  # unknown conditions are reported together, later


def _folder_condition(folder: Path, conditions: ConditionTable | None) -> Condition | None:
    """The condition a folder of images is named after, if any: one of ``conditions`` when
    given, else ``DMSO`` or ``<compound>@<concentration>``."""
    try:
        condition = Condition.parse(folder.name)
    except PhendiffError:
        return None
    if conditions is not None:
        spelled = _spelled(conditions, condition)
        return spelled if spelled in conditions.conditions else None
    return condition if condition.dosed or condition == Condition(CONTROL) else None


def _loose_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _loose(path: Path, source: Condition | None) -> ImageRecord:
    if source is None:
        raise PhendiffError(
            f"{path}: the source condition of this image is unknown; pass "
            "--source (e.g. --source DMSO) or give its condition folder"
        )
    return ImageRecord((path,), source)

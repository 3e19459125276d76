"""The training data of a run: records, validation split, channel names, condition table."""

from __future__ import annotations

from pathlib import Path

from phendiff.conditions import ConditionTable
from phendiff.config import TrainConfig
from phendiff.data.dataset import TrainingImages
from phendiff.data.io import read_channel_names
from phendiff.data.sources import ImageRecord, assign_splits, load_source, scan_images
from phendiff.errors import PhendiffError


def load_data(
    data: Path, config: TrainConfig, progress: bool
) -> tuple[TrainingImages, TrainingImages | None, ConditionTable, tuple[str, ...]]:
    """Training and validation images, the condition table and the channel names of ``data``.

    Every image is scanned before anything is written, so bad input fails up front.
    """
    records = assign_splits(
        load_source(data, compounds=config.compounds), config.val_fraction, config.seed
    )
    records = [r for r in records if r.split in ("train", "val")]
    size = config.model.image_size
    scan = scan_images(
        records,
        channel_axis=config.channel_axis,
        min_size=size if config.crop == "random" else None,
        progress=progress,
    )
    channels = channel_names(config.channel_names, scan.n_channels, records, data)
    table = ConditionTable.from_conditions((r.condition for r in records), config.control)
    train_records = [r for r in records if r.split == "train"]
    val_records = [r for r in records if r.split == "val"]
    if not train_records:
        raise PhendiffError(
            f"{data}: no training images left after the validation split; "
            "add images or lower val_fraction"
        )
    missing = sorted(set(table.names) - {r.condition.name for r in train_records})
    if missing:
        raise PhendiffError(
            f"{data}: conditions {', '.join(missing)} have no training images "
            "(all went to validation); add images or lower val_fraction"
        )
    kw = dict(table=table, image_size=size, crop=config.crop, channel_axis=config.channel_axis)
    images = TrainingImages(train_records, augment=config.augment, progress=progress, **kw)
    val = TrainingImages(val_records, augment=False, **kw) if val_records else None
    return images, val, table, channels


def channel_names(
    requested: tuple[str, ...] | None, n: int, records: list[ImageRecord], data: Path
) -> tuple[str, ...]:
    """Names given by the user, else by the source or the OME metadata, else ch0, ch1, ..."""
    if requested is not None:
        if len(requested) != n:
            raise PhendiffError(
                f"{data}: images have {n} channels but {len(requested)} channel names were "
                f"given ({', '.join(requested)}); pass one name per channel"
            )
        return tuple(requested)
    found = records[0].channels
    if found is None and len(records[0].paths) == 1:
        found = read_channel_names(records[0].paths[0])
    if found is not None and len(found) == n:
        return tuple(found)
    return tuple(f"ch{i}" for i in range(n))

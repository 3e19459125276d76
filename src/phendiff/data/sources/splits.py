"""Train/val splits assigned one plate/well group at a time: :func:`assign_splits`."""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np

from phendiff.conditions import Condition
from phendiff.data.sources.records import ImageRecord
from phendiff.errors import PhendiffError


def _primary_condition(records: Sequence[ImageRecord], members: list[int]) -> Condition:
    # a group normally has one condition; if not, stratify it by its most frequent one
    counts = Counter(records[i].condition for i in members)
    return min(counts, key=lambda c: (-counts[c], c.sort_key()))


def _pick_val_groups(keys: list[str], val_fraction: float, seed: int, condition: Condition):
    if val_fraction == 0 or len(keys) < 2:
        return set()
    n_val = min(max(1, round(val_fraction * len(keys))), len(keys) - 1)
    # one stream per condition, so adding a condition does not reshuffle the others
    rng = np.random.default_rng([seed, zlib.crc32(condition.name.encode())])
    order = rng.permutation(len(keys))
    return {keys[i] for i in order[:n_val]}


def assign_splits(
    records: Iterable[ImageRecord], val_fraction: float = 0.1, seed: int = 0
) -> list[ImageRecord]:
    """Assign ``"train"``/``"val"`` to records without a split, one group at a time.

    Records are grouped by :attr:`ImageRecord.group` (plate/well when known, else the file),
    and a group never straddles splits. Within each condition, ``round(val_fraction * n)``
    of its ``n`` groups go to val — at least one when the condition has two or more groups,
    and never all of them (a condition with a single group stays in train).

    Records with an explicit split keep it, and unassigned records of the same group join
    that group's (most frequent) explicit split. ``"test"`` records therefore stay out of
    both train and val; the caller should drop them from training.

    Parameters
    ----------
    records : iterable of ImageRecord
    val_fraction : float
        Fraction of each condition's groups held out for validation, in ``[0, 1)``;
        0 puts every unassigned record in train.
    seed : int
        Non-negative; the same seed and records give the same splits.

    Returns
    -------
    list of ImageRecord
        The records in input order, each with its split set.
    """
    records = list(records)
    if not 0 <= val_fraction < 1:
        raise PhendiffError(f"val_fraction={val_fraction}; expected a number in [0, 1)")
    if int(seed) != seed or seed < 0:
        raise PhendiffError(f"seed={seed}; expected a non-negative integer")
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        by_group[record.group].append(i)
    splits = [r.split for r in records]
    open_groups: dict[Condition, list[str]] = defaultdict(list)
    for key, members in by_group.items():
        explicit = [splits[i] for i in members if splits[i] is not None]
        if explicit:
            follow = Counter(explicit).most_common(1)[0][0]
            for i in members:
                splits[i] = splits[i] or follow
        else:
            open_groups[_primary_condition(records, members)].append(key)
    for condition, keys in open_groups.items():
        val_keys = _pick_val_groups(sorted(keys), val_fraction, int(seed), condition)
        for key in keys:
            for i in by_group[key]:
                splits[i] = "val" if key in val_keys else "train"
    return [
        r if r.split == s else replace(r, split=s) for r, s in zip(records, splits, strict=True)
    ]

"""Reading every image once before training: :func:`scan_images` and its :class:`ScanResult`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from phendiff.data.sources.records import ImageRecord
from phendiff.errors import PhendiffError


@dataclass(frozen=True)
class ScanResult:
    """What :func:`scan_images` found.

    Attributes
    ----------
    n_channels : int
        Channels per image (the same for all).
    dtype : str
        The images' numpy dtype name, or the widest one if they differ (``np.result_type``).
    shapes : list of (int, int)
        ``(Y, X)`` of each image, in record order.
    max_value : float
        Largest pixel value over all images.
    """

    n_channels: int
    dtype: str
    shapes: list[tuple[int, int]]
    max_value: float


def _common_channel_count(records: list[ImageRecord], counts: list[int]) -> int:
    tally = Counter(counts)
    majority, n_majority = tally.most_common(1)[0]
    odd = [i for i, n in enumerate(counts) if n != majority]
    if odd:
        first = odd[0]
        more = f" (and {len(odd) - 1} more files differ)" if len(odd) > 1 else ""
        raise PhendiffError(
            f"{records[first].name}: {counts[first]} channel(s) but {n_majority} of "
            f"{len(counts)} images have {majority}{more}; expected the same channels in every "
            "image — fix or drop that file, or check channel_axis (--channel-axis)"
        )
    return majority


def scan_images(
    records: Iterable[ImageRecord],
    channel_axis: int | None = None,
    min_size: int | None = None,
    progress: bool = True,
) -> ScanResult:
    """Read every image once and check that they can be trained on together.

    Parameters
    ----------
    records : iterable of ImageRecord
    channel_axis : int, optional
        Passed to :meth:`ImageRecord.load`.
    min_size : int, optional
        The crop size: images smaller than this in Y or X are an error.
    progress : bool
        Show a progress bar.

    Returns
    -------
    ScanResult

    Raises
    ------
    PhendiffError
        Unreadable or corrupt images, NaN/inf pixels, images smaller than ``min_size``,
        or channel counts that differ between images.
    """
    records = list(records)
    if not records:
        raise PhendiffError("no images to scan; expected at least one image record")
    counts, dtypes, shapes, max_value = [], set(), [], -np.inf
    for record in tqdm(records, desc="checking images", unit="image", disable=not progress):
        image = record.load(channel_axis)
        if min_size is not None and min(image.shape[1:]) < min_size:
            raise PhendiffError(
                f"{record.name}: shape {image.shape} (C, Y, X) is smaller than the crop size "
                f"{min_size} in Y or X; expected at least {min_size}×{min_size} — pass a "
                "smaller --image-size or use resize"
            )
        counts.append(image.shape[0])
        dtypes.add(image.dtype)
        shapes.append((int(image.shape[1]), int(image.shape[2])))
        max_value = max(max_value, float(image.max()))
    return ScanResult(
        n_channels=_common_channel_count(records, counts),
        dtype=np.result_type(*sorted(dtypes, key=str)).name,
        shapes=shapes,
        max_value=max_value,
    )

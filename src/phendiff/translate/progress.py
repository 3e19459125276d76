"""A translation's progress bar that moves within a batch, not only after it.

A batch of inputs is translated together (one inversion, every target side by side), so
counting finished images alone leaves the bar still for minutes on large fields.
:func:`image_progress` counts images as a fraction: every network call advances the bar by
its rows over the rows one image needs (inversion with its refinements, the round trip, one
pass per target), never past the end of the batch in flight; when the batch is written the
bar lands on the exact count.
"""

from __future__ import annotations

import dataclasses

from phendiff.diffusion.denoiser import Denoiser


class _Ticks:
    """The network, advancing ``bar`` by ``rows / rows_per_image`` per call, up to ``limit``."""

    def __init__(self, network, bar, rows_per_image: float) -> None:
        self.network, self.bar, self.rows = network, bar, max(1.0, float(rows_per_image))
        self.limit = 0.0

    def __call__(self, x, t, labels):
        out = self.network(x, t, labels)
        room = self.limit - self.bar.n
        if room > 0:
            self.bar.update(min(room, x.shape[0] / self.rows))
        return out


def image_progress(total: int, enabled: bool, denoiser: Denoiser, rows_per_image: float):
    """A tqdm bar over ``total`` images and ``denoiser`` wired to move it.

    Returns ``(bar, denoiser, batch)``: translate with the returned denoiser, and call
    ``batch(n)`` before each batch of ``n`` images and ``batch(0)`` after the last, so the bar
    stands on the exact number of images written between batches.
    """
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total, desc="translating", unit="image", disable=not enabled,
        bar_format="{l_bar}{bar}| {n:.1f}/{total} images [{elapsed}<{remaining}]",
    )  # fmt: skip
    ticks = _Ticks(denoiser.network, bar, rows_per_image)
    done = [0]

    def batch(n: int) -> None:
        bar.update(done[0] - bar.n)  # the previous batch is written: its exact count
        done[0] += n
        ticks.limit = done[0] - 0.05 * bool(n)  # the last tick waits for the files

    return bar, dataclasses.replace(denoiser, network=ticks), batch

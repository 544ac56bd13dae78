"""Measured capacity: the highest drain rate an interface or queue has sustained.

A single busy sample says little (a burst drained from a buffer); the best mean over a window
(15 minutes or an hour) of contiguous buckets is what the consumer has shown it can keep up.
It is a lower bound on the real capacity: a consumer never asked for more never showed more.
"""

from __future__ import annotations

from collections.abc import Sequence


def best_sustained(points: Sequence[tuple[int, float]], bucket_s: int, window_s: int) -> float | None:
    """The highest mean rate over ``window_s`` of consecutive buckets; None without a full window."""
    need = max(1, window_s // bucket_s)
    ordered = sorted(points)
    best: float | None = None
    run_start = 0
    total = 0.0
    for i, (start, rate) in enumerate(ordered):
        if i > 0 and start - ordered[i - 1][0] != bucket_s:
            run_start, total = i, 0.0  # a gap: windows never span it
        total += rate
        if i - run_start + 1 > need:
            total -= ordered[i - need][1]
        if i - run_start + 1 >= need:
            mean = total / need
            best = mean if best is None else max(best, mean)
    return best


__all__ = ["best_sustained"]

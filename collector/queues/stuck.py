"""Stuck-queue detection over a queue's recent samples (pure).

A queue is stuck when, for at least ``stuck_after`` seconds, its depth has grown while nothing
drains it: it had no consumers the whole time, or its delivery throughput was zero the whole time.
Throughput is the broker's deliver rate where known; where it is not (a SQL message store), an
oldest message that kept ageing at the speed of the clock is proof that the head was not consumed.

A queue that stopped growing (nothing published any more) is not "stuck" by this rule even if
nobody consumes it; the oldest-age SLA (``queue-backlog-age``) covers that case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Slack allowed when comparing "the oldest message aged by the elapsed time": publisher
#: timestamps often have whole-second resolution.
AGE_TOLERANCE_S = 1.5


@dataclass(frozen=True)
class StuckPoint:
    time_s: float
    depth: float | None
    consumers: float | None = None
    deliver_rate: float | None = None
    oldest_age_s: float | None = None


def window(history: Sequence[StuckPoint], now_s: float, stuck_after_s: float) -> list[StuckPoint]:
    """The samples covering the last ``stuck_after_s``: a baseline at or before its start, then the rest.

    Empty when the history does not reach back far enough to say anything.
    """
    points = sorted((p for p in history if p.time_s <= now_s), key=lambda p: p.time_s)
    start = now_s - stuck_after_s
    baseline_index = None
    for index, point in enumerate(points):
        if point.time_s <= start:
            baseline_index = index
    if baseline_index is None:
        return []
    return points[baseline_index:]


def _no_consumers(points: Sequence[StuckPoint]) -> bool:
    return all(p.consumers is not None and p.consumers == 0 for p in points)


def _no_throughput(points: Sequence[StuckPoint]) -> bool:
    later = points[1:]
    if not later:
        return False
    if all(p.deliver_rate is not None for p in later):
        return all(p.deliver_rate == 0 for p in later)
    # No rate: the head message did not change if it aged exactly as fast as the clock.
    for before, after in zip(points, later, strict=False):
        if before.oldest_age_s is None or after.oldest_age_s is None:
            return False
        elapsed = after.time_s - before.time_s
        if after.oldest_age_s - before.oldest_age_s < elapsed - AGE_TOLERANCE_S:
            return False
    return True


def is_stuck(history: Sequence[StuckPoint], now_s: float, stuck_after_s: float) -> bool:
    """True when depth grew over the last ``stuck_after_s`` with no consumers or zero throughput."""
    points = window(history, now_s, stuck_after_s)
    if len(points) < 2 or any(p.depth is None for p in points):
        return False
    first, last = points[0].depth, points[-1].depth
    assert first is not None and last is not None
    if last <= first:
        return False
    return _no_consumers(points) or _no_throughput(points)


def prune(history: Sequence[StuckPoint], now_s: float, stuck_after_s: float) -> list[StuckPoint]:
    """Keep what a later :func:`is_stuck` may need: the window plus its baseline."""
    points = sorted(history, key=lambda p: p.time_s)
    start = now_s - stuck_after_s
    keep_from = 0
    for index, point in enumerate(points):
        if point.time_s <= start:
            keep_from = index
    return points[keep_from:]


__all__ = ["AGE_TOLERANCE_S", "StuckPoint", "is_stuck", "prune", "window"]

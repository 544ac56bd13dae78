"""From raw per-minute rollups to good/total per minute, for each SLI kind.

- ratio, latency, lag: every event is one good or bad event (``good = events - bad``);
- gauge: a minute with samples is one event, good when no sample broke the bound;
- freshness: a minute is one event, good when a matching event fell in the last ``max_age``
  (at one-minute resolution), counted only inside ``during`` and, with ``expect: history``,
  only when recent weeks say traffic is expected at that hour.
Corrections remove their minutes from every kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from slas.series import FloatArray, RawMinutes
from slas.spec import SLA, FreshnessSli, GaugeSli
from vitals.kernel.localtime import local_minutes, zone

__all__ = ["Scored", "expected_hours", "lookback_minutes", "score"]

BoolArray = np.ndarray[Any, np.dtype[np.bool_]]
HOURS_PER_WEEK = 168


@dataclass
class Scored:
    """good/total/bad amount for minutes ``lo..lo+len-1`` with cumulative sums for window sums."""

    lo: int
    good: FloatArray
    total: FloatArray
    amount: FloatArray
    cum: list[FloatArray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cum = [np.concatenate([[0.0], np.cumsum(a)]) for a in (self.good, self.total, self.amount)]

    def sums(self, first: int, last: int) -> tuple[float, float, float]:
        """(good, total, bad amount) over minutes ``first..last`` (clipped to what is scored)."""
        start = max(first, self.lo) - self.lo
        stop = min(last, self.lo + self.good.size - 1) - self.lo + 1
        if stop <= start:
            return 0.0, 0.0, 0.0
        good, total, amount = (float(c[stop] - c[start]) for c in self.cum)
        return good, total, amount


def lookback_minutes(sla: SLA) -> int:
    """Raw minutes needed before the first scored minute."""
    spec = sla.sli.spec
    if isinstance(spec, FreshnessSli):
        extra = math.ceil(spec.max_age / 60)
        if spec.expect == "history":
            extra += spec.history.weeks * HOURS_PER_WEEK * 60 + 60
        return extra
    return 0


def correction_mask(sla: SLA, lo: int, hi: int) -> BoolArray:
    """True for minutes removed by a correction."""
    removed = np.zeros(max(0, hi - lo + 1), dtype=bool)
    minutes = np.arange(lo, hi + 1, dtype=np.int64)
    for correction in sla.corrections:
        if correction.during is not None:
            removed |= correction.during.mask(lo, hi)
            continue
        assert correction.start is not None and correction.end is not None
        start, end = (_epoch_minutes(t, sla.time_zone) for t in (correction.start, correction.end))
        removed |= (minutes >= start) & (minutes < end)
    return removed


def _epoch_minutes(value: datetime, tz: str) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz))
    return value.timestamp() / 60


def score(sla: SLA, raw: RawMinutes, first_minute: int | None, lo: int, hi: int) -> Scored:
    """Score minutes ``lo..hi``; ``raw`` must start ``lookback_minutes(sla)`` before ``lo``."""
    need = lo - lookback_minutes(sla)
    assert raw.lo <= need, "raw rollups do not reach back far enough"
    size = max(0, hi - lo + 1)
    offset = lo - raw.lo
    events = raw.events[offset : offset + size].astype(np.float64)
    bad = raw.bad[offset : offset + size].astype(np.float64)
    amount = raw.amount[offset : offset + size].copy()
    keep = ~correction_mask(sla, lo, hi)
    spec = sla.sli.spec
    if isinstance(spec, GaugeSli):
        counted = events > 0
        if spec.during is not None:
            counted &= spec.during.mask(lo, hi)
        counted &= keep
        good = counted & (bad == 0)
        return Scored(lo, good.astype(np.float64), counted.astype(np.float64), np.zeros(size))
    if isinstance(spec, FreshnessSli):
        return _freshness(sla, spec, raw, first_minute, lo, hi, keep)
    mask = keep.astype(np.float64)
    return Scored(lo, (events - bad) * mask, events * mask, amount * mask)


def _freshness(  # noqa: PLR0917
    sla: SLA, spec: FreshnessSli, raw: RawMinutes, first_minute: int | None, lo: int, hi: int, keep: BoolArray
) -> Scored:
    size = max(0, hi - lo + 1)
    k = math.ceil(spec.max_age / 60)
    seen = np.concatenate([[0], np.cumsum(raw.events > 0)])
    # For minute m (index i = m - raw.lo): any event in minutes m-k+1 .. m
    idx = np.arange(lo - raw.lo, hi - raw.lo + 1)
    fresh = (seen[idx + 1] - seen[np.maximum(idx + 1 - k, 0)]) > 0
    counted = keep.copy()
    if first_minute is None:
        counted[:] = False
    else:
        counted &= np.arange(lo, hi + 1) >= first_minute
    if spec.during is not None:
        counted &= spec.during.mask(lo, hi)
    if spec.expect == "history" and size:
        counted &= expected_hours(sla, spec, raw, first_minute, lo, hi)
    good = counted & fresh
    return Scored(lo, good.astype(np.float64), counted.astype(np.float64), np.zeros(size))


def expected_hours(  # noqa: PLR0917
    sla: SLA, spec: FreshnessSli, raw: RawMinutes, first_minute: int | None, lo: int, hi: int
) -> BoolArray:
    """Whether traffic is expected in each minute, from the same local hour in recent weeks.

    The typical count (median) of matching events in the same hour of the same weekday over the
    last ``history.weeks`` weeks, scaled to ``max_age``, must reach ``history.min_expected`` (a
    Poisson feed expecting 3 events in ``max_age`` is silent that long only 5% of the time).
    Without a prior week, the same hour on the last seven days of the same kind (weekday or
    weekend) stands in. A young store may hold no day of that kind yet: then the same hour on any
    of the last seven days does, but only while the feed has spoken within the last hour (or
    4 x max_age), so a weekday-only feed's first quiet Saturday is not taken for an outage.
    Without any of those, nothing is expected yet.
    """
    size = hi - lo + 1
    if first_minute is None:
        return np.zeros(size, dtype=bool)
    tz = sla.time_zone
    local = local_minutes(tz, raw.lo, hi)
    hours = local // 60
    base = int(hours[0])
    counts = np.bincount(hours - base, weights=raw.events.astype(np.float64)[: hours.size])
    first_full = int(local_minutes(tz, first_minute, first_minute)[0] // 60) + 1
    scale = spec.max_age / 3600.0
    wanted = hours[lo - raw.lo :]
    unique, inverse = np.unique(wanted, return_inverse=True)
    verdict = np.zeros(unique.size, dtype=bool)
    guessed = np.zeros(unique.size, dtype=bool)
    for position, hour in enumerate(unique.tolist()):
        past = [hour - HOURS_PER_WEEK * j for j in range(1, spec.history.weeks + 1)]
        values = [counts[h - base] for h in past if h >= first_full and h >= base]
        if not values:
            weekend = ((hour // 24) + 3) % 7 >= 5
            days = [hour - 24 * j for j in range(1, 8)]
            known = [h for h in days if h >= first_full and h >= base]
            values = [counts[h - base] for h in known if ((((h // 24) + 3) % 7 >= 5) == weekend)]
            if not values:
                values = [counts[h - base] for h in known]
                guessed[position] = True
        verdict[position] = bool(values) and float(np.median(values)) * scale >= spec.history.min_expected
    expected = verdict[inverse]
    if guessed.any():
        gap = max(60, 4 * math.ceil(spec.max_age / 60))
        seen = np.concatenate([[0], np.cumsum(raw.events > 0)])
        idx = np.arange(lo - raw.lo, hi - raw.lo + 1)
        spoke = (seen[idx + 1] - seen[np.maximum(idx + 1 - gap, 0)]) > 0
        expected &= ~guessed[inverse] | spoke
    return expected

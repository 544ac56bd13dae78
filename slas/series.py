"""Per-minute rollups of one SLA slice, kept in memory for cheap window sums.

The raw rollup of a minute is (events, bad, bad_amount) keyed by event time; what "good" and
"total" mean per kind is decided later by :mod:`slas.scoring`. Dense arrays over the horizon
make a 30-day window sum a slice of a cumulative sum, so a tick costs the same whatever the
history; contributions outside the dense range (clock-skewed future events, very old late data)
wait in a small overflow dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MinuteSeries", "RawMinutes", "SeriesKey"]

#: (sla id, slice key); slice key "" is the part of the SLA with no slice value
SeriesKey = tuple[str, str]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass
class RawMinutes:
    """Raw rollups for consecutive minutes ``lo .. lo+len-1``."""

    lo: int
    events: IntArray
    bad: IntArray
    amount: FloatArray

    @classmethod
    def zeros(cls, lo: int, hi: int) -> RawMinutes:
        size = max(0, hi - lo + 1)
        return cls(lo, np.zeros(size, np.int64), np.zeros(size, np.int64), np.zeros(size, np.float64))

    def __iadd__(self, other: RawMinutes) -> RawMinutes:
        assert other.lo == self.lo and other.events.size == self.events.size
        self.events += other.events
        self.bad += other.bad
        self.amount += other.amount
        return self


@dataclass
class MinuteSeries:
    labels: dict[str, str] = field(default_factory=dict)
    first_minute: int | None = None
    origin: int = 0
    events: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    bad: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    amount: FloatArray = field(default_factory=lambda: np.zeros(0, np.float64))
    overflow: dict[int, list[float]] = field(default_factory=dict)
    #: dense arrays never grow beyond this many minutes; farther minutes go to ``overflow``
    max_span: int = 200 * 1440

    def add(self, minute: int, events: int, bad: int, amount: float) -> None:
        if self.events.size == 0:
            self.origin = minute
        offset = minute - self.origin
        if offset < 0 and self.events.size - offset <= self.max_span:
            self._grow_front(-offset)
            offset = 0
        elif offset >= self.events.size and offset < self.max_span:
            self._grow_back(offset + 1)
        if 0 <= offset < self.events.size:
            self.events[offset] += events
            self.bad[offset] += bad
            self.amount[offset] += amount
        else:
            entry = self.overflow.setdefault(minute, [0, 0, 0.0])
            entry[0] += events
            entry[1] += bad
            entry[2] += amount

    def note_first(self, minute: int) -> None:
        if self.first_minute is None or minute < self.first_minute:
            self.first_minute = minute

    def _grow_back(self, needed: int) -> None:
        size = min(self.max_span, max(needed, self.events.size * 2, 1440))
        extra = size - self.events.size
        self.events = np.concatenate([self.events, np.zeros(extra, np.int64)])
        self.bad = np.concatenate([self.bad, np.zeros(extra, np.int64)])
        self.amount = np.concatenate([self.amount, np.zeros(extra, np.float64)])
        self._fold_overflow()

    def _grow_front(self, extra: int) -> None:
        self.events = np.concatenate([np.zeros(extra, np.int64), self.events])
        self.bad = np.concatenate([np.zeros(extra, np.int64), self.bad])
        self.amount = np.concatenate([np.zeros(extra, np.float64), self.amount])
        self.origin -= extra
        self._fold_overflow()

    def _fold_overflow(self) -> None:
        for minute in [m for m in self.overflow if 0 <= m - self.origin < self.events.size]:
            events, bad, amount = self.overflow.pop(minute)
            offset = minute - self.origin
            self.events[offset] += int(events)
            self.bad[offset] += int(bad)
            self.amount[offset] += amount

    def trim_before(self, minute: int, slack: int = 0) -> bool:
        """Forget minutes before ``minute`` (beyond every window's reach), once ``slack`` piled up."""
        cut = minute - self.origin
        trimmed = cut > slack
        if trimmed:
            cut = min(cut, self.events.size)
            self.events = self.events[cut:].copy()
            self.bad = self.bad[cut:].copy()
            self.amount = self.amount[cut:].copy()
            self.origin += cut
            for old in [m for m in self.overflow if m < minute]:
                del self.overflow[old]
        return trimmed

    def raw(self, lo: int, hi: int) -> RawMinutes:
        """Raw rollups for minutes ``lo..hi`` (zeros where nothing was recorded)."""
        out = RawMinutes.zeros(lo, hi)
        if hi < lo:
            return out
        start, stop = max(lo, self.origin), min(hi, self.origin + self.events.size - 1)
        if start <= stop:
            src = slice(start - self.origin, stop - self.origin + 1)
            dst = slice(start - lo, stop - lo + 1)
            out.events[dst] = self.events[src]
            out.bad[dst] = self.bad[src]
            out.amount[dst] = self.amount[src]
        for minute, (events, bad, amount) in self.overflow.items():
            if lo <= minute <= hi:
                out.events[minute - lo] += int(events)
                out.bad[minute - lo] += int(bad)
                out.amount[minute - lo] += amount
        return out

    def nonzero(self) -> dict[int, tuple[int, int, float]]:
        """Every recorded minute (for tests and comparisons)."""
        out: dict[int, tuple[int, int, float]] = {}
        for offset in np.flatnonzero((self.events != 0) | (self.bad != 0) | (self.amount != 0)):
            out[self.origin + int(offset)] = (
                int(self.events[offset]),
                int(self.bad[offset]),
                float(self.amount[offset]),
            )
        for minute, (events, bad, amount) in self.overflow.items():
            if events or bad or amount:
                prev = out.get(minute, (0, 0, 0.0))
                out[minute] = (prev[0] + int(events), prev[1] + int(bad), prev[2] + amount)
        return out

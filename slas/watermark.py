"""Which telemetry rows have been read, so each is counted exactly once.

Rows are numbered by an auto-increment id. On SQLite ids become visible in order (one writer
at a time), so "everything up to the highest id read" is exact. On PostgreSQL concurrent
writers may commit id 105 before id 103; reading up to 105 and moving on would lose 103. So the
cursor keeps, above its watermark, the ranges of ids already read (with when they were first
seen) and reads only the gaps between them. The watermark moves past an id only once that id
was seen at least ``horizon`` ago: any lower id was handed out before it, and a writer holding
one longer than the horizon is treated as gone. Ranges persist with the rollups in one
transaction, so a restart neither loses nor double-counts a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cursor", "SeenRange"]


@dataclass(frozen=True)
class SeenRange:
    lo: int
    hi: int
    seen_ns: int


@dataclass
class Cursor:
    watermark: int = 0
    seen: list[SeenRange] = field(default_factory=list)

    def gaps(self) -> list[tuple[int, int | None]]:
        """Unread id intervals as (exclusive low, exclusive high or None for unbounded)."""
        out: list[tuple[int, int | None]] = []
        low = self.watermark
        for item in self.seen:
            if item.lo > low + 1:
                out.append((low, item.lo))
            low = max(low, item.hi)
        out.append((low, None))
        return out

    def processed(self) -> list[tuple[int, int]]:
        """Every id interval (inclusive) already read: what a new SLA's back-fill must cover."""
        out = [(1, self.watermark)] if self.watermark >= 1 else []
        out.extend((item.lo, item.hi) for item in self.seen)
        return out

    def mark(self, ids: Iterable[int], now_ns: int) -> None:
        """Record ids read at ``now_ns`` (any order)."""
        ranges: list[SeenRange] = []
        for value in sorted(set(ids)):
            if value <= self.watermark:
                continue
            if ranges and ranges[-1].hi + 1 == value:
                ranges[-1] = SeenRange(ranges[-1].lo, value, now_ns)
            else:
                ranges.append(SeenRange(value, value, now_ns))
        merged: list[SeenRange] = []
        for item in sorted([*self.seen, *ranges], key=lambda r: r.lo):
            if merged and merged[-1].hi + 1 >= item.lo:
                last = merged[-1]
                merged[-1] = SeenRange(last.lo, max(last.hi, item.hi), max(last.seen_ns, item.seen_ns))
            else:
                merged.append(item)
        self.seen = merged

    def advance(self, now_ns: int, horizon_ns: int) -> None:
        """Move the watermark past every id seen at least ``horizon_ns`` ago."""
        settled = [item.hi for item in self.seen if item.seen_ns <= now_ns - horizon_ns]
        if settled:
            self.watermark = max(self.watermark, *settled)
        self.seen = [item for item in self.seen if item.hi > self.watermark]
        if self.seen and self.seen[0].lo <= self.watermark:
            first = self.seen[0]
            self.seen[0] = SeenRange(self.watermark + 1, first.hi, first.seen_ns)

    def copy(self) -> Cursor:
        return Cursor(self.watermark, list(self.seen))

    def to_json(self) -> list[list[int]]:
        return [[item.lo, item.hi, item.seen_ns] for item in self.seen]

    @classmethod
    def from_json(cls, watermark: int, data: Sequence[Any] | None) -> Cursor:
        return cls(watermark, [SeenRange(int(a), int(b), int(c)) for a, b, c in data or []])

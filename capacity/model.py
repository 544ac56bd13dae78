"""The history a capacity report is computed from, as the store edge hands it to the pure core."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["queue", "interface"]
HOUR_S = 3600
#: Width of the drain-rate buckets the store edge aggregates gauges into.
BUCKET_S = 900


@dataclass(frozen=True)
class Backlog:
    """A queue's state now: depth, and its drain and arrival rates over the last minutes."""

    at_s: float
    depth: float
    drain_per_s: float
    arrival_per_s: float
    oldest_age_s: float | None = None


@dataclass(frozen=True)
class Series:
    """One interface or queue.

    ``volume``: messages arriving per UTC hour (hour start, count), dense from the first hour known
    to the last, ``None`` where nothing was observed (a queue's gauges missing). ``drain``:
    messages drained per second, mean over each ``bucket_s`` bucket (bucket start, rate).
    """

    kind: Kind
    name: str
    volume: tuple[tuple[int, float | None], ...]
    drain: tuple[tuple[int, float], ...]
    bucket_s: int = BUCKET_S
    backlog: Backlog | None = None


__all__ = ["BUCKET_S", "HOUR_S", "Backlog", "Kind", "Series"]

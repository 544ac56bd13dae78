"""How far the rollups lag behind the store, in time rather than rows.

During normal live traffic there are always a few rows the next fold has not reached yet: a row
count says nothing about whether the figures are out of date. What matters is how long the oldest
row not yet folded in has been waiting (it arrived ``received_at``); a lag of a tick or two is the
normal rhythm of the rollups, more means the figures trail the store.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.tables import metric_points, spans

__all__ = ["behind", "oldest_pending_received_ns"]

_SOURCES = {"spans": spans, "metrics": metric_points}


def oldest_pending_received_ns(engine: Engine, watermarks: Mapping[str, int]) -> int | None:
    """Arrival time (Unix ns) of the oldest source row above its family's watermark, if any."""
    oldest: int | None = None
    with engine.connect() as conn:
        for family, table in _SOURCES.items():
            row = conn.execute(
                select(table.c.received_at_unix_nano)
                .where(table.c.id > watermarks.get(family, 0))
                .order_by(table.c.id)
                .limit(1)
            ).first()
            if row is not None:
                received = int(row[0])
                oldest = received if oldest is None else min(oldest, received)
    return oldest


def behind(now_ns: int, oldest_pending_ns: int | None, interval_s: float, ticks: float = 2.0) -> float | None:
    """Seconds the figures trail the store when that exceeds ``ticks`` rollup intervals, else None.

    Pure: the page decides with it whether "Catching up" is news or just the next tick.
    """
    if oldest_pending_ns is None:
        return None
    lag_s = max(0.0, (now_ns - oldest_pending_ns) / 1e9)
    return lag_s if lag_s > ticks * interval_s else None

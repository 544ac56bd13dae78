"""Retention of the dashboard's rollups: minute rows kept weeks, hour rows a year.

Without it every per-minute row of every rollup family stays forever. The pages read minute
rows only for ranges up to 36 hours (``timerange.MINUTE_RESOLUTION_LIMIT_S``) and for a gauge
SLA's bad events (at most its window, a month for the demo's), hour rows for longer ranges: so
minute rows are kept ``minute_s`` (35 days: any 36-hour range of the last month, the 30-day
preset reads hours) and hour rows ``hour_s`` (400 days: a year back, like the SLA history).
Every failed span (``dashboard_error_spans``) is kept as long as minute rows: the failed-span
lists link to traces, which are kept much shorter. ``dashboard_feeds`` (one row per interface)
and ``dashboard_edge_pending`` (dropped after ``max_wait``) are bounded already.

The refresher of a family (``dashboards.rollup``) runs this after folding, under the family's
lease (``dashboards.rollup.<family>``): each delete is a short transaction of at most
``batch_rows`` rows that also renews the lease, so a refresher that lost the lease deletes
nothing more, and SQLite's collector writer gets in between batches. A refresh deletes at most
``max_batches`` batches per family; a backlog (a store that never had retention) is worked off
over the following refreshes. When nothing has expired a refresh costs one index probe per
table and no write.

Ages count back from the family's newest minute row (``now`` if that is later: a span stamped in
the future moves nothing): under steady ingest that is now, and a store that stops receiving
telemetry (a demo store opened months later) keeps what it has, since it no longer grows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, func, select, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from dashboards.tables import (
    business_rollups,
    error_groups,
    error_spans,
    metric_rollups,
    service_edges,
    span_rollups,
)
from vitals.kernel.lease import Lease, hold
from vitals.kernel.units import NS

__all__ = ["DEFAULT_RETENTION", "RollupRetention", "expire", "expiring_tables"]

MINUTE = 60
HOUR = 3600


@dataclass(frozen=True)
class RollupRetention:
    """How long rollup rows are kept (seconds), and how much one refresh deletes."""

    minute_s: float = 35 * 86400.0
    hour_s: float = 400 * 86400.0
    batch_rows: int = 2_000
    max_batches: int = 25

    def kept_s(self, resolution: int) -> float:
        return self.minute_s if resolution == MINUTE else self.hour_s


DEFAULT_RETENTION = RollupRetention()


@dataclass(frozen=True)
class _Expiring:
    """Rows of ``table`` at ``resolution``: the ``time`` column says when they expire."""

    table: Table
    time: str
    resolution: int
    by_resolution: bool  # the table has a ``resolution`` column holding both resolutions

    def expired(self, cut_ns: int) -> list[ColumnElement[bool]]:
        cond: list[ColumnElement[bool]] = [self.table.c[self.time] < cut_ns]
        if self.by_resolution:
            cond.insert(0, self.table.c.resolution == self.resolution)
        return cond

    @property
    def key(self) -> list[Any]:
        return list(self.table.primary_key.columns)


def _both(table: Table) -> tuple[_Expiring, _Expiring]:
    return _Expiring(table, "bucket", MINUTE, True), _Expiring(table, "bucket", HOUR, True)


_TARGETS: dict[str, tuple[_Expiring, ...]] = {
    "spans": (
        *_both(span_rollups),
        *_both(service_edges),
        _Expiring(business_rollups, "bucket", HOUR, False),
        _Expiring(error_groups, "bucket", HOUR, False),
        _Expiring(error_spans, "start_ns", MINUTE, False),
    ),
    "metrics": _both(metric_rollups),
}


def expiring_tables(family: str) -> list[tuple[str, int]]:
    """(table, resolution) pairs a family's retention deletes from (for docs and tests)."""
    return [(t.table.name, t.resolution) for t in _TARGETS.get(family, ())]


def expire(
    engine: Engine,
    family: str,
    lease: Lease,
    retention: RollupRetention,
    *,
    now_ns: int,
    clock: Callable[[], int],
    lease_ns: int,
) -> tuple[Lease | None, int]:
    """Delete the family's rows older than their retention (before ``now_ns``, or the family's
    newest minute row if earlier); returns the lease
    (None when it was lost: the caller stops) and how many rows were deleted."""
    deleted = 0
    batches = 0
    targets = _TARGETS.get(family, ())
    if not targets:
        return lease, 0
    newest = targets[0]  # the family's minute rollups: every source row makes one
    with engine.connect() as conn:
        top = conn.execute(
            select(func.max(newest.table.c[newest.time])).where(newest.table.c.resolution == MINUTE)
        ).scalar()
    if top is None:
        return lease, 0
    reference = min(now_ns, int(top))
    for target in targets:
        cond = target.expired(reference - int(retention.kept_s(target.resolution) * NS))
        while batches < retention.max_batches:
            with engine.connect() as conn:  # a read first: nothing expired, no write transaction
                if conn.execute(select(*target.key).where(*cond).limit(1)).first() is None:
                    break
            keys = select(*target.key).where(*cond).limit(retention.batch_rows)
            with engine.begin() as conn:
                held = hold(conn, lease, clock(), lease_ns)
                if held is None:
                    conn.rollback()
                    return None, deleted
                lease = held
                gone = int(conn.execute(delete(target.table).where(tuple_(*target.key).in_(keys))).rowcount)
            deleted += gone
            batches += 1
            if gone < retention.batch_rows:
                break
    return lease, deleted

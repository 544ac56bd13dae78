"""Fold new telemetry into the dashboard's rollup tables, following ``id`` watermarks.

Two families, each with its own watermark row in ``dashboard_rollup_state``:

- ``spans`` (source ``spans.id``): span, business, error-group, feed and service-edge rollups
  (queue-hop joins whose other side is not stored yet wait in ``dashboard_edge_pending``; each
  refresh retries them once, in a transaction that also checks the lease);
- ``metrics`` (source ``metric_points.id``): ``queue.*`` samples per minute and hour.

The business objects of lag SLAs (charge lag, late charges, money at risk) are not folded here:
the SLA engine keeps them, and the pages read them through ``slas.lag_history``.

Each family follows its source table with a cursor (``vitals.kernel.follow``) and folds id
ranges in order, up to the cursor's watermark: every id below it has been read or given up, so
on PostgreSQL, where a lower id may commit after a higher one, a range is folded once the ids
above its gaps were seen a horizon ago (two minutes), and on SQLite at once. A batch is
aggregated by the database with a read (no write lock held while the store groups rows: on
SQLite the collector keeps writing), then the small aggregate is upserted in one short
transaction that also moves the cursor, so a crash never counts a span twice or skips one.
Only one refresher works on a family at a time (``vitals serve`` and each dashboard process may
all try): a lease (``vitals.kernel.lease``, ``dashboards.rollup.<family>``) decides, and every
write renews it in its own transaction, so a refresher that lost it writes nothing. After folding,
the holder deletes the family's expired rows under the same lease (``rollup_retention``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection, Engine

from collector.tables import metric_points, spans
from dashboards.folds import Folder, Writer
from dashboards.folds import metrics as metrics_fold
from dashboards.folds import spans as spans_fold
from dashboards.folds.edges import DEFAULT_EDGE_TIMING, EdgeTiming
from dashboards.rollup_retention import RollupRetention, expire
from dashboards.sqlexpr import insert_for
from dashboards.tables import metric_rollups, rollup_state
from vitals.kernel.follow import Cursor, default_horizon_s, read_new
from vitals.kernel.lease import Lease, hold, new_owner, release, take, timing
from vitals.kernel.units import NS

log = logging.getLogger(__name__)

DEFAULT_BATCH = 50_000


@dataclass(frozen=True)
class FamilyReport:
    family: str
    claimed: bool  # False when another refresher holds the lease
    processed: int  # source rows folded in this call
    watermark: int
    target: int  # highest source id when the call started
    expired: int = 0  # rollup rows deleted by retention in this call (``rollup_retention``)

    @property
    def behind(self) -> int:
        return max(0, self.target - self.watermark)


@dataclass(frozen=True)
class RefreshReport:
    families: tuple[FamilyReport, ...]

    @property
    def processed(self) -> int:
        return sum(f.processed for f in self.families)

    @property
    def behind(self) -> int:
        return sum(f.behind for f in self.families if f.claimed)


def refresh(
    engine: Engine,
    *,
    batch_size: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    owner: str | None = None,
    lease_s: float | None = None,
    horizon_s: float | None = None,
    clock: Callable[[], int] = time.time_ns,
    edge_timing: EdgeTiming = DEFAULT_EDGE_TIMING,
    retention: RollupRetention | None = None,
) -> RefreshReport:
    """Catch every family up (or ``max_batches`` batches of each); safe to call concurrently.

    ``horizon_s``: how long an unread id below read ones is awaited before the range around it
    is folded (``vitals.kernel.follow``; by default 0 s on SQLite, 120 s on PostgreSQL).
    ``edge_timing``: how long queue-hop joins wait for the other side (see ``folds.edges``).
    ``lease_s``: how long each family's lease holds between renewals (one per batch); by default
    the takeover bound (``vitals.kernel.lease.timing``, 30 s), so a refresher that dies mid-run
    (a dashboard process) holds up the others no longer than that.
    ``retention``: after folding, rows older than it (at ``clock``) are deleted under the same
    lease (``dashboards.rollup_retention``); None (tests, benchmarks) keeps everything. The
    refreshers of ``vitals serve`` and of the dashboard process pass ``dashboard.yaml``'s.
    """
    owner = owner or new_owner()
    if lease_s is None:
        lease_s = timing().bound_s
    if horizon_s is None:
        horizon_s = default_horizon_s(engine)
    families = (
        _Family(
            "spans",
            spans_fold.SIGNATURE,
            spans.c.id,
            spans_fold.TABLES,
            spans_fold.folder(edge_timing, clock),
            spans_fold.retry(edge_timing, clock),
        ),
        _Family("metrics", metrics_fold.SIGNATURE, metric_points.c.id, (metric_rollups,), metrics_fold.fold),
    )
    run = _Run(owner, batch_size, max_batches, int(lease_s * NS), int(horizon_s * NS), clock, retention)
    return RefreshReport(tuple(_run_family(engine, fam, run) for fam in families))


# --------------------------------------------------------------------------- state and leases


@dataclass(frozen=True)
class _Family:
    name: str
    signature: str
    source_id: Any
    tables: tuple[Any, ...]
    fold: Folder
    #: Work left over from earlier batches, tried once per refresh after the batches.
    retry: Callable[[Connection], Writer | None] | None = None

    @property
    def lease(self) -> str:
        return f"dashboards.rollup.{self.name}"


@dataclass(frozen=True)
class _Run:
    owner: str
    batch_size: int
    max_batches: int | None
    lease_ns: int
    horizon_ns: int
    clock: Callable[[], int]
    retention: RollupRetention | None = None


def _run_family(engine: Engine, fam: _Family, run: _Run) -> FamilyReport:
    with engine.connect() as conn:
        newest = int(conn.execute(select(func.coalesce(func.max(fam.source_id), 0))).scalar_one())
    claimed = _claim(engine, fam, run)
    if claimed is None:
        with engine.connect() as conn:
            current = conn.execute(
                select(rollup_state.c.watermark).where(rollup_state.c.family == fam.name)
            ).scalar()
        return FamilyReport(fam.name, False, 0, int(current or 0), newest)
    lease: Lease | None
    lease, cursor = claimed
    processed = 0
    batches = 0
    expired = 0
    try:
        while run.max_batches is None or batches < run.max_batches:
            now = run.clock()
            with engine.connect() as conn:
                ids = read_new(conn, select(fam.source_id), fam.source_id, cursor, run.batch_size).ids
            # Fold at most one batch of ids however far the watermark may move.
            cap = cursor.watermark + run.batch_size
            moved = cursor.marked(ids, now).settled(now, run.horizon_ns, at_most=cap)
            if moved == cursor:
                break
            lo, hi = cursor.watermark, moved.watermark
            count, write = 0, None
            if hi > lo:
                with engine.connect() as conn:
                    count = int(
                        conn.execute(
                            select(func.count()).where(fam.source_id > lo, fam.source_id <= hi)
                        ).scalar_one()
                    )
                    write = fam.fold(conn, lo, hi)
            with engine.begin() as conn:
                lease = hold(conn, lease, run.clock(), run.lease_ns)
                if lease is None:
                    log.info("rollup %s: lease lost, stopping", fam.name)
                    conn.rollback()
                    break
                conn.execute(
                    update(rollup_state)
                    .where(rollup_state.c.family == fam.name)
                    .values(watermark=hi, seen=moved.seen_json(), updated_at_unix_nano=now)
                )
                if write is not None:
                    write(conn)
            cursor = moved
            processed += count
            batches += 1
            if len(ids) < run.batch_size and hi < cap:
                break
        if fam.retry is not None and lease is not None:
            lease = _retry(engine, fam, run, lease)
        if run.retention is not None and lease is not None:
            lease, expired = expire(
                engine,
                fam.name,
                lease,
                run.retention,
                now_ns=run.clock(),
                clock=run.clock,
                lease_ns=run.lease_ns,
            )
    finally:
        if lease is not None:
            with engine.begin() as conn:
                release(conn, lease)
    return FamilyReport(fam.name, True, processed, cursor.watermark, newest, expired)


def _retry(engine: Engine, fam: _Family, run: _Run, lease: Lease) -> Lease | None:
    """The family's left-over work, written only while this refresher still holds the lease."""
    assert fam.retry is not None
    with engine.connect() as conn:
        write = fam.retry(conn)
    if write is None:
        return lease
    with engine.begin() as conn:
        held = hold(conn, lease, run.clock(), run.lease_ns)
        if held is None:
            log.info("rollup %s: lease lost, pending work left for the next refresh", fam.name)
            conn.rollback()
            return None
        write(conn)
    return held


def _claim(engine: Engine, fam: _Family, run: _Run) -> tuple[Lease, Cursor] | None:
    """Take the family's lease and read its cursor, or None when another refresher holds it.
    A family whose definitions changed starts again from the first id."""
    with engine.begin() as conn:
        lease = take(conn, fam.lease, run.owner, run.clock(), run.lease_ns)
        if lease is None:
            return None
        conn.execute(
            insert_for(conn, rollup_state)
            .values(family=fam.name, watermark=0, signature=fam.signature, updated_at_unix_nano=0, seen=[])
            .on_conflict_do_nothing(index_elements=["family"])
        )
        row = conn.execute(select(rollup_state).where(rollup_state.c.family == fam.name)).one()
        if row.signature == fam.signature:
            return lease, Cursor.from_json(row.watermark, row.seen)
        log.info("rollup %s: definitions changed, rebuilding from the start", fam.name)
        for table in fam.tables:
            conn.execute(delete(table))
        conn.execute(
            update(rollup_state)
            .where(rollup_state.c.family == fam.name)
            .values(watermark=0, seen=[], signature=fam.signature)
        )
        return lease, Cursor()

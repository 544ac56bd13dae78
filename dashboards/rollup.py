"""Fold new telemetry into the dashboard's rollup tables, following ``id`` watermarks.

Two families, each with its own watermark row in ``dashboard_rollup_state``:

- ``spans`` (source ``spans.id``): span, business, error-group, feed and service-edge rollups
  (queue-hop joins whose other side is not stored yet wait in ``dashboard_edge_pending``; each
  refresh retries them once, in a transaction that also checks the lease);
- ``metrics`` (source ``metric_points.id``): ``queue.*`` samples per minute and hour.

The business objects of lag SLAs (charge lag, late charges, money at risk) are not folded here:
the SLA engine keeps them, and the pages read them through ``slas.lag_history``.

A batch is aggregated by the database with a read (no write lock held while the store groups
rows: on SQLite the collector keeps writing), then the small aggregate is upserted in one short
transaction that also moves the watermark, so a crash never counts a span twice or skips one.
Only one refresher works on a family at a time (``vitals serve`` and each dashboard process may
all try): a lease in the state row decides, and the watermark move is conditional on it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
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
from dashboards.sqlexpr import insert_for
from dashboards.tables import metric_rollups, rollup_state
from vitals.kernel.db import is_sqlite
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


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def refresh(
    engine: Engine,
    *,
    batch_size: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    owner: str | None = None,
    lease_s: float = 120.0,
    horizon_s: float | None = None,
    clock: Callable[[], int] = time.time_ns,
    edge_timing: EdgeTiming = DEFAULT_EDGE_TIMING,
) -> RefreshReport:
    """Catch every family up (or ``max_batches`` batches of each); safe to call concurrently.

    ``horizon_s``: how long an id must have been visible before it is folded in. On SQLite ids
    become visible in order (0 s, the default there); on PostgreSQL a transaction may commit a
    lower id after a higher one, so the default waits 120 s, as the SLA engine does.
    ``edge_timing``: how long queue-hop joins wait for the other side (see ``folds.edges``).
    """
    owner = owner or default_owner()
    if horizon_s is None:
        horizon_s = 0.0 if is_sqlite(engine) else DEFAULT_PG_HORIZON_S
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
    run = _Run(owner, batch_size, max_batches, int(lease_s * NS), int(horizon_s * NS), clock)
    return RefreshReport(tuple(_run_family(engine, fam, run) for fam in families))


# --------------------------------------------------------------------------- state and leases

DEFAULT_PG_HORIZON_S = 120.0


@dataclass(frozen=True)
class _Family:
    name: str
    signature: str
    source_id: Any
    tables: tuple[Any, ...]
    fold: Folder
    #: Work left over from earlier batches, tried once per refresh after the batches.
    retry: Callable[[Connection], Writer | None] | None = None


@dataclass(frozen=True)
class _Run:
    owner: str
    batch_size: int
    max_batches: int | None
    lease_ns: int
    horizon_ns: int
    clock: Callable[[], int]


def _run_family(engine: Engine, fam: _Family, run: _Run) -> FamilyReport:
    with engine.connect() as conn:
        newest = int(conn.execute(select(func.coalesce(func.max(fam.source_id), 0))).scalar_one())
    claimed = _claim(engine, fam, run, newest)
    if claimed is None:
        with engine.connect() as conn:
            current = conn.execute(
                select(rollup_state.c.watermark).where(rollup_state.c.family == fam.name)
            ).scalar()
        return FamilyReport(fam.name, False, 0, int(current or 0), newest)
    watermark, target = claimed
    processed = 0
    batches = 0
    lost = False
    try:
        while watermark < target and (run.max_batches is None or batches < run.max_batches):
            hi = min(watermark + run.batch_size, target)
            with engine.connect() as conn:
                count = int(
                    conn.execute(
                        select(func.count()).where(fam.source_id > watermark, fam.source_id <= hi)
                    ).scalar_one()
                )
                write = fam.fold(conn, watermark, hi)
            with engine.begin() as conn:
                moved = conn.execute(
                    update(rollup_state)
                    .where(
                        rollup_state.c.family == fam.name,
                        rollup_state.c.watermark == watermark,
                        rollup_state.c.lease_owner == run.owner,
                    )
                    .values(
                        watermark=hi,
                        updated_at_unix_nano=run.clock(),
                        lease_until_unix_nano=run.clock() + run.lease_ns,
                    )
                ).rowcount
                if moved != 1:
                    log.info("rollup %s: lease lost, stopping", fam.name)
                    conn.rollback()
                    lost = True
                    break
                write(conn)
            watermark = hi
            processed += count
            batches += 1
        if fam.retry is not None and not lost:
            _retry(engine, fam, run, watermark)
    finally:
        with engine.begin() as conn:
            conn.execute(
                update(rollup_state)
                .where(rollup_state.c.family == fam.name, rollup_state.c.lease_owner == run.owner)
                .values(lease_until_unix_nano=0, updated_at_unix_nano=run.clock())
            )
    return FamilyReport(fam.name, True, processed, watermark, newest)


def _retry(engine: Engine, fam: _Family, run: _Run, watermark: int) -> None:
    """The family's left-over work, written only while this refresher still holds the lease."""
    assert fam.retry is not None
    with engine.connect() as conn:
        write = fam.retry(conn)
    if write is None:
        return
    with engine.begin() as conn:
        held = conn.execute(
            update(rollup_state)
            .where(
                rollup_state.c.family == fam.name,
                rollup_state.c.watermark == watermark,
                rollup_state.c.lease_owner == run.owner,
            )
            .values(updated_at_unix_nano=run.clock(), lease_until_unix_nano=run.clock() + run.lease_ns)
        ).rowcount
        if held != 1:
            log.info("rollup %s: lease lost, pending work left for the next refresh", fam.name)
            conn.rollback()
            return
        write(conn)


def _claim(engine: Engine, fam: _Family, run: _Run, newest: int) -> tuple[int, int] | None:
    """Take the family's lease: (watermark, how far it may read now), or None when it is taken.

    With a horizon, the readable limit is the newest id observed at least a horizon ago; the
    observation is renewed when it has matured, so the rollups trail the store by one horizon.
    """
    now = run.clock()
    with engine.begin() as conn:
        conn.execute(
            insert_for(conn, rollup_state)
            .values(
                family=fam.name,
                watermark=0,
                signature=fam.signature,
                updated_at_unix_nano=0,
                lease_owner="",
                lease_until_unix_nano=0,
                seen_max=0,
                seen_at_unix_nano=0,
            )
            .on_conflict_do_nothing(index_elements=["family"])
        )
        claimed = conn.execute(
            update(rollup_state)
            .where(
                rollup_state.c.family == fam.name,
                (rollup_state.c.lease_until_unix_nano < now) | (rollup_state.c.lease_owner == run.owner),
            )
            .values(lease_owner=run.owner, lease_until_unix_nano=now + run.lease_ns)
        ).rowcount
        if claimed != 1:
            return None
        row = conn.execute(select(rollup_state).where(rollup_state.c.family == fam.name)).one()
        watermark = int(row.watermark)
        if row.signature != fam.signature:
            log.info("rollup %s: definitions changed, rebuilding from the start", fam.name)
            for table in fam.tables:
                conn.execute(delete(table))
            conn.execute(
                update(rollup_state)
                .where(rollup_state.c.family == fam.name)
                .values(watermark=0, signature=fam.signature)
            )
            watermark = 0
        if run.horizon_ns <= 0:
            return watermark, newest
        target = watermark
        if int(row.seen_at_unix_nano) <= now - run.horizon_ns:
            target = max(watermark, int(row.seen_max))
            conn.execute(
                update(rollup_state)
                .where(rollup_state.c.family == fam.name)
                .values(seen_max=newest, seen_at_unix_nano=now)
            )
        return watermark, min(target, newest)

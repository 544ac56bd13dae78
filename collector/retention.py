"""Retention: delete telemetry rows older than their signal's retention, in small batches.

Which rows go is decided over plain data (:func:`plan`: a cutoff per table from the settings and
a given ``now``); :func:`run` is the SQL edge, and :class:`RetentionJob` the scheduler job that
``vitals serve`` assembles.

Why batches by id range: on SQLite one writer at a time holds the store, so one big DELETE would
stall ingest for as long as it runs. Each batch examines the next ``batch_rows`` ids of a table
(its primary key, so the range is cheap to find on both stores) and deletes those older than the
cutoff, in one short transaction; between batches the job pauses so the writer always gets in.
A table's walk starts at its lowest id and stops at the first batch
that deletes nothing: ids follow ingestion, so the rows above are newer. A row ingested after
newer ones (a late back-fill) waits until the rows ingested before it expire, so it lives at
most about twice its retention. SQLite keeps the freed pages in its freelist and reuses them
for new rows, so under steady ingest the file stops growing; PostgreSQL's autovacuum does the
same for its tables.

On PostgreSQL ``spans`` and ``metric_points`` are partitioned by UTC day (``collector.partitions``):
a run first creates the partitions of today and the next days, then drops whole every day
partition older than the cutoff (a catalogue change, not a delete), and only then walks the ids
as above, which now finds just the rows of the boundary day and of the default partition (rows
dated outside every day partition).

Readers follow ``spans`` and ``metric_points`` by id (``vitals.kernel.follow``). A deleted row
looks to them like an id that was never committed: a reader whose position is behind simply
does not see it (an SLA back-fill or a dashboard rollup that is more than the retention behind
loses those rows, nothing else). Ids are never reused (AUTOINCREMENT on SQLite, sequences on
PostgreSQL), so a watermark never skips a new row because an old one was deleted.

How fast it deletes (:class:`Pacing`, pure): a fixed batch and a pause as long as the batch took
fell behind a busy SQLite store (the soak: 4.7 million spans stored where retention should have
left 1 million). The time a batch took was mostly waiting for the ingest writer's lock, and the
job then paused as long again, so the busier the store, the slower it deleted. Now the batch's
size follows the time it *held* the lock (measured from its first write to its commit), towards
``hold_s``; the pause follows the backlog (how far the oldest row examined is past its cutoff,
in run intervals): the job gives the writer half the time when it is caught up, and less (never
under ``min_pause_s``, about one retry of the writer's busy handler) when it is behind. The
writer therefore waits at most about ``hold_s`` for one batch, and, where the machine can delete
faster than a steady ingest adds rows, the store converges to its retention's size. A run walks
its tables in turn, a batch of each, so ``span_keys`` keeps pace with ``spans``.

One process at a time deletes: the lease ``collector.retention`` (``vitals.kernel.lease``). In
``vitals serve`` it is kept like the other singleton jobs' leases, by a :class:`~vitals.kernel.lease.Keeper`
on a heartbeat: it lasts half the takeover bound (15 s of 30 by default) and is renewed every sixth
of it, so when the holder dies another process takes the job over within the bound and runs it at
once. A run also renews it at the start *and* at the end of every batch's transaction (a batch that
took longer than the lease leaves it held for a full lease after its commit) and never pauses
longer than a third of it, so a living holder does not lose it between two batches even without
the heartbeat; a holder that did lose it (stalled past its expiry, and taken over) renews nothing,
rolls back, and stops before writing again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Table, delete, func, select
from sqlalchemy.engine import Connection, Engine

from collector import partitions as parts
from collector.tables import metric_points, span_keys, spans
from vitals.kernel.lease import Keeper, Lease, Timing, hold, release, take
from vitals.kernel.units import NS

if TYPE_CHECKING:
    from collector.config import Retention
    from vitals.kernel.runtime import ServiceContext

__all__ = [
    "HEARTBEAT_JOB_ID",
    "JOB_ID",
    "LEASE",
    "TIME_COLUMNS",
    "Batch",
    "Cutoff",
    "Pacing",
    "RetentionJob",
    "RunReport",
    "install",
    "next_rows",
    "pause_s",
    "plan",
    "run",
]

log = logging.getLogger(__name__)

JOB_ID = "collector.retention"
HEARTBEAT_JOB_ID = "collector.retention.heartbeat"
#: Seconds from the start of ``vitals serve`` to the first run.
FIRST_RUN_S = 60.0
LEASE = "collector.retention"

#: Table -> the time column its retention is measured on (the event time, as SLAs read it).
TIME_COLUMNS: dict[str, str] = {
    "spans": "event_time_unix_nano",
    "span_keys": "event_time_unix_nano",
    "metric_points": "time_unix_nano",
}
_TABLES: dict[str, Table] = {"spans": spans, "span_keys": span_keys, "metric_points": metric_points}
#: Table -> the retention setting (signal) it follows.
SIGNALS: dict[str, str] = {"spans": "spans", "span_keys": "spans", "metric_points": "metrics"}


@dataclass(frozen=True)
class Cutoff:
    """Rows of ``table`` whose ``time_column`` is below ``before_ns`` are deleted."""

    table: str
    time_column: str
    before_ns: int


def plan(keep_s: dict[str, float | None], now_ns: int) -> tuple[Cutoff, ...]:
    """The cutoff of every table whose signal has a retention (pure).

    ``keep_s``: signal (``spans``, ``metrics``) -> seconds to keep, or None to keep for ever.
    ``span_keys`` follows ``spans``, so a span's keys go with it (same event time).
    """
    out = []
    for table, signal in SIGNALS.items():
        keep = keep_s.get(signal)
        if keep is not None:
            out.append(Cutoff(table, TIME_COLUMNS[table], now_ns - int(keep * NS)))
    return tuple(out)


@dataclass(frozen=True)
class Batch:
    """One delete transaction: ids above ``after_id`` up to ``last_id`` examined."""

    table: str
    after_id: int
    last_id: int
    examined: int
    deleted: int
    seconds: float
    #: Seconds from the batch's first write (SQLite takes the write lock there) to its commit:
    #: what ingest waited for, as opposed to ``seconds``, which counts the wait for the lock too.
    held_s: float = 0.0
    #: How far past its cutoff the last row examined was (seconds of event time; 0 when it was
    #: not expired): the backlog the walk still has in front of it.
    behind_s: float = 0.0


@dataclass(frozen=True)
class Pacing:
    """How a run sizes its batches and pauses between them on SQLite (see the module doc)."""

    #: The smallest batch (a run starts at collector.yaml's ``batch_rows``).
    min_rows: int = 500
    #: The largest batch, however short the batches are.
    max_rows: int = 50_000
    #: The time a batch should hold the store's write lock: what ingest may wait for.
    hold_s: float = 0.2
    #: The shortest pause: the writer's busy handler retries about every 100 ms, so a shorter
    #: gap could go by without it noticing.
    min_pause_s: float = 0.1
    #: The run interval (collector.yaml's ``interval``): a backlog is counted in intervals.
    interval_s: float = 600.0
    #: The share of the time the job deletes when caught up, and when a backlog of
    #: ``behind_intervals`` intervals or more is waiting.
    calm_duty: float = 0.5
    busy_duty: float = 0.8
    behind_intervals: float = 5.0


def next_rows(rows: int, held_s: float, pacing: Pacing) -> int:
    """The next batch's size: scaled towards ``hold_s`` from the last batch's hold, by at most
    half or double a step (one slow batch, a checkpoint say, does not collapse it), within the
    bounds."""
    factor = 2.0 if held_s <= 0 else min(2.0, max(0.5, pacing.hold_s / held_s))
    return max(pacing.min_rows, min(pacing.max_rows, int(rows * factor)))


def pause_s(held_s: float, behind_s: float, pacing: Pacing) -> float:
    """The pause after a batch that held the lock ``held_s`` with ``behind_s`` of backlog: the
    job deletes ``calm_duty`` of the time when caught up, up to ``busy_duty`` when behind."""
    behind = max(0.0, behind_s / pacing.interval_s - 1) / max(1e-9, pacing.behind_intervals - 1)
    duty = pacing.calm_duty + (pacing.busy_duty - pacing.calm_duty) * min(1.0, behind)
    return max(pacing.min_pause_s, held_s * (1 - duty) / duty)


@dataclass
class RunReport:
    """What one run did; ``claimed`` is False when another process holds the lease."""

    claimed: bool
    deleted: dict[str, int] = field(default_factory=dict)
    batches: list[Batch] = field(default_factory=list)
    lease_lost: bool = False
    finished: bool = True
    #: PostgreSQL: day partitions created ahead, and expired ones dropped whole (with their rows
    #: counted in ``deleted``).
    created_partitions: list[str] = field(default_factory=list)
    dropped_partitions: list[str] = field(default_factory=list)

    @property
    def longest_batch_s(self) -> float:
        return max((b.seconds for b in self.batches), default=0.0)


def _delete_batch(
    conn: Connection, cutoff: Cutoff, after_id: int, batch_rows: int
) -> tuple[int, int, int, float]:
    """Examine the next ``batch_rows`` ids above ``after_id``: (last id, examined, deleted, and
    how many seconds past the cutoff the last row examined was)."""
    table = _TABLES[cutoff.table]
    ids = select(table.c.id).where(table.c.id > after_id).order_by(table.c.id).limit(batch_rows).subquery()
    last, examined = conn.execute(select(func.max(ids.c.id), func.count())).one()
    if not examined:
        return after_id, 0, 0, 0.0
    time_column = table.c[cutoff.time_column]
    last_time = conn.execute(select(time_column).where(table.c.id == last)).scalar()
    behind_s = max(0.0, (cutoff.before_ns - int(last_time)) / NS) if last_time is not None else 0.0
    deleted = conn.execute(
        delete(table).where(table.c.id > after_id, table.c.id <= last, time_column < cutoff.before_ns)
    ).rowcount
    return int(last), int(examined), int(deleted), behind_s


@dataclass
class _Walk:
    """Where a run is in one table: ids up to ``after_id`` examined, the next batch's size."""

    cutoff: Cutoff
    rows: int
    after_id: int | None = None


def _autocheckpoint(conn: Connection, pages: int) -> int:
    """Set this SQLite connection's ``wal_autocheckpoint``; the value it had."""
    before = int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() or 0)
    conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(pages)}")
    conn.commit()
    return before


def _lowest_id(conn: Connection, table: str) -> int:
    return int(conn.execute(select(func.min(_TABLES[table].c.id))).scalar() or 1)


def run(
    engine: Engine,
    cutoffs: Sequence[Cutoff],
    *,
    owner: str,
    batch_rows: int,
    lease_s: float = Timing().lease_s,
    clock: Callable[[], int] = time.time_ns,
    pause: Callable[[float], object] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
    max_batches: int | None = None,
    on_batch: Callable[[Batch], object] | None = None,
    now_ns: int | None = None,
    pacing: Pacing | None = None,
    keep_lease: bool = False,
) -> RunReport:
    """Delete what ``cutoffs`` say, one short transaction per batch, under the lease.

    ``clock`` is only for the lease's expiry (the cutoffs carry their own ``now``). ``pause`` gets
    the seconds to wait between batches on SQLite (as long as the last batch took), so a writer
    waiting for the store gets in; ``stop`` is checked between batches; ``max_batches`` bounds
    one run (the next run goes on where the rows are). ``now_ns`` (default: ``clock()``) is the
    day PostgreSQL's partitions are created ahead from. ``pacing`` (SQLite) sizes the batches
    and the pauses by :func:`next_rows` and :func:`pause_s`, from ``batch_rows``; without it every
    batch is ``batch_rows`` and the pause as long as the batch took. Every pause is at most a
    third of ``lease_s``, and every batch renews the lease at its start and its end. With
    ``keep_lease`` (a heartbeat keeps it: :class:`RetentionJob`) the lease stays held after the
    run; otherwise it is released so the next taker gets in at once.
    """
    lease_ns = int(lease_s * NS)
    #: A pause never lets the lease run out between two batches (the job has no heartbeat of
    #: its own outside ``vitals serve``).
    longest_pause = lease_s / 3
    with engine.begin() as conn:
        lease: Lease | None = take(conn, LEASE, owner, clock(), lease_ns)
    report = RunReport(claimed=lease is not None)
    if lease is None:
        return report
    sqlite = engine.dialect.name == "sqlite"
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                lease = hold(conn, lease, clock(), lease_ns)
                if lease is None:
                    report.lease_lost, report.finished = True, False
                    return report
                report.created_partitions += parts.ensure_ahead(conn, clock() if now_ns is None else now_ns)
                lease = _renew_at_commit(conn, lease, clock(), lease_ns)
            lease = _drop_expired(engine, cutoffs, report, lease=lease, clock=clock, lease_ns=lease_ns)
            if lease is None:
                return report
        with engine.connect() as conn:
            # Paced on SQLite, the job's commits leave checkpoints to the store writer's
            # checkpointer (``collector.sql_sink``): an automatic checkpoint ran in the commit of
            # a batch that crossed the WAL's 1,000 pages and held the job up for it.
            autocheckpoint = _autocheckpoint(conn, 0) if sqlite and pacing is not None else None
            try:
                # One batch of each table in turn, so ``span_keys`` keeps pace with ``spans``
                # when a run is behind (a run that did all of ``spans`` first left their keys
                # waiting for it).
                walks = {c.table: _Walk(c, batch_rows) for c in cutoffs}
                for cutoff in cutoffs:
                    report.deleted.setdefault(cutoff.table, 0)
                while walks:
                    for walk in list(walks.values()):
                        if stop() or (max_batches is not None and len(report.batches) >= max_batches):
                            report.finished = False
                            return report
                        started = time.perf_counter()
                        with conn.begin():
                            # The renewal is the transaction's first write: on SQLite it takes the lock.
                            lease = hold(conn, lease, clock(), lease_ns)
                            locked = time.perf_counter()
                            if lease is None:
                                # The renewal matched no row: nothing was written in this transaction.
                                report.lease_lost, report.finished = True, False
                                return report
                            if walk.after_id is None:
                                walk.after_id = _lowest_id(conn, walk.cutoff.table) - 1
                            after_id = walk.after_id
                            last, examined, deleted, behind_s = _delete_batch(
                                conn, walk.cutoff, after_id, walk.rows
                            )
                            lease = _renew_at_commit(conn, lease, clock(), lease_ns)
                        done = time.perf_counter()
                        batch = Batch(
                            walk.cutoff.table,
                            after_id,
                            last,
                            examined,
                            deleted,
                            done - started,
                            done - locked,
                            behind_s,
                        )
                        report.batches.append(batch)
                        report.deleted[walk.cutoff.table] += deleted
                        if on_batch is not None:
                            on_batch(batch)
                        if not examined or not deleted:
                            del walks[walk.cutoff.table]
                            continue
                        walk.after_id = last
                        if sqlite and pacing is None:
                            pause(min(batch.seconds, longest_pause))
                        elif sqlite and pacing is not None:
                            pause(min(pause_s(batch.held_s, batch.behind_s, pacing), longest_pause))
                            walk.rows = next_rows(walk.rows, batch.held_s, pacing)
            finally:
                if autocheckpoint is not None:
                    _autocheckpoint(conn, autocheckpoint)
        return report
    finally:
        if lease is not None and not keep_lease:
            with engine.begin() as conn:
                release(conn, lease)


def _renew_at_commit(conn: Connection, lease: Lease, now_ns: int, lease_ns: int) -> Lease:
    """Renew ``lease`` again as the transaction's last write, so a batch that took longer than
    the lease leaves it held for a full lease after its commit. It cannot fail: the transaction
    renewed it first and holds its row (PostgreSQL) or the store (SQLite) since."""
    renewed = hold(conn, lease, now_ns, lease_ns)
    return lease if renewed is None else renewed


def _drop_expired(
    engine: Engine,
    cutoffs: Sequence[Cutoff],
    report: RunReport,
    *,
    lease: Lease,
    clock: Callable[[], int],
    lease_ns: int,
) -> Lease | None:
    """PostgreSQL: drop every day partition wholly older than its table's cutoff, one per
    transaction under the lease; None when the lease was lost."""
    for cutoff in cutoffs:
        if cutoff.table not in parts.PARTITIONED:
            continue
        with engine.connect() as conn:
            expired = parts.expired(parts.partitions(conn, cutoff.table), cutoff.before_ns)
        for partition in expired:
            with engine.begin() as conn:
                held = hold(conn, lease, clock(), lease_ns)
                if held is None:
                    report.lease_lost, report.finished = True, False
                    return None
                lease = held
                rows = parts.drop(conn, cutoff.table, partition)
                lease = _renew_at_commit(conn, lease, clock(), lease_ns)
            report.deleted[cutoff.table] = report.deleted.get(cutoff.table, 0) + rows
            report.dropped_partitions.append(partition.name)
    return lease


class RetentionJob:
    """The scheduler job of ``vitals serve``: one run per ``interval``, now from the wall clock.

    Its lease is kept by :attr:`keeper` (beaten by ``vitals serve``'s heartbeat, see
    :func:`install`), like the SLA engine's, the alert evaluation's and the dashboard rollups':
    a standby takes the job over within the takeover bound of its holder's death.
    """

    def __init__(
        self,
        ctx: ServiceContext,
        settings: Retention,
        *,
        max_batches: int = 500,
        keeper: Keeper | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.keeper = keeper or Keeper(ctx.engine, LEASE)
        self.owner = self.keeper.owner
        self.max_batches = max_batches
        self.last: RunReport | None = None
        #: Whether a run was tried in this process: a heartbeat that takes the lease over runs
        #: the job at once, but not the first take after the start (the first run waits a minute).
        self.tried = False

    def beat(self) -> bool:
        """The heartbeat: renew or take the lease; True when this process has just taken the job
        over from another (its run is then due at once)."""
        return self.keeper.beat() and self.tried

    def keep_s(self) -> dict[str, float | None]:
        return {"spans": self.settings.spans, "metrics": self.settings.metrics}

    def pacing(self) -> Pacing:
        """Batches start at ``batch_rows``; they may shrink to a quarter of it (a busy machine,
        where 2,000 rows held the lock 0.5 s in a trial) and grow to 25 times it."""
        rows = self.settings.batch_rows
        return Pacing(min_rows=max(100, rows // 4), max_rows=25 * rows, interval_s=self.settings.interval)

    def run_once(self, now_ns: int | None = None) -> RunReport | None:
        """One run at ``now_ns`` (default: now). Never raises: a failure is retried next interval."""
        now = time.time_ns() if now_ns is None else now_ns
        self.tried = True
        try:
            if not self.keeper.holds():
                self.keeper.renew()  # a run before the first heartbeat, or after a lost one
            if not self.keeper.holds():
                report = RunReport(claimed=False)
            else:
                report = run(
                    self.ctx.engine,
                    plan(self.keep_s(), now),
                    owner=self.keeper.owner,
                    batch_rows=self.settings.batch_rows,
                    lease_s=self.keeper.timing.lease_s,
                    clock=self.keeper.clock,
                    stop=self.ctx.stop_event.is_set,
                    max_batches=self.max_batches,
                    now_ns=now,
                    pacing=self.pacing(),
                    keep_lease=True,
                )
        except Exception as exc:  # a transient database error: try again next interval
            log.warning("retention: %s", exc)
            self.ctx.status["retention"] = f"failing: {exc.__class__.__name__}: {exc}"
            return None
        self.last = report
        if not report.claimed:
            other = self.keeper.other.owner if self.keeper.other else "another process"
            self.ctx.status["retention"] = f"standby: {other} deletes expired rows"
            return report
        total = sum(report.deleted.values())
        if report.created_partitions or report.dropped_partitions:
            log.info(
                "retention: day partitions created %s, dropped %s",
                ", ".join(report.created_partitions) or "none",
                ", ".join(report.dropped_partitions) or "none",
            )
        if total:
            log.info(
                "retention: deleted %s in %d batches (longest %.0f ms)",
                ", ".join(f"{n:,} {t}" for t, n in report.deleted.items() if n),
                len(report.batches),
                report.longest_batch_s * 1000,
            )
        self.ctx.status["retention"] = f"deleted {total:,} expired rows" + (
            "" if report.finished else "; more next run"
        )
        return report


def install(ctx: ServiceContext, settings: Retention) -> RetentionJob:
    """Add the retention job to ``vitals serve`` (called by ``vitals.shell.serve``)."""
    retention = settings.spans is not None or settings.metrics is not None
    # On PostgreSQL the job also creates the day partitions ahead, so it runs even without one.
    if not retention and ctx.engine.dialect.name != "postgresql":
        ctx.status["retention"] = "off: spans and metric points are kept for ever"
        return RetentionJob(ctx, settings)
    job = RetentionJob(ctx, settings)
    # The first run a minute after the start, so a process restarted more often than every
    # ``interval`` still deletes.
    first = datetime.now(UTC) + timedelta(seconds=min(FIRST_RUN_S, settings.interval))
    ctx.scheduler.add_job(
        job.run_once,
        "interval",
        seconds=settings.interval,
        next_run_time=first,
        id=JOB_ID,
        name="retention",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    # The lease on the takeover bound's heartbeat, as the other singleton jobs keep theirs.
    ctx.add_heartbeat(HEARTBEAT_JOB_ID, job.keeper.timing.heartbeat_s, job.beat, JOB_ID)
    ctx.on_stop.append(job.keeper.release)
    ctx.status["retention"] = (
        "deletes expired spans and metric points"
        if retention
        else "off (spans and metric points kept for ever); creates day partitions ahead"
    )
    return job

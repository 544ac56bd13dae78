"""The SLA engine's retention on the store: expired rows deleted, old evaluations thinned.

The engine calls it (``SqlStateStore.prune``) at most once an hour from its tick, so it runs
where the tick runs: in the one process holding the ``slas.engine`` lease. What it does:

1. counted lag objects past their expiry are deleted;
2. per-minute rollups (``sla_minutes``) older than ``evaluation.retention`` (400 days by default)
   are deleted, one series at a time, a day of minutes per transaction;
3. evaluations older than the longer of ``retention`` and ``evaluation_retention`` are deleted;
4. evaluations older than ``evaluation_retention`` (35 days by default) are thinned to one per
   hour per SLA and slice, every status change and breach start kept (:mod:`slas.downsample`),
   one hour at a time, from where the last pass stopped (``sla_retention``).

Why short transactions and a budget: on SQLite one writer holds the store at a time, so a long
DELETE would stall the collector. Every write here is a transaction of at most ``batch_rows``
rows; on SQLite the pass then pauses as long as that transaction took, so a waiting writer gets
in; and a pass stops after ``budget_s`` (the next one, an hour later, goes on), which keeps the
tick well inside the engine's lease (three intervals, at least a minute). Steady state, a pass
has one hour of each to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from slas.downsample import KEPT_STEP_NS, Mark, RunKey, Series, floor_to, last_keys, thin
from slas.tables import sla_evaluations, sla_lag_objects, sla_minutes, sla_retention, sla_series
from vitals.kernel.units import MINUTE_NS

__all__ = ["THINNED", "PruneReport", "prune"]

#: ``sla_retention.job`` of the evaluation thinning.
THINNED = "evaluations.thinned"
_ev = sla_evaluations.c


@dataclass
class PruneReport:
    """What one pass did; ``finished`` is False when the budget ran out first."""

    lag_objects: int = 0
    minutes: int = 0
    evaluations_deleted: int = 0
    evaluations_thinned: int = 0
    thinned_to_ns: int | None = None
    batches: int = 0
    longest_batch_s: float = 0.0
    finished: bool = True


class _Batches:
    """Short write transactions within a time budget, with a pause after each on SQLite."""

    def __init__(
        self,
        engine: Engine,
        report: PruneReport,
        budget_s: float,
        pause: Callable[[float], object],
        monotonic: Callable[[], float],
    ) -> None:
        self.engine = engine
        self.report = report
        self.pause = pause
        self.monotonic = monotonic
        self.deadline = monotonic() + budget_s
        self.sqlite = engine.dialect.name == "sqlite"

    def more(self) -> bool:
        if self.monotonic() < self.deadline:
            return True
        self.report.finished = False
        return False

    @contextmanager
    def write(self) -> Iterator[Connection]:
        started = time.perf_counter()
        with self.engine.begin() as conn:
            yield conn
        took = time.perf_counter() - started
        self.report.batches += 1
        self.report.longest_batch_s = max(self.report.longest_batch_s, took)
        if self.sqlite:
            self.pause(took)


def prune(
    engine: Engine,
    now_ns: int,
    minutes_before_ns: int,
    evaluations_before_ns: int,
    *,
    batch_rows: int = 2000,
    budget_s: float = 5.0,
    pause: Callable[[float], object] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> PruneReport:
    """One retention pass (see the module). Evaluations live as long as the longer of the two
    retentions; those older than ``evaluations_before_ns`` are kept thinned."""
    report = PruneReport()
    batches = _Batches(engine, report, budget_s, pause, monotonic)
    delete_before = min(minutes_before_ns, evaluations_before_ns)
    _delete_lag_objects(batches, now_ns, batch_rows)
    _delete_minutes(batches, minutes_before_ns, batch_rows)
    _delete_evaluations(batches, delete_before, batch_rows)
    if evaluations_before_ns > delete_before:
        _thin(batches, now_ns, delete_before, evaluations_before_ns, batch_rows)
    return report


def _delete_lag_objects(batches: _Batches, now_ns: int, batch_rows: int) -> None:
    o = sla_lag_objects.c
    while batches.more():
        keys = select(o.sla_id, o.key_hash).where(o.expires_unix_nano < now_ns).limit(batch_rows)
        with batches.write() as conn:
            gone = conn.execute(
                delete(sla_lag_objects).where(tuple_(o.sla_id, o.key_hash).in_(keys))
            ).rowcount
        batches.report.lag_objects += gone
        if gone < batch_rows:
            return


def _delete_minutes(batches: _Batches, before_ns: int, batch_rows: int) -> None:
    """One primary-key range per series and transaction: never a scan of the whole table."""
    m = sla_minutes.c
    with batches.engine.connect() as conn:
        series = conn.execute(select(sla_series.c.sla_id, sla_series.c.slice)).all()
    for sla_id, slice_key in series:
        mine = (m.sla_id == sla_id) & (m.slice == slice_key)
        while batches.more():
            with batches.write() as conn:
                oldest = conn.execute(select(func.min(m.minute_unix_nano)).where(mine)).scalar()
                if oldest is None or int(oldest) >= before_ns:
                    break
                upto = min(before_ns, int(oldest) + batch_rows * MINUTE_NS)
                gone = conn.execute(delete(sla_minutes).where(mine, m.minute_unix_nano < upto)).rowcount
            batches.report.minutes += gone


def _delete_evaluations(batches: _Batches, before_ns: int, batch_rows: int) -> None:
    while batches.more():
        ids = select(_ev.id).where(_ev.evaluated_at_unix_nano < before_ns).limit(batch_rows)
        with batches.write() as conn:
            gone = conn.execute(delete(sla_evaluations).where(_ev.id.in_(ids))).rowcount
        batches.report.evaluations_deleted += gone
        if gone < batch_rows:
            return


def _thin(batches: _Batches, now_ns: int, delete_before_ns: int, before_ns: int, batch_rows: int) -> None:
    """Thin whole hours below ``before_ns``, one hour per read, from where the last pass stopped."""
    with batches.engine.connect() as conn:
        done = conn.execute(
            select(sla_retention.c.done_unix_nano).where(sla_retention.c.job == THINNED)
        ).scalar()
    hour = max(int(done or 0), floor_to(delete_before_ns))
    end = floor_to(before_ns)
    previous: dict[Series, RunKey | None] = {}
    while hour < end and batches.more():
        with batches.engine.connect() as conn:
            first = conn.execute(
                select(func.min(_ev.evaluated_at_unix_nano)).where(
                    _ev.evaluated_at_unix_nano >= hour, _ev.evaluated_at_unix_nano < end
                )
            ).scalar()
            if first is None:
                hour = end
                break
            hour = floor_to(int(first))
            marks = [
                Mark(int(r.id), r.sla_id, r.slice, int(r.evaluated_at_unix_nano), r.status, _int(r.breach))
                for r in conn.execute(
                    select(
                        _ev.id,
                        _ev.sla_id,
                        _ev.slice,
                        _ev.evaluated_at_unix_nano,
                        _ev.status,
                        _ev.breach_started_unix_nano.label("breach"),
                    ).where(
                        _ev.evaluated_at_unix_nano >= hour,
                        _ev.evaluated_at_unix_nano < hour + KEPT_STEP_NS,
                    )
                )
            ]
            for series in {mark.series for mark in marks} - previous.keys():
                previous[series] = _key_before(conn, series, hour)
        doomed = thin(marks, previous)
        previous.update(last_keys(marks))
        for start in range(0, len(doomed), batch_rows):
            with batches.write() as conn:
                gone = conn.execute(
                    delete(sla_evaluations).where(_ev.id.in_(doomed[start : start + batch_rows]))
                ).rowcount
            batches.report.evaluations_thinned += gone
        hour += KEPT_STEP_NS
        _mark_done(batches, now_ns, hour)
    if hour >= end and (done is None or int(done) < end):
        _mark_done(batches, now_ns, end)
    batches.report.thinned_to_ns = hour


def _key_before(conn: Connection, series: Series, at_ns: int) -> RunKey | None:
    """The run key of the series' row just before ``at_ns`` (by the (sla, slice, time) index)."""
    row = conn.execute(
        select(_ev.status, _ev.breach_started_unix_nano)
        .where(_ev.sla_id == series[0], _ev.slice == series[1], _ev.evaluated_at_unix_nano < at_ns)
        .order_by(_ev.evaluated_at_unix_nano.desc(), _ev.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], _int(row[1]))


def _mark_done(batches: _Batches, now_ns: int, done_ns: int) -> None:
    with batches.write() as conn:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(sla_retention).values(job=THINNED, done_unix_nano=done_ns, updated_at_unix_nano=now_ns)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["job"],
                set_={"done_unix_nano": stmt.excluded.done_unix_nano, "updated_at_unix_nano": now_ns},
            )
        )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)

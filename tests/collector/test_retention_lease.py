"""Retention's lease on the shared takeover bound: a standby takes the job over within it when the
holder dies, and a living holder keeps it through a batch longer than the lease."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from collector.config import Retention
from collector.retention import LEASE, Batch, RetentionJob, plan, run
from collector.tables import spans
from tests.collector.test_retention import DAY_S, NOW_NS, count, no_pause, spans_aged
from tests.support.factories import insert_spans
from vitals.kernel.lease import Keeper, Timing, holder, take
from vitals.kernel.units import NS


class Clock:
    def __init__(self, now_ns: int) -> None:
        self.now = now_ns

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * NS)


def job(engine: Engine, owner: str, clock: Clock, timing: Timing | None = None) -> RetentionJob:
    """A retention job of one process; ``owner`` names a host other than this one, so its death
    is waited out (not detected), as for a process on another machine."""
    ctx = SimpleNamespace(engine=engine, status={}, stop_event=threading.Event())
    keeper = Keeper(engine, LEASE, owner=owner, timing_=timing or Timing(), clock=clock)
    return RetentionJob(ctx, Retention(batch_rows=100), keeper=keeper)  # type: ignore[arg-type]


def test_the_lease_lasts_half_the_takeover_bound_not_three_intervals(engine: Engine) -> None:
    clock = Clock(NOW_NS)
    holder_job = job(engine, "ward-a:101:aa", clock)
    assert holder_job.beat() is False  # the first take after the start does not run the job at once
    report = holder_job.run_once(NOW_NS)
    assert report is not None and report.claimed
    with engine.connect() as conn:
        lease = holder(conn, LEASE)
    assert lease is not None and lease.owner == "ward-a:101:aa"
    # Held for half the bound (15 s), and still held after the run: the heartbeat keeps it.
    assert lease.expires_ns == NOW_NS + 15 * NS


def test_a_standby_takes_retention_over_within_the_bound_when_the_holder_dies(engine: Engine) -> None:
    clock = Clock(NOW_NS)
    timing = Timing()
    first, second = job(engine, "ward-a:101:aa", clock), job(engine, "ward-b:202:bb", clock)
    first.beat()
    assert first.keeper.holds()
    # The standby's own run finds the job held and stands by.
    insert_spans(engine, spans_aged(20, 30, keys=False))
    standby = second.run_once(NOW_NS)
    assert standby is not None and not standby.claimed
    assert second.ctx.status["retention"] == "standby: ward-a:101:aa deletes expired rows"
    assert count(engine, spans) == 30

    # The holder renews once more and dies at once (the worst case); the standby beats on.
    first.beat()
    died = clock.now
    taken_after = None
    while clock.now - died <= 60 * NS:
        clock.advance(timing.heartbeat_s)
        if second.beat():
            taken_after = (clock.now - died) / NS
            break
    assert taken_after is not None and taken_after <= timing.worst_takeover_s <= timing.bound_s
    # beat() said "run now" (this process had tried before): the job deletes at once.
    report = second.run_once(NOW_NS)
    assert report is not None and report.claimed and report.deleted["spans"] == 30
    with engine.connect() as conn:
        lease = holder(conn, LEASE)
    assert lease is not None and lease.owner == "ward-b:202:bb"
    # The old holder, back from a stall, finds the job taken: it renews nothing and deletes nothing.
    insert_spans(engine, spans_aged(20, 5, keys=False))
    assert first.beat() is False and not first.keeper.holds()
    late = first.run_once(NOW_NS)
    assert late is not None and not late.claimed and count(engine, spans) == 5


def test_a_living_holder_keeps_the_lease_through_a_batch_longer_than_it(engine: Engine) -> None:
    insert_spans(engine, spans_aged(20, 300, keys=False))
    clock = Clock(NOW_NS)
    timing = Timing()

    def slow_delete(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM"):
            clock.advance(timing.lease_s + 5)  # each batch's DELETE takes longer than the lease

    stolen: list[bool] = []

    def standby_tries(batch: Batch) -> None:
        # Just after the batch's commit, a standby on another host tries to take the lease.
        with engine.begin() as conn:
            stolen.append(take(conn, LEASE, "ward-b:202:bb", clock(), int(timing.lease_s * NS)) is not None)

    event.listen(engine, "after_cursor_execute", slow_delete)
    try:
        report = run(
            engine,
            plan({"spans": 14 * DAY_S}, NOW_NS),
            owner="ward-a:101:aa",
            batch_rows=100,
            lease_s=timing.lease_s,
            clock=clock,
            pause=no_pause,
            on_batch=standby_tries,
        )
    finally:
        event.remove(engine, "after_cursor_execute", slow_delete)
    assert report.claimed and report.finished and not report.lease_lost
    assert report.deleted["spans"] == 300
    assert stolen and not any(stolen)


def test_a_run_never_pauses_long_enough_to_lose_its_lease(sqlite_engine: Engine) -> None:
    engine = sqlite_engine  # only SQLite pauses between batches
    insert_spans(engine, spans_aged(20, 300, keys=False))
    pauses: list[float] = []
    clock = Clock(NOW_NS)

    def slow_pause(seconds: float) -> None:
        pauses.append(seconds)
        clock.advance(seconds)

    # A lease so short that any real batch takes longer than a third of it: every pause is capped.
    lease_s = 3e-6
    report = run(
        engine,
        plan({"spans": 14 * DAY_S}, NOW_NS),
        owner="ward-a:101:aa",
        batch_rows=100,
        lease_s=lease_s,
        clock=clock,
        pause=slow_pause,
    )
    assert report.finished and not report.lease_lost and report.deleted["spans"] == 300
    assert pauses and max(pauses) <= lease_s / 3

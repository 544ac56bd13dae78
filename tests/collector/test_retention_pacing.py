"""Retention's pacing on SQLite: batches sized by the time they hold the lock, pauses by the
backlog, so a store under steady ingest converges to its retention's size."""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.retention import Pacing, next_rows, pause_s, plan, run
from collector.tables import spans
from tests.support.factories import insert_spans, span_row
from vitals.kernel.units import NS

#: The pinned "now" of the first interval: 2026-12-01T00:00:00Z.
START_S = 1_796_083_200.0
PACING = Pacing(min_rows=100, max_rows=1000, hold_s=0.2, min_pause_s=0.1, interval_s=600.0)


# --------------------------------------------------------------------------- pure decisions


def test_a_batch_grows_towards_the_hold_time_at_most_doubling() -> None:
    assert next_rows(100, 0.01, PACING) == 200  # far under the hold: doubles, no more
    assert next_rows(100, 0.0, PACING) == 200
    assert next_rows(400, 0.1, PACING) == 800  # half the hold: doubles
    assert next_rows(400, 0.16, PACING) == 500  # near the hold: a little


def test_a_batch_shrinks_when_it_held_the_lock_too_long_at_most_halving() -> None:
    assert next_rows(800, 0.4, PACING) == 400
    assert next_rows(800, 5.0, PACING) == 400  # one slow batch (a checkpoint) does not collapse it
    assert next_rows(100, 5.0, PACING) == 100  # never under batch_rows


def test_a_batch_stays_within_its_bounds() -> None:
    assert next_rows(900, 0.01, PACING) == 1000
    assert next_rows(1000, 0.2, PACING) == 1000


def test_caught_up_the_job_deletes_half_the_time() -> None:
    assert pause_s(0.2, 0.0, PACING) == 0.2
    assert pause_s(0.2, 600.0, PACING) == 0.2  # one interval of backlog is what a run finds


def test_behind_the_job_deletes_more_of_the_time() -> None:
    halfway = pause_s(0.2, 3 * 600.0, PACING)  # two intervals more than a run finds
    assert 0.05 < halfway < 0.2
    assert pause_s(0.8, 5 * 600.0, PACING) == pytest.approx(0.2)  # busy duty: 80%
    assert pause_s(0.8, 50 * 600.0, PACING) == pytest.approx(0.2)


def test_the_pause_never_goes_under_the_writers_retry() -> None:
    assert pause_s(0.01, 0.0, PACING) == 0.1
    assert pause_s(0.01, 99 * 600.0, PACING) == 0.1


# --------------------------------------------------------------------------- over a store


def _feed(engine: Engine, at_s: float, count: int, ids: random.Random) -> None:
    """``count`` spans spread over the interval before ``at_s`` (event time = start time)."""
    step = PACING.interval_s / count
    rows: list[dict[str, Any]] = [
        span_row(start_s=at_s - PACING.interval_s + i * step, ids=ids) for i in range(count)
    ]
    insert_spans(engine, rows)


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(spans)).scalar_one())


def _steady_ingest(engine: Engine, pacing: Pacing | None, intervals: int) -> list[int]:
    """A store fed 400 spans per interval, retention (1 h) run once per interval with a budget
    of 4 batches (the time one interval leaves it; one goes to ``span_keys``, empty here): the
    spans stored after each run."""
    ids = random.Random(7)
    stored = []
    for i in range(1, intervals + 1):
        now_s = START_S + i * PACING.interval_s
        _feed(engine, now_s, 400, ids)
        now_ns = int(now_s * NS)
        run(
            engine,
            plan({"spans": 3600.0}, now_ns),
            owner="t",
            batch_rows=100,
            clock=functools.partial(int, now_ns),
            pause=lambda _s: None,
            max_batches=4,
            pacing=pacing,
        )
        stored.append(_stored(engine))
    return stored


def test_a_fixed_batch_falls_behind_a_faster_feed(sqlite_engine: Engine) -> None:
    stored = _steady_ingest(sqlite_engine, None, 16)
    # 3 batches of 100 a run against 400 a run: 100 more every interval, for ever.
    assert stored[-1] > 3600 // 600 * 400 + 400
    assert [b - a for a, b in zip(stored[-5:-1], stored[-4:], strict=True)] == [100] * 4


def test_paced_batches_keep_the_store_within_its_retention(sqlite_engine: Engine) -> None:
    # A hold far above what a batch of a few hundred rows takes, so every batch doubles: the
    # test does not depend on the machine's speed.
    pacing = Pacing(min_rows=100, max_rows=10_000, hold_s=60.0, interval_s=PACING.interval_s)
    stored = _steady_ingest(sqlite_engine, pacing, 16)
    within = 3600 // 600 * 400  # an hour of spans at 400 an interval
    # Once the first spans expire, the store holds the hour (up to one interval more) for good.
    assert all(n <= within + 400 for n in stored), stored
    assert stored[-4:] == [within] * 4

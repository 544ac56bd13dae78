"""Retention: only expired rows go, per signal, in batches, under the lease; readers skip them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.engine import Engine

from collector.config import CollectorConfig, Retention, load_collector_config
from collector.retention import LEASE, Batch, Cutoff, RetentionJob, plan, run
from collector.tables import metric_points, span_keys, spans
from tests.support.factories import insert_metric_points, insert_spans, metric_row, span_row
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.follow import Cursor, read_new
from vitals.kernel.lease import leases, take
from vitals.kernel.units import DAY_NS, NS

#: The pinned "now" of every test: 2026-12-01T00:00:00Z.
NOW_S = 1_796_083_200.0
NOW_NS = int(NOW_S * NS)
DAY_S = 86400.0


def clock() -> int:
    return NOW_NS


def no_pause(_seconds: float) -> None:
    return None


def spans_aged(days: float, count: int, *, keys: bool = True, payload: str = "") -> list[dict[str, Any]]:
    when = NOW_S - days * DAY_S
    attributes: dict[str, Any] = {"hc.stage": "charge.posted"}
    if keys:
        attributes["hc.key.charge"] = "h" * 64
    if payload:
        attributes["note"] = payload
    return [span_row(start_s=when + i * 0.001, attributes=attributes) for i in range(count)]


def points_aged(days: float, count: int, name: str = "queue.depth") -> list[dict[str, Any]]:
    when = NOW_S - days * DAY_S
    return [
        metric_row(name=name, value=float(i), time_s=when + i, attributes={"queue": "q"})
        for i in range(count)
    ]


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# --------------------------------------------------------------------------- pure decisions


def test_plan_gives_a_cutoff_per_table_and_span_keys_follow_spans() -> None:
    cutoffs = plan({"spans": 14 * DAY_S, "metrics": 7 * DAY_S}, NOW_NS)
    assert cutoffs == (
        Cutoff("spans", "event_time_unix_nano", NOW_NS - 14 * DAY_NS),
        Cutoff("span_keys", "event_time_unix_nano", NOW_NS - 14 * DAY_NS),
        Cutoff("metric_points", "time_unix_nano", NOW_NS - 7 * DAY_NS),
    )


def test_a_signal_without_retention_is_kept_for_ever() -> None:
    assert [c.table for c in plan({"spans": None, "metrics": 3 * DAY_S}, NOW_NS)] == ["metric_points"]
    assert plan({"spans": None, "metrics": None}, NOW_NS) == ()


def test_config_defaults_and_per_signal_settings(tmp_path: Path) -> None:
    assert CollectorConfig().retention == Retention(spans=14 * DAY_S, metrics=14 * DAY_S)
    (tmp_path / "collector.yaml").write_text("retention:\n  spans: 30d\n  metrics: null\n  batch_rows: 500\n")
    loaded = load_collector_config(tmp_path, environ={}).retention
    assert (loaded.spans, loaded.metrics, loaded.batch_rows) == (30 * DAY_S, None, 500)


def test_config_refuses_a_retention_under_an_hour(tmp_path: Path) -> None:
    from vitals.kernel.configfile import ConfigError

    (tmp_path / "collector.yaml").write_text("retention:\n  spans: 10m\n")
    with pytest.raises(ConfigError, match=r"retention\.spans"):
        load_collector_config(tmp_path, environ={})


# --------------------------------------------------------------------------- on both stores


@pytest.fixture
def deletes(engine: Engine) -> Iterator[dict[str, list[int]]]:
    """Rows removed by each DELETE statement the store runs, by table."""
    seen: dict[str, list[int]] = {}

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        if words[:2] == ["DELETE", "FROM"]:
            seen.setdefault(words[2].strip('"'), []).append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", after)
    yield seen
    event.remove(engine, "after_cursor_execute", after)


def test_only_expired_rows_go_per_signal_in_batches(engine: Engine, deletes: dict[str, list[int]]) -> None:
    insert_spans(engine, spans_aged(20, 450))  # expired under 14d
    insert_spans(engine, spans_aged(1, 120))  # kept
    insert_metric_points(engine, points_aged(10, 330, "old"))  # expired under 7d, not under 14d
    insert_metric_points(engine, points_aged(2, 40, "new"))
    batches: list[Batch] = []

    report = run(
        engine,
        plan({"spans": 14 * DAY_S, "metrics": 7 * DAY_S}, NOW_NS),
        owner="test",
        batch_rows=100,
        clock=clock,
        pause=no_pause,
        on_batch=batches.append,
    )

    assert report.claimed and report.finished
    assert report.deleted == {"spans": 450, "span_keys": 450, "metric_points": 330}
    assert count(engine, spans) == 120
    assert count(engine, spans, spans.c.event_time_unix_nano < NOW_NS - 14 * DAY_NS) == 0
    assert count(engine, span_keys) == 120
    assert count(engine, metric_points) == 40
    with engine.connect() as conn:
        assert set(conn.execute(select(metric_points.c.name).distinct()).scalars()) == {"new"}
    # Every transaction examined at most batch_rows ids, and every DELETE removed at most as many.
    assert all(b.examined <= 100 for b in batches)
    assert [b.deleted for b in batches if b.table == "spans"] == [100, 100, 100, 100, 50, 0]
    assert deletes["spans"] == [100, 100, 100, 100, 50, 0]
    assert max(n for counts in deletes.values() for n in counts) <= 100
    assert sum(deletes["metric_points"]) == 330


def test_the_same_store_under_the_default_retention_keeps_ten_day_old_points(engine: Engine) -> None:
    insert_metric_points(engine, points_aged(10, 50))
    insert_spans(engine, spans_aged(15, 10, keys=False))
    settings = Retention()
    report = run(
        engine,
        plan({"spans": settings.spans, "metrics": settings.metrics}, NOW_NS),
        owner="test",
        batch_rows=settings.batch_rows,
        clock=clock,
        pause=no_pause,
    )
    assert report.deleted == {"spans": 10, "span_keys": 0, "metric_points": 0}
    assert count(engine, metric_points) == 50


def test_a_new_row_among_expired_ones_is_kept_and_does_not_stop_the_walk(engine: Engine) -> None:
    rows = spans_aged(30, 300, keys=False)
    rows[150] = spans_aged(0.5, 1, keys=False)[0]  # a row whose event is recent, ingested in between
    insert_spans(engine, rows)
    insert_spans(engine, spans_aged(0.1, 10, keys=False))
    report = run(
        engine, plan({"spans": 14 * DAY_S}, NOW_NS), owner="t", batch_rows=100, clock=clock, pause=no_pause
    )
    assert report.deleted["spans"] == 299
    assert count(engine, spans) == 11


def test_another_holder_of_the_lease_keeps_this_run_out(engine: Engine) -> None:
    insert_spans(engine, spans_aged(20, 10, keys=False))
    with engine.begin() as conn:
        assert take(conn, LEASE, "other:1:x", NOW_NS, 60 * NS) is not None
    cutoffs = plan({"spans": 14 * DAY_S}, NOW_NS)
    report = run(engine, cutoffs, owner="me", batch_rows=100, clock=clock, pause=no_pause)
    assert not report.claimed and report.deleted == {}
    assert count(engine, spans) == 10
    # Once the holding expires, the next run takes the lease and deletes.
    later = run(engine, cutoffs, owner="me", batch_rows=100, clock=lambda: NOW_NS + 61 * NS, pause=no_pause)
    assert later.claimed and later.deleted["spans"] == 10


def test_while_one_process_deletes_another_stands_by(engine: Engine) -> None:
    insert_spans(engine, spans_aged(20, 300, keys=False))
    cutoffs = plan({"spans": 14 * DAY_S}, NOW_NS)
    others: list[Any] = []

    def second_process(batch: Batch) -> None:
        if not others:  # mid-run of the first: the second tries its own run
            others.append(run(engine, cutoffs, owner="b:2:y", batch_rows=100, clock=clock, pause=no_pause))

    first = run(
        engine, cutoffs, owner="a:1:x", batch_rows=100, clock=clock, pause=no_pause, on_batch=second_process
    )
    assert first.claimed and first.deleted["spans"] == 300
    assert not others[0].claimed and others[0].deleted == {}
    # The first released the lease when it finished: the second may run at once.
    assert run(engine, cutoffs, owner="b:2:y", batch_rows=100, clock=clock, pause=no_pause).claimed


def test_a_run_that_loses_the_lease_stops_before_its_next_batch(engine: Engine) -> None:
    insert_spans(engine, spans_aged(20, 500, keys=False))

    def steal(batch: Batch) -> None:
        with engine.begin() as conn:
            conn.execute(update(leases).where(leases.c.name == LEASE).values(owner="thief:1:x"))

    report = run(
        engine,
        plan({"spans": 14 * DAY_S}, NOW_NS),
        owner="me",
        batch_rows=100,
        clock=clock,
        pause=no_pause,
        on_batch=steal,
    )
    assert report.lease_lost and not report.finished
    assert report.deleted["spans"] == 100
    assert count(engine, spans) == 400


def test_max_batches_and_stop_bound_one_run(engine: Engine) -> None:
    insert_spans(engine, spans_aged(20, 500, keys=False))
    cutoffs = plan({"spans": 14 * DAY_S}, NOW_NS)
    # One batch of each table in turn: spans, span_keys (nothing: its walk ends), spans.
    first = run(engine, cutoffs, owner="me", batch_rows=100, clock=clock, pause=no_pause, max_batches=3)
    assert not first.finished and first.deleted["spans"] == 200
    stopped = run(engine, cutoffs, owner="me", batch_rows=100, clock=clock, pause=no_pause, stop=lambda: True)
    assert not stopped.finished and stopped.deleted == {"spans": 0, "span_keys": 0}
    rest = run(engine, cutoffs, owner="me", batch_rows=100, clock=clock, pause=no_pause)
    assert rest.finished and rest.deleted["spans"] == 300


def test_a_reader_behind_the_deletes_just_skips_the_deleted_rows(engine: Engine) -> None:
    insert_spans(engine, spans_aged(20, 50, keys=False))
    insert_spans(engine, spans_aged(1, 20, keys=False))
    with engine.connect() as conn:
        first = read_new(conn, select(spans.c.id), spans.c.id, Cursor(), 10)
    behind = Cursor().after_read(first.ids, NOW_NS, 0)
    assert behind.watermark == 10
    run(engine, plan({"spans": 14 * DAY_S}, NOW_NS), owner="t", batch_rows=100, clock=clock, pause=no_pause)
    with engine.connect() as conn:
        rest = read_new(conn, select(spans.c.id, spans.c.event_time_unix_nano), spans.c.id, behind, 1000)
    assert len(rest.ids) == 20 and rest.caught_up
    assert all(row.event_time_unix_nano >= NOW_NS - 14 * DAY_NS for row in rest.rows)
    # Its next position is past every id, deleted or not: nothing is read twice, nothing waits.
    assert behind.after_read(rest.ids, NOW_NS, 0).watermark == max(rest.ids)


def test_the_job_reports_into_the_process_status(engine: Engine) -> None:
    insert_spans(engine, spans_aged(20, 30))
    ctx = SimpleNamespace(engine=engine, status={}, stop_event=threading.Event())
    job = RetentionJob(ctx, Retention(batch_rows=100))  # type: ignore[arg-type]
    report = job.run_once(NOW_NS)
    assert report is not None and report.deleted["spans"] == 30
    assert ctx.status["retention"] == "deleted 60 expired rows"


# --------------------------------------------------------------------------- SQLite's file


def test_sqlite_reuses_freed_pages_so_the_file_stops_growing(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'vitals.db'}")
    migrate(engine)

    def pages() -> tuple[int, int]:
        with engine.connect() as conn:
            return (
                int(conn.execute(text("PRAGMA page_count")).scalar_one()),
                int(conn.execute(text("PRAGMA freelist_count")).scalar_one()),
            )

    payload = "x" * 300
    empty, _ = pages()
    insert_spans(engine, spans_aged(20, 3000, payload=payload))  # a day that will expire
    insert_spans(engine, spans_aged(1, 3000, payload=payload))  # a day still kept
    full, free_before = pages()
    one_day = (full - empty) // 2
    assert free_before == 0 and one_day > 100

    run(engine, plan({"spans": 14 * DAY_S}, NOW_NS), owner="t", batch_rows=500, clock=clock, pause=no_pause)
    after_delete, freed = pages()
    assert after_delete == full and freed > one_day // 2

    insert_spans(engine, spans_aged(0.5, 3000, payload=payload))  # the next day arrives
    grown, free_after = pages()
    # The new day went into the freed pages: the file grew by a small part of a day, not a day.
    assert grown - full < one_day // 5, (empty, full, one_day, freed, grown, free_after)
    assert free_after < freed
    engine.dispose()

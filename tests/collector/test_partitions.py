"""Day partitions of spans and metric points on PostgreSQL: created ahead, odd times accepted,
expired days dropped whole, re-sent spans skipped, an existing store migrated with its rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from collector import partitions as parts
from collector.partitions import DAY_NS, Partition, day_of, days_to_create, expired, partition_days
from collector.redaction import RedactionPolicy, Redactor
from collector.retention import plan, run
from collector.rows import WriteBatch, metric_rows
from collector.spans import convert_spans
from collector.sql_sink import SqlSink
from collector.tables import metric_points, span_keys, spans
from tests.collector.otlp import span, trace_request
from tests.collector.test_binary_ids_migration import insert_hex
from tests.support.factories import span_row
from vitals.kernel.db import _alembic_config, create_engine, migrate
from vitals.kernel.storestats import measure, render
from vitals.kernel.units import NS

SECRET = b"partition-test-secret-0123456789"
#: The pinned "now": 2030-01-10T12:00:00Z, days away from any partition the migration made.
NOW_NS = 1_894_276_800 * NS
TODAY = day_of(NOW_NS)


def clock() -> int:
    return NOW_NS


def no_pause(_seconds: float) -> None:
    return None


def at(ns: int, *names: str, keys: bool = False) -> WriteBatch:
    """Spans (one per name) whose start and event time is ``ns``."""
    items = []
    for i, name in enumerate(names):
        item: Span = span(name, attributes={"hc.key.charge": f"C-{name}"} if keys else {})
        item.start_time_unix_nano = ns + i
        item.end_time_unix_nano = ns + i + 1000
        items.append(item)
    return convert_spans(trace_request(*items), Redactor(RedactionPolicy(), SECRET), ns).batch


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def days_of(engine: Engine, table: str) -> list[int]:
    with engine.connect() as conn:
        return [day_of(p.lo) for p in parts.partitions(conn, table) if p.lo is not None]


def in_default(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {parts.SCHEMA}.{table}_default").scalar_one())


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


# -- the plan, over plain data -----------------------------------------------------------------


def test_the_days_to_create_are_today_and_the_next_ones_not_yet_covered() -> None:
    existing = [Partition(TODAY * DAY_NS, (TODAY + 1) * DAY_NS, "t"), Partition(None, None, "d")]
    assert days_to_create(existing, NOW_NS) == [TODAY + 1, TODAY + 2]
    assert days_to_create([], NOW_NS, ahead=0) == [TODAY]


def test_only_days_wholly_older_than_the_cutoff_expire_and_never_the_default() -> None:
    old = Partition((TODAY - 20) * DAY_NS, (TODAY - 19) * DAY_NS, "old")
    boundary = Partition((TODAY - 14) * DAY_NS, (TODAY - 13) * DAY_NS, "boundary")
    default = Partition(None, None, "default")
    assert expired([boundary, default, old], NOW_NS - 14 * DAY_NS) == [old]


def test_a_new_table_gets_partitions_for_its_recent_days_and_the_days_ahead() -> None:
    days = [TODAY - 500, TODAY - 3, TODAY - 3, TODAY + 1, TODAY + 40]
    assert partition_days(days, NOW_NS) == [TODAY - 3, TODAY, TODAY + 1, TODAY + 2]


# -- on PostgreSQL ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_migration_partitions_both_tables_with_a_default_and_days_ahead(pg: Engine) -> None:
    with pg.connect() as conn:
        for table in ("spans", "metric_points"):
            found = parts.partitions(conn, table)
            assert [p for p in found if p.is_default] == [
                Partition(None, None, f"{parts.SCHEMA}.{table}_default")
            ]
            assert len([p for p in found if not p.is_default]) >= parts.AHEAD_DAYS + 1
            assert (
                conn.exec_driver_sql(f"SELECT relkind FROM pg_class WHERE oid = '{table}'::regclass").scalar()
                == "p"
            )
    # The retention job creates today's and the next days' partitions ahead of their spans.
    with pg.begin() as conn:
        made = parts.ensure_ahead(conn, NOW_NS)
    assert made == [
        f"{parts.SCHEMA}.{t}_{d}"
        for t in ("spans", "metric_points")
        for d in ("20300110", "20300111", "20300112")
    ]
    assert {TODAY, TODAY + 1, TODAY + 2} <= set(days_of(pg, "spans"))
    with pg.begin() as conn:
        assert parts.ensure_ahead(conn, NOW_NS) == []  # idempotent


@pytest.mark.postgres
def test_spans_at_unusual_times_are_stored_and_move_to_their_day_when_it_gets_a_partition(pg: Engine) -> None:
    sink = SqlSink(pg)
    far_past = 86_400 * NS + 5  # 1970-01-02
    far_future = (2**63 - 1) - 10_000  # 2262, the largest time OTLP rows hold
    early = (TODAY + 30) * DAY_NS + 7  # a month ahead of its partition
    for ns in (far_past, far_future, early):
        assert sink.write(at(ns, "odd")).spans_inserted == 1
    sink.close()
    assert count(pg, spans) == 3
    assert in_default(pg, "spans") == 3
    # That day's partition is created when it comes near: its early span moves in with it.
    with pg.begin() as conn:
        parts.ensure_ahead(conn, early)
    assert in_default(pg, "spans") == 2
    assert TODAY + 30 in days_of(pg, "spans")
    with pg.connect() as conn:
        stored = conn.execute(
            select(spans.c.event_time_unix_nano).order_by(spans.c.event_time_unix_nano)
        ).scalars()
        assert list(stored) == [far_past, early, far_future]


@pytest.mark.postgres
def test_a_re_sent_span_is_skipped_in_a_partitioned_table(pg: Engine) -> None:
    with pg.begin() as conn:
        parts.ensure_ahead(conn, NOW_NS)
    sink = SqlSink(pg)
    first = at(NOW_NS, "a", "b", keys=True)
    assert sink.write(first).spans_inserted == 2
    again = sink.write(WriteBatch(first.spans + at(NOW_NS + 10, "c").spans, first.span_keys))
    assert (again.spans_inserted, again.spans_duplicate) == (1, 2)
    points = metric_rows([{"name": "queue.depth", "value": 1.0, "time_unix_nano": NOW_NS}])
    assert sink.write(WriteBatch(metric_points=points)).points_inserted == 1
    assert sink.write(WriteBatch(metric_points=points)).points_duplicate == 1
    sink.close()
    assert count(pg, spans) == 3
    assert count(pg, span_keys) == 2  # the re-sent spans' keys were not stored twice
    assert count(pg, metric_points) == 1


@pytest.mark.postgres
def test_retention_drops_expired_days_whole_and_deletes_only_within_the_boundary_day(pg: Engine) -> None:
    sink = SqlSink(pg)
    with pg.begin() as conn:
        for day in (TODAY - 20, TODAY - 19, TODAY - 14):
            parts.create_day(conn, "spans", day)
    cutoff = NOW_NS - 14 * DAY_NS  # 12:00 on the boundary day
    sink.write(at((TODAY - 20) * DAY_NS + 1, *"abcd"))
    sink.write(at((TODAY - 19) * DAY_NS + 1, *"ef"))
    sink.write(at(cutoff - 1000, "boundary-old"))
    sink.write(at(cutoff + 1000, "boundary-kept"))
    sink.write(at(NOW_NS - DAY_NS, "recent"))
    sink.write(at(5 * NS, "1970"))  # in the default partition, long expired
    sink.close()
    report = run(
        pg, plan({"spans": 14 * 86400.0}, NOW_NS), owner="t", batch_rows=100, clock=clock, pause=no_pause
    )
    assert report.claimed and report.finished
    # The two expired days, after the (empty) ones the migration made for the real today.
    assert report.dropped_partitions[-2:] == [
        f"{parts.SCHEMA}.spans_{day}" for day in ("20291221", "20291222")
    ]
    assert all(name < f"{parts.SCHEMA}.spans_20291227" for name in report.dropped_partitions)
    assert report.deleted["spans"] == 6 + 2  # two days dropped whole, two rows deleted by batch
    assert {TODAY - 20, TODAY - 19}.isdisjoint(days_of(pg, "spans"))
    assert {TODAY - 14, TODAY, TODAY + 1, TODAY + 2} <= set(days_of(pg, "spans"))
    with pg.connect() as conn:
        names = conn.execute(select(spans.c.name).order_by(spans.c.event_time_unix_nano)).scalars().all()
    assert names == ["boundary-kept", "recent"]


@pytest.mark.postgres
def test_store_stats_sum_the_partitions_and_list_them(pg: Engine) -> None:
    with pg.begin() as conn:
        parts.ensure_ahead(conn, NOW_NS)
    sink = SqlSink(pg)
    sink.write(at(NOW_NS, *"abc"))
    sink.write(at(5 * NS, "odd"))
    sink.close()
    with pg.connect() as conn:
        stats = measure(conn, {"spans": "event_time_unix_nano"})
    table = stats.get("spans")
    assert table is not None
    assert table.rows == 4 and table.table_bytes > 0 and table.index_bytes > 0
    assert table.partitions >= 4 and table.default_partition_rows == 1
    assert table.partitions_to_ns is not None and table.partitions_to_ns >= (TODAY + 3) * DAY_NS
    shown = render(stats)
    assert "partitions (by UTC day" in shown
    assert "2030-01-12, default: 1 rows" in shown


@pytest.mark.postgres
def test_an_existing_store_is_partitioned_with_its_rows_and_ids(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "c0004")
        old_day = day_of(1_796_083_200 * NS)  # 2026-12-01
        rows = [span_row(name=f"s{i}", start_s=1_796_083_200 + i * 3600.0) for i in range(30)]
        rows.append(span_row(name="ancient", start_s=1_000_000.0))
        insert_hex(engine, rows)  # ids as hex text, as the schema of c0004 stores them
        with engine.connect() as conn:
            before = {name: id_ for name, id_ in conn.execute(text("SELECT name, id FROM spans"))}
        migrate(engine)
        with engine.connect() as conn:
            after = {name: id_ for name, id_ in conn.execute(text("SELECT name, id FROM spans"))}
            days = [day_of(p.lo) for p in parts.partitions(conn, "spans") if p.lo is not None]
        assert after == before
        assert {old_day, old_day + 1} <= set(days)
        assert in_default(engine, "spans") == 1  # the 1970 span, outside 400 days
        # New spans continue the ids.
        sink = SqlSink(engine)
        assert sink.write(at(NOW_NS, "new")).spans_inserted == 1
        sink.close()
        with engine.connect() as conn:
            assert conn.execute(select(spans.c.id).where(spans.c.name == "new")).scalar_one() > max(
                before.values()
            )
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_with_retention_off_the_job_still_creates_partitions_ahead_and_drops_nothing(pg: Engine) -> None:
    import threading
    from types import SimpleNamespace

    from collector.config import Retention
    from collector.retention import install

    sink = SqlSink(pg)
    sink.write(at(5 * NS, "kept-for-ever"))
    sink.close()
    added: list[dict[str, Any]] = []
    scheduler = SimpleNamespace(add_job=lambda *args, **kwargs: added.append(kwargs))
    ctx = SimpleNamespace(
        engine=pg,
        status={},
        stop_event=threading.Event(),
        scheduler=scheduler,
        on_stop=[],
        add_heartbeat=lambda *args: None,
    )
    job = install(ctx, Retention(spans=None, metrics=None))  # type: ignore[arg-type]
    assert [job_args["id"] for job_args in added] == ["collector.retention"]
    assert "creates day partitions ahead" in ctx.status["retention"]
    report = job.run_once(NOW_NS)
    assert report is not None and report.dropped_partitions == [] and report.deleted == {}
    assert len(report.created_partitions) == 6  # today and two days on, for both tables
    assert count(pg, spans) == 1

"""The SQL sink against the real stores (SQLite and PostgreSQL), and the in-memory sink's twin rules."""

from __future__ import annotations

import orjson
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from sqlalchemy import Table, func, inspect, select
from sqlalchemy.engine import Engine

from collector.redaction import RedactionPolicy, Redactor
from collector.rows import (
    METRIC_COLUMNS,
    SAMPLE_WEIGHT,
    SPAN_COLUMNS,
    STORED_SPAN_KEY_COLUMNS,
    WriteBatch,
    metric_row_tuple,
    metric_rows,
    resource_id,
    with_sample_weight,
)
from collector.sink import InMemorySink, TelemetrySink
from collector.spans import convert_spans
from collector.sql_sink import SqlSink
from collector.tables import metric_points, span_keys, span_resources, spans
from tests.collector.otlp import T0, span, trace_request

SECRET = b"sink-test-secret-0123456789"


def batch_of(*items: Span, service: str = "billing") -> WriteBatch:
    request = trace_request(*items, service=service)
    return convert_spans(request, Redactor(RedactionPolicy(), SECRET), T0).batch


def point(name: str, value: float, time_unix_nano: int, **attrs: object) -> dict[str, object]:
    return {"name": name, "value": value, "time_unix_nano": time_unix_nano, "attributes": attrs}


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_column_lists_match_the_tables(engine: Engine) -> None:
    for table, columns in (
        (spans, (*SPAN_COLUMNS, "resource_id")),  # the row's resource is stored by its id
        (span_resources, ("attributes",)),
        (span_keys, STORED_SPAN_KEY_COLUMNS),  # the key row without its span's stage
        (metric_points, METRIC_COLUMNS),
    ):
        stored = [c["name"] for c in inspect(engine).get_columns(table.name)]
        key = "resource_id" if table is span_resources else "id"
        assert sorted(stored) == sorted([key, *columns])


def test_spans_keys_and_points_are_stored_and_read_back(engine: Engine) -> None:
    sink = SqlSink(engine)
    batch = batch_of(
        span(
            "billing.charge.post",
            attributes={"hc.stage": "charge.posted", "hc.key.charge": "C-1", "hc.amount": 12.5},
        ),
        span("other"),
    )
    batch.metric_points.extend(metric_rows([point("queue.depth", 3, T0, queue="charges-outbound")]))
    result = sink.write(batch)
    sink.close()
    assert (result.spans_inserted, result.spans_duplicate, result.points_inserted) == (2, 0, 1)
    with engine.connect() as conn:
        rows = conn.execute(select(spans).order_by(spans.c.id)).mappings().all()
        keys = conn.execute(select(span_keys)).mappings().all()
        points = conn.execute(select(metric_points)).mappings().all()
    assert [row["name"] for row in rows] == ["billing.charge.post", "other"]
    assert rows[0]["hc_stage"] == "charge.posted"
    assert rows[0]["hc_amount"] == 12.5
    assert rows[0]["attributes"]["hc.key.charge"] == keys[0]["key_hash"]  # JSON read back as an object
    assert rows[0]["id"] < rows[1]["id"]
    assert [(k["key_name"], k["trace_id"]) for k in keys] == [("charge", rows[0]["trace_id"])]
    assert points[0]["queue"] == "charges-outbound"
    assert points[0]["attributes"] == {"queue": "charges-outbound"}


def test_a_span_stands_for_itself_unless_sampling_sets_its_weight(engine: Engine) -> None:
    batch = batch_of(span("healthy"), span("kept-for-ten"))
    assert [row[SAMPLE_WEIGHT] for row in batch.spans] == [1, 1]
    batch.spans[1] = with_sample_weight(batch.spans[1], 10)
    sink = SqlSink(engine)
    sink.write(batch)
    sink.close()
    memory = InMemorySink()
    memory.write(batch)
    with engine.connect() as conn:
        stored = conn.execute(select(spans.c.name, spans.c.sample_weight).order_by(spans.c.id)).all()
    assert [tuple(row) for row in stored] == [("healthy", 1), ("kept-for-ten", 10)]
    assert sorted(row[SAMPLE_WEIGHT] for row in memory.spans.values()) == [1, 10]
    with pytest.raises(ValueError, match="at least 1"):
        with_sample_weight(batch.spans[0], 0)


def test_rows_inserted_without_a_weight_stand_for_themselves(engine: Engine) -> None:
    """Readers and other writers that predate sampling (tests, ad-hoc SQL) get the default 1."""
    batch = batch_of(span("old-writer"))
    values = dict(zip(SPAN_COLUMNS, batch.spans[0], strict=True))
    del values["sample_weight"]
    values["attributes"] = orjson.loads(values["attributes"])
    values["resource_attributes"] = orjson.loads(values["resource_attributes"])
    with engine.begin() as conn:
        conn.execute(spans.insert(), [values])
        assert conn.execute(select(spans.c.sample_weight)).scalar_one() == 1


def test_each_resource_is_stored_once_and_read_back_with_its_spans(engine: Engine) -> None:
    from dashboards.queries.traces import span_details

    sink = SqlSink(engine)
    billing = batch_of(span("a"), span("b"))
    erp = batch_of(span("c"), service="erp")
    sink.write(billing)
    sink.write(WriteBatch(erp.spans + batch_of(span("d")).spans))
    # A sink that starts afresh (another process) writes a resource already stored: skipped.
    other = SqlSink(engine)
    other.write(batch_of(span("e")))
    other.close()
    sink.close()
    assert count(engine, span_resources) == 2
    with engine.connect() as conn:
        rows = conn.execute(
            select(spans.c.name, spans.c.trace_id, spans.c.span_id, spans.c.resource_attributes)
        ).all()
        resources = {row[0]: row[1] for row in conn.execute(select(span_resources))}
    assert {row.resource_attributes for row in rows} == {None}
    assert sorted(r["service.name"] for r in resources.values()) == ["billing", "erp"]
    by_name = {row.name: row for row in rows}
    details = span_details(engine, by_name["c"].trace_id, by_name["c"].span_id)
    assert details is not None
    assert details["resource"]["service.name"] == "erp"


def test_a_resource_id_is_a_stable_signed_64_bit_hash() -> None:
    text = '{"service.name":"billing"}'
    assert resource_id(text) == resource_id(text)
    assert resource_id(text) != resource_id('{"service.name":"erp"}')
    assert -(2**63) <= resource_id(text) < 2**63


def test_duplicates_are_stored_once_and_counted(engine: Engine) -> None:
    sink = SqlSink(engine)
    first = batch_of(span(attributes={"hc.key.charge": "C-1"}), span(attributes={"hc.key.claim": "K-1"}))
    assert sink.write(first).spans_inserted == 2
    # A retry of the same request plus one new span, and the same span twice in one batch.
    fresh = batch_of(span(attributes={"hc.key.order": "O-1"}))
    retry = WriteBatch(first.spans + fresh.spans + fresh.spans, first.span_keys + fresh.span_keys * 2)
    result = sink.write(retry)
    assert (result.spans_inserted, result.spans_duplicate) == (1, 3)
    points = metric_rows([point("queue.depth", 3, T0, queue="q")])
    assert sink.write(WriteBatch(metric_points=points)).points_inserted == 1
    again = sink.write(WriteBatch(metric_points=points + points))
    assert (again.points_inserted, again.points_duplicate) == (0, 2)
    sink.close()
    assert count(engine, spans) == 3
    assert count(engine, span_keys) == 3
    assert count(engine, metric_points) == 1


def test_a_failed_batch_leaves_nothing_behind(engine: Engine) -> None:
    sink = SqlSink(engine)
    good = batch_of(span("kept"))
    sink.write(good)
    broken = batch_of(span("lost"))
    broken.metric_points.append((None,) * len(METRIC_COLUMNS))  # NOT NULL columns: refused
    with pytest.raises(Exception):  # noqa: B017 - whichever integrity error the driver raises
        sink.write(broken)
    # The sink recovers on a fresh connection, and the failed transaction left no span.
    assert sink.write(batch_of(span("after"))).spans_inserted == 1
    sink.close()
    with engine.connect() as conn:
        names = conn.execute(select(spans.c.name).order_by(spans.c.id)).scalars().all()
    assert names == ["kept", "after"]


def test_text_with_nul_characters_is_storable(engine: Engine) -> None:
    sink = SqlSink(engine)
    sink.write(batch_of(span("nul\x00name", attributes={"x": "a\x00b"}), service="s\x00"))
    sink.close()
    with engine.connect() as conn:
        row = conn.execute(select(spans)).mappings().one()
    assert row["name"] == "nul\ufffdname"
    assert row["attributes"] == {"x": "a\ufffdb"}


def test_metric_rows_from_components_get_defaults() -> None:
    row = dict(
        zip(
            METRIC_COLUMNS,
            metric_row_tuple({"name": "queue.depth", "time_unix_nano": 5, "value": 1.0}),
            strict=True,
        )
    )
    assert row["service_name"] == "unknown_service"
    assert row["kind"] == "gauge"
    assert row["attributes"] == "{}"
    assert row["received_at_unix_nano"] > 0
    with pytest.raises(ValueError, match="time_unix_nano"):
        metric_row_tuple({"name": "x"})
    with pytest.raises(ValueError, match="no_such"):
        metric_row_tuple({"name": "x", "time_unix_nano": 1, "no_such": 2})
    with_service = metric_row_tuple(
        {
            "name": "x",
            "time_unix_nano": 1,
            "resource_attributes": orjson.dumps({"service.name": "erp"}).decode(),
        }
    )
    assert with_service[METRIC_COLUMNS.index("service_name")] == "erp"


def test_the_in_memory_sink_follows_the_same_rules() -> None:
    sink: TelemetrySink = InMemorySink()
    first = batch_of(span(), span())
    assert sink.write(first).spans_inserted == 2
    again = sink.write(WriteBatch(first.spans + first.spans))
    assert (again.spans_inserted, again.spans_duplicate) == (0, 4)
    points = metric_rows([point("m", 1, T0)])
    assert sink.write(WriteBatch(metric_points=points * 2)).points_inserted == 1

"""Migration c0007: a store with hex-text ids keeps its spans and keys, now as bytes, on both
databases (on PostgreSQL through the day-partitioned ``spans``), and still skips a re-sent span."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from alembic import command
from sqlalchemy import MetaData, String, Table, select, text
from sqlalchemy.engine import Engine

from collector.redaction import RedactionPolicy, Redactor
from collector.rows import UNREPEATED_ATTRIBUTES, lifted_attributes
from collector.spans import convert_spans
from collector.sql_sink import SqlSink
from collector.tables import span_keys, spans
from tests.collector.otlp import span, trace_request
from tests.support.factories import key_rows, span_row
from vitals.kernel.db import JsonDocument, _alembic_config, create_engine, migrate
from vitals.kernel.units import NS

T0_S = 1_796_083_200.0  # 2026-12-01


def legacy(table: Table, widths: Mapping[str, int]) -> Table:
    """``table`` as it was before c0007: the id columns as hex text (and, before c0008, the
    JSON columns JSON)."""
    copy = table.to_metadata(MetaData())
    for column, width in widths.items():
        copy.c[column].type = String(width)
    for column in ("attributes", "events", "links"):
        if column in copy.c:
            copy.c[column].type = JsonDocument()
    return copy


def insert_hex(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> None:
    rows = list(rows)
    keys = [k for row in rows for k in key_rows(row)]
    with engine.begin() as conn:
        conn.execute(legacy(spans, {"trace_id": 32, "span_id": 16, "parent_span_id": 16}).insert(), rows)
        if keys:
            conn.execute(legacy(span_keys, {"key_hash": 64, "trace_id": 32, "span_id": 16}).insert(), keys)


def test_stored_hex_ids_become_bytes_and_read_back_as_hex(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "c0006")
        key = "ab" * 32
        rows = [
            span_row(
                name=f"s{i}",
                start_s=T0_S + i * 3600.0,
                trace_id=f"{i:032x}",
                span_id=f"{i + 1:016x}",
                parent_span_id=f"{i + 2:016x}" if i else None,
                attributes={"hc.stage": "charge.posted", "hc.key.charge": key},
            )
            for i in range(30)
        ]
        insert_hex(engine, rows)
        migrate(engine)
        with engine.connect() as conn:
            stored = conn.execute(
                select(spans.c.name, spans.c.trace_id, spans.c.span_id, spans.c.parent_span_id)
            ).all()
            keys = conn.execute(select(span_keys.c.key_hash, span_keys.c.trace_id)).all()
            raw = conn.execute(text("SELECT trace_id FROM spans WHERE name = 's3'")).scalar_one()
            found = conn.execute(select(spans.c.name).where(spans.c.trace_id == f"{3:032x}")).scalar_one()
        assert {(r.name, r.trace_id, r.span_id, r.parent_span_id) for r in stored} == {
            (f"s{i}", f"{i:032x}", f"{i + 1:016x}", f"{i + 2:016x}" if i else None) for i in range(30)
        }
        assert bytes(raw) == bytes.fromhex(f"{3:032x}")
        assert found == "s3"
        assert {(k.key_hash, k.trace_id) for k in keys} == {(key, f"{i:032x}") for i in range(30)}
    finally:
        engine.dispose()


def test_a_re_sent_span_is_stored_once_with_its_keys_once(engine: Engine) -> None:
    redactor = Redactor(RedactionPolicy(), b"secret")
    attributes = {"hc.key.charge": "C-1", "hc.stage": "charge.posted"}
    item = span("charge.post", start=int(T0_S * NS), attributes=attributes)
    request = trace_request(item)
    sink = SqlSink(engine)
    first = sink.write(convert_spans(request, redactor, int(T0_S * NS)).batch)
    again = sink.write(convert_spans(request, redactor, int(T0_S * NS) + 1).batch)
    sink.close()
    assert (first.spans_inserted, again.spans_inserted, again.spans_duplicate) == (1, 0, 1)
    with engine.connect() as conn:
        rows = conn.execute(select(spans, *(spans.c[c] for c in UNREPEATED_ATTRIBUTES))).mappings().all()
        keys = conn.execute(select(span_keys)).mappings().all()
    assert len(rows) == len(keys) == 1
    assert rows[0]["trace_id"] == item.trace_id.hex() and keys[0]["span_id"] == item.span_id.hex()
    whole = lifted_attributes(rows[0]["attributes"], [rows[0][c] for c in UNREPEATED_ATTRIBUTES])
    assert whole["hc.stage"] == "charge.posted"
    assert whole["hc.key.charge"] == keys[0]["key_hash"]

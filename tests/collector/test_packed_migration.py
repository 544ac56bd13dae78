"""Migration c0008 and the sink: a span's attributes, events and links are stored packed
(``collector.packed``) on both databases (on PostgreSQL through the day-partitioned ``spans``),
read back as the same objects through ``collector.tables``, and the downgrade gives the JSON back."""

from __future__ import annotations

from typing import Any

import orjson
from alembic import command
from sqlalchemy import MetaData, select, text
from sqlalchemy.engine import Engine

from collector.packed import unpack
from collector.redaction import RedactionPolicy, Redactor
from collector.spans import convert_spans
from collector.sql_sink import SqlSink
from collector.tables import spans
from tests.collector.otlp import span, trace_request
from tests.support.factories import span_row
from vitals.kernel.db import JsonDocument, _alembic_config, create_engine, migrate
from vitals.kernel.units import NS

T0_S = 1_796_083_200.0  # 2026-12-01

ATTRIBUTES: dict[str, Any] = {
    "net.peer.name": "billing-db",
    "thread.id": 7,
    "ok": True,
    "nested": {"a": [1, 2.5, None, "Zoë 東京"]},
    "hc.key.charge": "ab" * 32,
}
EVENTS = [{"time_unix_nano": 5, "name": "exception", "attributes": {"exception.type": "ValueError"}}]
LINKS = [{"trace_id": "01" * 16, "span_id": "02" * 8, "attributes": {}}]


def json_spans() -> Any:
    """``spans`` as it was before c0008: its JSON columns JSON (TEXT, JSONB)."""
    copy = spans.to_metadata(MetaData())
    for column in ("attributes", "events", "links"):
        copy.c[column].type = JsonDocument()
    return copy


def rows(count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        row = span_row(name=f"s{i}", start_s=T0_S + i * 3600.0, attributes={**ATTRIBUTES, "i": i})
        row["events"] = orjson.dumps(EVENTS).decode() if i % 2 else None
        row["links"] = orjson.dumps(LINKS).decode() if i % 3 else None
        out.append(row)
    return out


def read_back(engine: Engine) -> dict[str, tuple[Any, Any, Any]]:
    with engine.connect() as conn:
        return {
            r.name: (r.attributes, r.events, r.links)
            for r in conn.execute(select(spans.c.name, spans.c.attributes, spans.c.events, spans.c.links))
        }


def expected(count: int) -> dict[str, tuple[Any, Any, Any]]:
    return {
        f"s{i}": ({**ATTRIBUTES, "i": i}, EVENTS if i % 2 else None, LINKS if i % 3 else None)
        for i in range(count)
    }


def test_stored_json_is_packed_and_the_downgrade_gives_it_back(store_url: str) -> None:
    count = 4_500  # more than one batch of the migration
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "c0007")
        with engine.begin() as conn:
            conn.execute(json_spans().insert(), rows(count))
        migrate(engine)
        assert read_back(engine) == expected(count)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT attributes, events FROM spans WHERE name = 's1'")).one()
        assert bytes(stored[0])[0] == 1 and bytes(stored[1])[0] == 1
        assert orjson.loads(unpack(stored[0])) == {**ATTRIBUTES, "i": 1}

        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "c0007")
        with engine.connect() as conn:
            got = {
                r.name: (r.attributes, r.events, r.links)
                for r in conn.execute(json_spans().select().where(text("name IN ('s0', 's1', 's2', 's3')")))
            }
            kind = conn.execute(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'spans' AND column_name = 'attributes'"
                )
                if engine.dialect.name == "postgresql"
                else text("SELECT typeof(attributes) FROM spans LIMIT 1")
            ).scalar_one()
        assert got == {k: v for k, v in expected(count).items() if k in got} and len(got) == 4
        assert kind in ("jsonb", "text")
        migrate(engine)  # and up again
        assert read_back(engine) == expected(count)
    finally:
        engine.dispose()


def test_the_sink_stores_packed_json_that_reads_back_as_sent(engine: Engine) -> None:
    redactor = Redactor(RedactionPolicy(), b"secret")
    attributes = {"code.function": "handle", "thread.id": 3, "hc.stage": "charge.posted"}
    item = span("charge.post", start=int(T0_S * NS), attributes=attributes)
    sink = SqlSink(engine)
    sink.write(convert_spans(trace_request(item), redactor, int(T0_S * NS)).batch)
    sink.close()
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT attributes, events, links FROM spans")).one()
        read = conn.execute(select(spans.c.attributes, spans.c.events, spans.c.links)).one()
    assert bytes(raw[0])[0] == 1
    assert orjson.loads(unpack(raw[0])) == read[0] == {"code.function": "handle", "thread.id": 3}
    assert read[1] is None and read[2] is None  # no events, no links

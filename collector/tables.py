"""The telemetry tables: a documented interface that BI tools and ad-hoc SQL read.

Times are integers in Unix nanoseconds (OTLP's own unit, exact on both databases); trace and
span ids and key hashes are stored as their raw bytes (BLOB, BYTEA: half the hex text, in the
rows and in the unique index) and read and written through SQLAlchemy as lowercase hex, as in
every tracing UI (:class:`HexBytes`); a span's ``attributes``, ``events`` and ``links`` are JSON
packed with a preset dictionary (``collector.packed``; BLOB, BYTEA: under half the JSON's
bytes) and read through SQLAlchemy as Python objects (:class:`PackedJson`); the other JSON
columns are TEXT on SQLite and JSONB on PostgreSQL.
The ``hc_*`` columns lift the business attributes of DESIGN.md out of the JSON so SLA and
dashboard queries can filter and index them; the collector does not repeat in the JSON the
values they hold (``collector.rows.lifted_attributes`` puts them back). ``id`` grows with
ingestion order and is the watermark readers use to pick up only what is new.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import VARBINARY, TypeEngine

from collector.attributes import json_text
from collector.packed import pack, unpack
from vitals.kernel.db import BigIntId, JsonDocument, metadata


class HexBytes(TypeDecorator[str]):
    """Bytes in the store, lowercase hex to SQLAlchemy: ids cost 16 and 8 bytes, not 32 and 16.

    A bound value that is not hex (a mistyped search) becomes the empty byte string, which no
    stored id equals, so the query finds nothing instead of failing. Raw driver SQL (the
    collector's sink) binds bytes itself (``bytes.fromhex``) and reads bytes back.
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(VARBINARY(self.length))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        try:
            return bytes.fromhex(str(value))
        except ValueError:
            return b""

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return bytes(value).hex() if isinstance(value, bytes | memoryview | bytearray) else str(value)

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        return self


class PackedJson(TypeDecorator[Any]):
    """JSON stored packed (``collector.packed``: a version byte and deflate with a preset
    dictionary), read as Python objects like :class:`~vitals.kernel.db.JsonDocument`, so readers of
    ``spans.c.attributes`` see no difference. Nothing can query inside it in SQL (nothing did);
    ad-hoc SQL reads the JSON with ``collector.packed.unpack``.

    Bind values may be Python objects, JSON text, or bytes already packed (the collector's sink
    packs in its own loop). Stored plain JSON text (an older writer) reads back too.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        return pack(value if isinstance(value, str) else json_text(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, bytes | bytearray | memoryview):
            return orjson.loads(unpack(value))
        if isinstance(value, str):
            return orjson.loads(value)
        return value


class max_id(FunctionElement[str]):
    """``max(id)`` of a :class:`HexBytes` column: an example id of a group. PostgreSQL has no
    ``max(bytea)``, so there it is the max of the hex text, decoded back to bytes."""

    name = "max_id"
    inherit_cache = True
    type = HexBytes(16)


@compiles(max_id)
def _max_id(element: max_id, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(max_id, "postgresql")
def _max_id_postgresql(element: max_id, compiler: SQLCompiler, **kw: Any) -> str:
    return f"decode(max(encode({compiler.process(element.clauses, **kw)}, 'hex')), 'hex')"


spans = Table(
    "spans",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("trace_id", HexBytes(16), nullable=False),
    Column("span_id", HexBytes(8), nullable=False),
    Column("parent_span_id", HexBytes(8)),
    Column("name", Text, nullable=False),
    Column("service_name", Text, nullable=False),
    Column("kind", String(12), nullable=False),
    Column("start_time_unix_nano", BigInteger, nullable=False),
    Column("end_time_unix_nano", BigInteger, nullable=False),
    Column("duration_ns", BigInteger, nullable=False),
    Column("event_time_unix_nano", BigInteger, nullable=False),
    Column("status_code", String(8), nullable=False),
    Column("status_message", Text),
    Column("attributes", PackedJson, nullable=False),
    # Null when the resource is stored once in ``span_resources`` (``resource_id``), as the
    # collector does; rows written by other means may carry it here instead.
    Column("resource_attributes", JsonDocument),
    Column("events", PackedJson),
    Column("links", PackedJson),
    Column("scope_name", Text),
    Column("hc_workflow", Text),
    Column("hc_stage", Text),
    Column("hc_system", Text),
    Column("hc_message_type", Text),
    Column("hc_facility", Text),
    Column("hc_service_line", Text),
    Column("hc_amount", Float),
    Column("hc_denial_code", Text),
    Column("messaging_destination", Text),
    Column("received_at_unix_nano", BigInteger, nullable=False),
    # How many spans this stored span stands for: 1, or N when span sampling kept one healthy
    # span out of N, so counts weighted by it stay exact.
    Column("sample_weight", Integer, nullable=False, server_default="1"),
    #: The span's resource in ``span_resources`` (null when ``resource_attributes`` holds it).
    Column("resource_id", BigInteger),
    # With the event time: PostgreSQL partitions spans by it and a unique key must hold the
    # partition key. A re-sent span has the same event time, so it is still skipped.
    UniqueConstraint("trace_id", "span_id", "event_time_unix_nano"),
    Index(None, "start_time_unix_nano"),
    Index(None, "service_name", "start_time_unix_nano"),
    Index(None, "hc_stage", "event_time_unix_nano"),
    sqlite_autoincrement=True,
)

#: The resource attributes of spans, once per distinct resource rather than on every span: a
#: request's 512 spans share one resource, and its JSON was the widest part of a stored span.
#: ``resource_id`` is a hash of the JSON text (``collector.rows.resource_id``), so any writer
#: computes it without a lookup and stores a resource it has not seen with ON CONFLICT DO NOTHING.
span_resources = Table(
    "span_resources",
    metadata,
    Column("resource_id", BigInteger, primary_key=True, autoincrement=False),
    Column("attributes", JsonDocument, nullable=False),
)


def spans_with_resources() -> Select[Any]:
    """Every column of ``spans``, ``resource_attributes`` taken from ``span_resources`` where the
    span has its resource there: the spans as they were received, for readers that show them."""
    resource = func.coalesce(spans.c.resource_attributes, span_resources.c.attributes)
    return select(
        *(c for c in spans.c if c.name != "resource_attributes"), resource.label("resource_attributes")
    ).select_from(spans.outerjoin(span_resources, span_resources.c.resource_id == spans.c.resource_id))


#: One row per business correlation key on a span (``hc.key.<key_name>``, value already hashed),
#: so a whole business object's journey across traces is one indexed lookup. The writer adds
#: rows only for spans it newly stored, so a (key, span) pair appears once without a unique
#: index (that wide index over 64-digit hashes cut the ingest rate by about 30%).
span_keys = Table(
    "span_keys",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("key_name", String(64), nullable=False),
    Column("key_hash", HexBytes(32), nullable=False),
    Column("trace_id", HexBytes(16), nullable=False),
    Column("span_id", HexBytes(8), nullable=False),
    # No stage (until c0009 it repeated the span's hc_stage; no reader used it): a reader that
    # wants it joins the span.
    Column("event_time_unix_nano", BigInteger, nullable=False),
    # The only lookup: a business object's spans by its key's hash (journeys, edges). Lag SLIs
    # read the keys from the span's attributes, so no (key_name, hc_stage, time) index. Only
    # equality, so on PostgreSQL a hash index: 4-byte hash codes instead of the 64-digit text.
    Index(None, "key_hash", postgresql_using="hash"),
    sqlite_autoincrement=True,
)

metric_points = Table(
    "metric_points",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    # Hash of name, service, resource and point attributes: one id per time series.
    Column("series_id", String(32), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("unit", Text),
    Column("service_name", Text, nullable=False),
    Column("time_unix_nano", BigInteger, nullable=False),
    Column("start_time_unix_nano", BigInteger),
    Column("value", Float),
    Column("count", BigInteger),
    Column("sum", Float),
    Column("min", Float),
    Column("max", Float),
    Column("buckets", JsonDocument),
    Column("temporality", String(12)),
    # Sums only: true for counters (rates make sense), false for up-down counters.
    Column("is_monotonic", Boolean),
    Column("attributes", JsonDocument, nullable=False),
    Column("resource_attributes", JsonDocument, nullable=False),
    Column("scope_name", Text),
    Column("queue", Text),
    Column("received_at_unix_nano", BigInteger, nullable=False),
    UniqueConstraint("series_id", "time_unix_nano"),
    Index(None, "name", "time_unix_nano"),
    Index(None, "queue", "name", "time_unix_nano"),
    sqlite_autoincrement=True,
)

#: The collector's own small state (name -> value), such as the generated hash secret for
#: ``hc.key.*`` values when none is configured.
collector_state = Table(
    "collector_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

__all__ = [
    "HexBytes",
    "PackedJson",
    "collector_state",
    "metric_points",
    "span_keys",
    "span_resources",
    "spans",
    "spans_with_resources",
]

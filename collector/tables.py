"""The telemetry tables: a documented interface that BI tools and ad-hoc SQL read.

Times are integers in Unix nanoseconds (OTLP's own unit, exact on both databases); ids are
lowercase hex as in every tracing UI; attributes are JSON (TEXT on SQLite, JSONB on PostgreSQL).
The ``hc_*`` columns lift the business attributes of DESIGN.md out of the JSON so SLA and
dashboard queries can filter and index them. ``id`` grows with ingestion order and is the
watermark readers use to pick up only what is new.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from vitals.kernel.db import BigIntId, JsonDocument, metadata

spans = Table(
    "spans",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("parent_span_id", String(16)),
    Column("name", Text, nullable=False),
    Column("service_name", Text, nullable=False),
    Column("kind", String(12), nullable=False),
    Column("start_time_unix_nano", BigInteger, nullable=False),
    Column("end_time_unix_nano", BigInteger, nullable=False),
    Column("duration_ns", BigInteger, nullable=False),
    Column("event_time_unix_nano", BigInteger, nullable=False),
    Column("status_code", String(8), nullable=False),
    Column("status_message", Text),
    Column("attributes", JsonDocument, nullable=False),
    Column("resource_attributes", JsonDocument, nullable=False),
    Column("events", JsonDocument),
    Column("links", JsonDocument),
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
    UniqueConstraint("trace_id", "span_id"),
    Index(None, "start_time_unix_nano"),
    Index(None, "service_name", "start_time_unix_nano"),
    Index(None, "hc_stage", "event_time_unix_nano"),
    sqlite_autoincrement=True,
)

#: One row per business correlation key on a span (``hc.key.<key_name>``, value already hashed),
#: so a whole business object's journey across traces is one indexed lookup. The writer adds
#: rows only for spans it newly stored, so a (key, span) pair appears once without a unique
#: index (that wide index over 64-digit hashes cut the ingest rate by about 30%).
span_keys = Table(
    "span_keys",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("key_name", String(64), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("hc_stage", Text),
    Column("event_time_unix_nano", BigInteger, nullable=False),
    Index(None, "key_hash"),
    # Lag SLIs start from "every <key_name> that reached <hc_stage> in this window".
    Index(None, "key_name", "hc_stage", "event_time_unix_nano"),
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

__all__ = ["collector_state", "metric_points", "span_keys", "spans"]

"""The dashboard's rollup tables: what makes every page fast at tens of millions of spans.

Pages never scan ``spans`` over a whole time range. A refresher (``dashboards.rollup``, run by
``vitals serve`` and by the dashboard process itself, one at a time through a lease) folds new
spans and queue samples into these small tables, following ``id`` watermarks
exactly as the SLA engine does. They are a documented interface like every other table:

- times are Unix nanoseconds; ``bucket`` is the start of a minute (``resolution`` 60) or an hour
  (``resolution`` 3600);
- key columns are ``''`` rather than NULL when a span has no value, so the primary keys (which the
  upserts rely on) work the same on SQLite and PostgreSQL;
- minute rows and failed spans are kept weeks, hour rows a year (``dashboards.rollup_retention``,
  ``retention:`` in ``dashboard.yaml``); feeds (a row per interface) are kept.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from vitals.kernel.db import JsonDocument, metadata

#: One row per rollup family: how far it has folded. Who refreshes it is a lease
#: (``vitals_leases``, ``dashboards.rollup.<family>``).
rollup_state = Table(
    "dashboard_rollup_state",
    metadata,
    Column("family", String(32), primary_key=True),
    # Last source row id folded in (spans.id or metric_points.id).
    Column("watermark", BigInteger, nullable=False, default=0),
    # Fingerprint of the definitions a family was built with; a change rebuilds it.
    Column("signature", Text, nullable=False, default=""),
    Column("updated_at_unix_nano", BigInteger, nullable=False, default=0),
    # Ids read above the watermark and not folded yet, as [[lo, hi, first_seen_ns], ...]: on
    # PostgreSQL a lower id may still commit below them (vitals.kernel.follow).
    Column("seen", JsonDocument, nullable=False),
)

#: Throughput, errors and duration per service, span name, kind and interface, per minute and hour
#: of span start. ``interface`` is the messaging destination, else the message type, else ''.
span_rollups = Table(
    "dashboard_span_rollups",
    metadata,
    Column("resolution", Integer, nullable=False),
    Column("bucket", BigInteger, nullable=False),
    Column("service_name", Text, nullable=False),
    Column("span_name", Text, nullable=False),
    Column("kind", String(12), nullable=False),
    Column("interface", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("error_count", BigInteger, nullable=False),
    Column("duration_sum_ns", BigInteger, nullable=False),
    Column("duration_max_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("resolution", "bucket", "service_name", "span_name", "kind", "interface"),
)

#: Business events per hour of event time, for the executive figures (exact ranges are completed
#: from ``spans`` through its (hc_stage, event_time) index at the partial hours of each end).
business_rollups = Table(
    "dashboard_business_rollups",
    metadata,
    Column("bucket", BigInteger, nullable=False),
    Column("stage", Text, nullable=False),
    Column("facility", Text, nullable=False),
    Column("service_line", Text, nullable=False),
    Column("denial_code", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("error_count", BigInteger, nullable=False),
    Column("amount_sum", Float, nullable=False),
    PrimaryKeyConstraint("bucket", "stage", "facility", "service_line", "denial_code"),
    Index(None, "stage", "bucket"),
)

#: The service graph: calls (parent/child across services), queue hops (producer -> consumer by
#: parent, span link or shared correlation key), per minute and hour of the later span's start.
service_edges = Table(
    "dashboard_service_edges",
    metadata,
    Column("resolution", Integer, nullable=False),
    Column("bucket", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("edge_kind", String(8), nullable=False),  # call | queue
    Column("via", Text, nullable=False),  # queue / destination, or '' for direct calls
    Column("count", BigInteger, nullable=False),
    Column("error_count", BigInteger, nullable=False),
    Column("latency_sum_ns", BigInteger, nullable=False),
    Column("latency_max_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("resolution", "bucket", "source", "target", "edge_kind", "via"),
)

#: Queue-hop joins not made yet: a span link whose target is not stored yet, or a consumer without
#: links waiting to be joined to its producer by a shared correlation key. Services export their
#: spans in their own batches, so a consumer is often stored before its producer; the refresher
#: retries these on every refresh and drops them once the consumer was received ``max_wait`` ago.
#: ``link_trace_id``/``link_span_id`` are '' for a key join.
edge_pending = Table(
    "dashboard_edge_pending",
    metadata,
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("link_trace_id", String(32), nullable=False),
    Column("link_span_id", String(16), nullable=False),
    Column("received_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("trace_id", "span_id", "link_trace_id", "link_span_id"),
)

#: Failed spans per hour grouped by service, span name and status message (first 200 characters).
error_groups = Table(
    "dashboard_error_groups",
    metadata,
    Column("bucket", BigInteger, nullable=False),
    Column("service_name", Text, nullable=False),
    Column("span_name", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("last_seen_ns", BigInteger, nullable=False),
    Column("example_trace_id", String(32), nullable=False),
    PrimaryKeyConstraint("bucket", "service_name", "span_name", "message"),
)

#: Every failed span, by time, service and name: failures are rare, and ``spans`` has no index
#: on status, so "the newest failed erp.gl.post spans" is read here and then fetched by trace id.
error_spans = Table(
    "dashboard_error_spans",
    metadata,
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("service_name", Text, nullable=False),
    Column("span_name", Text, nullable=False),
    Column("facility", Text, nullable=False),
    PrimaryKeyConstraint("trace_id", "span_id"),
    Index(None, "start_ns"),
    Index(None, "service_name", "start_ns"),
    Index(None, "span_name", "start_ns"),
)

#: Interface feeds: the last message seen per interface, service and facility (interface silence).
feeds = Table(
    "dashboard_feeds",
    metadata,
    Column("interface", Text, nullable=False),
    Column("service_name", Text, nullable=False),
    Column("facility", Text, nullable=False),
    Column("first_seen_ns", BigInteger, nullable=False),
    Column("last_seen_ns", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("interface", "service_name", "facility"),
)

#: ``queue.*`` samples from metric_points per minute and hour: how many, sum, min and max.
metric_rollups = Table(
    "dashboard_metric_rollups",
    metadata,
    Column("resolution", Integer, nullable=False),
    Column("bucket", BigInteger, nullable=False),
    Column("name", Text, nullable=False),
    Column("queue", Text, nullable=False),
    Column("samples", BigInteger, nullable=False),
    Column("value_sum", Float, nullable=False),
    Column("value_min", Float, nullable=False),
    Column("value_max", Float, nullable=False),
    PrimaryKeyConstraint("resolution", "bucket", "name", "queue"),
)

__all__ = [
    "business_rollups",
    "edge_pending",
    "error_groups",
    "error_spans",
    "feeds",
    "metric_rollups",
    "rollup_state",
    "service_edges",
    "span_rollups",
]

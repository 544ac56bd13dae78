"""The spans family: throughput, business, error, feed and failed-span rollups of new spans."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from collector.tables import spans
from dashboards.folds import RESOLUTIONS, upsert
from dashboards.folds.edges import EdgeAccumulator, link_and_key_edges, parent_edges
from dashboards.sqlexpr import blank, bucket, error_flag, insert_for, is_error, lit, norm_kind
from dashboards.tables import (
    business_rollups,
    error_groups,
    error_spans,
    feeds,
    service_edges,
    span_rollups,
)

#: Bump when the rules change: stored rollups are then rebuilt from the spans.
SIGNATURE = "spans-v2"

TABLES = (span_rollups, business_rollups, error_groups, error_spans, feeds, service_edges)


def _interface(table: Any = spans) -> Any:
    return func.coalesce(
        func.nullif(table.c.messaging_destination, lit("")),
        func.nullif(table.c.hc_message_type, lit("")),
        lit(""),
    )


def fold(conn: Connection, lo: int, hi: int) -> Callable[[Connection], None]:
    in_batch = and_(spans.c.id > lo, spans.c.id <= hi)
    rollup_rows: list[dict[str, Any]] = []
    for res in RESOLUTIONS:
        b = bucket(spans.c.start_time_unix_nano, res)
        kind = norm_kind(spans.c.kind)
        iface = _interface()
        q = (
            select(
                b.label("bucket"),
                spans.c.service_name,
                spans.c.name,
                kind.label("kind"),
                iface.label("interface"),
                func.count().label("n"),
                func.sum(error_flag(spans.c.status_code)).label("errors"),
                func.sum(spans.c.duration_ns).label("dur_sum"),
                func.max(spans.c.duration_ns).label("dur_max"),
            )
            .where(in_batch)
            .group_by(b, spans.c.service_name, spans.c.name, kind, iface)
        )
        rollup_rows += [
            {
                "resolution": res,
                "bucket": int(r.bucket),
                "service_name": r.service_name,
                "span_name": r.name,
                "kind": r.kind,
                "interface": r.interface,
                "count": int(r.n),
                "error_count": int(r.errors or 0),
                "duration_sum_ns": int(r.dur_sum or 0),
                "duration_max_ns": int(r.dur_max or 0),
            }
            for r in conn.execute(q)
        ]

    hour = bucket(spans.c.event_time_unix_nano, 3600)
    facility, line, denial = (
        blank(spans.c.hc_facility),
        blank(spans.c.hc_service_line),
        blank(spans.c.hc_denial_code),
    )
    business = [
        {
            "bucket": int(r.bucket),
            "stage": r.hc_stage,
            "facility": r.facility,
            "service_line": r.line,
            "denial_code": r.denial,
            "count": int(r.n),
            "error_count": int(r.errors or 0),
            "amount_sum": float(r.amount or 0.0),
        }
        for r in conn.execute(
            select(
                hour.label("bucket"),
                spans.c.hc_stage,
                facility.label("facility"),
                line.label("line"),
                denial.label("denial"),
                func.count().label("n"),
                func.sum(error_flag(spans.c.status_code)).label("errors"),
                func.sum(func.coalesce(spans.c.hc_amount, lit(0))).label("amount"),
            )
            .where(in_batch, spans.c.hc_stage.is_not(None))
            .group_by(hour, spans.c.hc_stage, facility, line, denial)
        )
    ]

    start_hour = bucket(spans.c.start_time_unix_nano, 3600)
    message = blank(func.substr(spans.c.status_message, lit(1), lit(200)))
    errors = [
        {
            "bucket": int(r.bucket),
            "service_name": r.service_name,
            "span_name": r.name,
            "message": r.message,
            "count": int(r.n),
            "last_seen_ns": int(r.last_seen),
            "example_trace_id": r.trace_id,
        }
        for r in conn.execute(
            select(
                start_hour.label("bucket"),
                spans.c.service_name,
                spans.c.name,
                message.label("message"),
                func.count().label("n"),
                func.max(spans.c.start_time_unix_nano).label("last_seen"),
                func.max(spans.c.trace_id).label("trace_id"),
            )
            .where(in_batch, is_error(spans.c.status_code))
            .group_by(start_hour, spans.c.service_name, spans.c.name, message)
        )
    ]

    failed = [
        {
            "trace_id": r.trace_id,
            "span_id": r.span_id,
            "start_ns": int(r.start_time_unix_nano),
            "service_name": r.service_name,
            "span_name": r.name,
            "facility": r.hc_facility or "",
        }
        for r in conn.execute(
            select(
                spans.c.trace_id,
                spans.c.span_id,
                spans.c.start_time_unix_nano,
                spans.c.service_name,
                spans.c.name,
                spans.c.hc_facility,
            ).where(in_batch, is_error(spans.c.status_code))
        )
    ]

    iface = _interface()
    feed_rows = [
        {
            "interface": r.interface,
            "service_name": r.service_name,
            "facility": r.facility,
            "first_seen_ns": int(r.first_seen),
            "last_seen_ns": int(r.last_seen),
            "count": int(r.n),
        }
        for r in conn.execute(
            select(
                iface.label("interface"),
                spans.c.service_name,
                facility.label("facility"),
                func.min(spans.c.start_time_unix_nano).label("first_seen"),
                func.max(spans.c.start_time_unix_nano).label("last_seen"),
                func.count().label("n"),
            )
            .where(in_batch, iface != lit(""))
            .group_by(iface, spans.c.service_name, facility)
        )
    ]

    edges = EdgeAccumulator()
    parent_edges(conn, lo, hi, edges)
    link_and_key_edges(conn, lo, hi, edges)
    edge_rows = edges.rows()

    def write(wconn: Connection) -> None:
        upsert(
            wconn,
            span_rollups,
            rollup_rows,
            add=("count", "error_count", "duration_sum_ns"),
            high=("duration_max_ns",),
        )
        upsert(wconn, business_rollups, business, add=("count", "error_count", "amount_sum"))
        upsert(wconn, error_groups, errors, add=("count",), high=("last_seen_ns", "example_trace_id"))
        if failed:
            wconn.execute(insert_for(wconn, error_spans).on_conflict_do_nothing(), failed)
        upsert(wconn, feeds, feed_rows, add=("count",), high=("last_seen_ns",), low=("first_seen_ns",))
        upsert(
            wconn,
            service_edges,
            edge_rows,
            add=("count", "error_count", "latency_sum_ns"),
            high=("latency_max_ns",),
        )

    return write

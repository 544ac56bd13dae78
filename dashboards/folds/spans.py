"""The spans family: throughput, business, error, feed and failed-span rollups of new spans.

Counts sum ``sample_weight`` rather than counting rows: a span kept by sampling stands for the
healthy spans of its group that were left out (``collector.sampling``), so every count here is
what was received. Duration sums weigh each kept span likewise (an estimate for sampled spans).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from collector.tables import max_id, spans
from dashboards.folds import RESOLUTIONS, Folder, Writer, upsert
from dashboards.folds.edges import (
    EdgeAccumulator,
    EdgeTiming,
    delete_pending,
    new_joins,
    parent_edges,
    pending_joins,
    resolve,
)
from dashboards.sqlexpr import blank, bucket, error_flag, insert_for, is_error, lit, norm_kind
from dashboards.tables import (
    business_rollups,
    edge_pending,
    error_groups,
    error_spans,
    feeds,
    service_edges,
    span_rollups,
)

#: Bump when the rules change: stored rollups are then rebuilt from the spans.
#: v3: queue hops joined by span links whatever the storage order; key joins only for consumers
#: without links, after a settle time, to a producer on the same destination shortly before.
SIGNATURE = "spans-v3"

TABLES = (span_rollups, business_rollups, error_groups, error_spans, feeds, service_edges, edge_pending)


class PendingRace(RuntimeError):
    """Pending joins were resolved by someone else meanwhile (the lease should prevent it)."""


def _interface(table: Any = spans) -> Any:
    return func.coalesce(
        func.nullif(table.c.messaging_destination, lit("")),
        func.nullif(table.c.hc_message_type, lit("")),
        lit(""),
    )


def folder(timing: EdgeTiming, clock: Callable[[], int]) -> Folder:
    """The spans family's fold; queue-hop joins are timed against ``clock`` (Unix ns)."""

    def fold(conn: Connection, lo: int, hi: int) -> Writer:
        return _fold(conn, lo, hi, timing, clock())

    return fold


def retry(timing: EdgeTiming, clock: Callable[[], int]) -> Callable[[Connection], Writer | None]:
    """Once per refresh: resolve the pending queue-hop joins whose other side has arrived (or
    whose wait is over); the writer deletes their rows and adds their edges in one transaction."""

    def run(conn: Connection) -> Writer | None:
        now = clock()
        joins, gone = pending_joins(conn, now, timing)
        edges = EdgeAccumulator()
        done, _waiting = resolve(conn, joins, now, timing, edges)
        keys = [j.key for j in done] + gone
        if not keys:
            return None
        edge_rows = edges.rows()

        def write(wconn: Connection) -> None:
            if delete_pending(wconn, keys) != len(keys):
                raise PendingRace("pending queue-hop joins changed under this refresher")
            _upsert_edges(wconn, edge_rows)

        return write

    return run


def _upsert_edges(conn: Connection, rows: list[dict[str, Any]]) -> None:
    upsert(
        conn,
        service_edges,
        rows,
        add=("count", "error_count", "latency_sum_ns"),
        high=("latency_max_ns",),
    )


def _fold(conn: Connection, lo: int, hi: int, timing: EdgeTiming, now: int) -> Writer:
    in_batch = and_(spans.c.id > lo, spans.c.id <= hi)
    weight = func.sum(spans.c.sample_weight)  # spans received, kept or sampled out
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
                weight.label("n"),
                func.sum(error_flag(spans.c.status_code) * spans.c.sample_weight).label("errors"),
                func.sum(spans.c.duration_ns * spans.c.sample_weight).label("dur_sum"),
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
                weight.label("n"),
                func.sum(error_flag(spans.c.status_code) * spans.c.sample_weight).label("errors"),
                func.sum(func.coalesce(spans.c.hc_amount, lit(0)) * spans.c.sample_weight).label("amount"),
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
                weight.label("n"),
                func.max(spans.c.start_time_unix_nano).label("last_seen"),
                max_id(spans.c.trace_id).label("trace_id"),
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
                weight.label("n"),
            )
            .where(in_batch, iface != lit(""))
            .group_by(iface, spans.c.service_name, facility)
        )
    ]

    edges = EdgeAccumulator()
    parent_edges(conn, lo, hi, edges)
    _done, waiting = resolve(conn, new_joins(conn, lo, hi), now, timing, edges)
    pending = [j.pending_row() for j in waiting]
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
        _upsert_edges(wconn, edge_rows)
        if pending:
            wconn.execute(insert_for(wconn, edge_pending).on_conflict_do_nothing(), pending)

    return write

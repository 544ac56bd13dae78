"""The lag family: one row per business object of each lag SLA, from new correlation keys."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from collector.tables import span_keys, spans
from dashboards.catalog import LagPair
from dashboards.folds import Folder
from dashboards.sqlexpr import insert_for
from dashboards.tables import lag_objects
from slas.records import SpanRecord, hc_amount, stored_attributes
from slas.selector import CompiledSelector
from slas.source import HC_COLUMNS, SPAN_RECORD_COLUMNS
from slas.spec import Selector


def folder(pairs: Sequence[LagPair]) -> Folder:
    def fold(conn: Connection, lo: int, hi: int) -> Callable[[Connection], None]:
        rows = _lag_rows(conn, pairs, lo, hi)

        def write(wconn: Connection) -> None:
            if not rows:
                return
            stmt = insert_for(wconn, lag_objects)
            ex, t = stmt.excluded, lag_objects.c
            earlier_start = (t.start_ns.is_(None)) | ((ex.start_ns.is_not(None)) & (ex.start_ns < t.start_ns))
            earlier_end = (t.end_ns.is_(None)) | ((ex.end_ns.is_not(None)) & (ex.end_ns < t.end_ns))
            new_start = ex.start_ns.is_not(None) & earlier_start
            set_ = {
                "start_ns": case((earlier_start, ex.start_ns), else_=t.start_ns),
                "start_trace_id": case(
                    (earlier_start & ex.start_ns.is_not(None), ex.start_trace_id), else_=t.start_trace_id
                ),
                "end_ns": case((earlier_end, ex.end_ns), else_=t.end_ns),
                "end_trace_id": case(
                    (earlier_end & ex.end_ns.is_not(None), ex.end_trace_id), else_=t.end_trace_id
                ),
                # A newly seen (earlier) start brings its own money and place, as in the SLA engine.
                "amount": case(
                    (new_start & ex.amount.is_not(None), ex.amount), else_=func.coalesce(t.amount, ex.amount)
                ),
                "facility": case(
                    (new_start & ex.facility.is_not(None), ex.facility),
                    else_=func.coalesce(t.facility, ex.facility),
                ),
                "service_line": case(
                    (new_start & ex.service_line.is_not(None), ex.service_line),
                    else_=func.coalesce(t.service_line, ex.service_line),
                ),
            }
            wconn.execute(stmt.on_conflict_do_update(index_elements=["pair", "key_hash"], set_=set_), rows)

        return write

    return fold


def _record(row: Any) -> SpanRecord:
    """A stored span as the SLA engine's selectors see it (hc.* columns filled into attributes)."""
    lifted = ((attribute, getattr(row, column)) for column, attribute in HC_COLUMNS.items())
    return SpanRecord(
        0,
        row.name,
        row.service_name,
        str(row.kind).lower().replace("span_kind_", ""),
        str(row.status_code).lower(),
        int(row.event_time_unix_nano),
        int(row.duration_ns),
        stored_attributes(row.attributes, row.service_name, lifted),
    )


def _lag_rows(conn: Connection, pairs: Sequence[LagPair], lo: int, hi: int) -> list[dict[str, Any]]:
    """Start and end sightings of each pair's objects among new correlation-key rows.

    The earliest start and the earliest end win; amount, facility and service line come from
    the start when it has them, else from the end (the SLA engine's rule).
    """
    if not pairs:
        return []
    matchers = [
        (
            pair,
            CompiledSelector(Selector.model_validate(json.loads(pair.from_selector))),
            CompiledSelector(Selector.model_validate(json.loads(pair.to_selector))),
        )
        for pair in pairs
    ]
    keys = sorted({p.key for p in pairs})
    query = (
        select(
            span_keys.c.key_name,
            span_keys.c.key_hash,
            spans.c.trace_id,
            *SPAN_RECORD_COLUMNS,
        )
        .select_from(
            span_keys.join(
                spans, and_(spans.c.trace_id == span_keys.c.trace_id, spans.c.span_id == span_keys.c.span_id)
            )
        )
        .where(span_keys.c.id > lo, span_keys.c.id <= hi, span_keys.c.key_name.in_(keys))
    )
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in conn.execute(query):
        record: SpanRecord | None = None
        for pair, starts, ends in matchers:
            if row.key_name != pair.key:
                continue
            record = record or _record(row)
            sides = [side for side, match in (("start", starts), ("end", ends)) if match(record)]
            for side in sides:
                cell = merged.setdefault(
                    (pair.name, row.key_hash),
                    {
                        "pair": pair.name,
                        "key_hash": row.key_hash,
                        "start_ns": None,
                        "end_ns": None,
                        "amount": None,
                        "facility": None,
                        "service_line": None,
                        "start_trace_id": None,
                        "end_trace_id": None,
                        "_from_start": False,
                    },
                )
                at = record.event_time_ns
                if cell[f"{side}_ns"] is not None and at >= cell[f"{side}_ns"]:
                    continue
                cell[f"{side}_ns"] = at
                cell[f"{side}_trace_id"] = row.trace_id
                # The start's money and place win over the end's.
                if side == "start" or not cell["_from_start"]:
                    attrs = record.attributes
                    amount = hc_amount(attrs)
                    cell["amount"] = amount if amount is not None else cell["amount"]
                    cell["facility"] = attrs.get("hc.facility") or cell["facility"]
                    cell["service_line"] = attrs.get("hc.service_line") or cell["service_line"]
                    cell["_from_start"] = cell["_from_start"] or side == "start"
    for cell in merged.values():
        cell.pop("_from_start")
    return list(merged.values())

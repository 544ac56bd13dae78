"""Rows for the telemetry tables, for tests that need stored data without running the collector.

Tests of readers (SLA engine, dashboard queries) insert through these so that a change to the
table shape is made in one place.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from collector.rows import series_id
from collector.tables import metric_points, span_keys, spans
from vitals.kernel.units import NS

_HC_COLUMNS = {
    "hc.workflow": "hc_workflow",
    "hc.stage": "hc_stage",
    "hc.system": "hc_system",
    "hc.message.type": "hc_message_type",
    "hc.facility": "hc_facility",
    "hc.service_line": "hc_service_line",
    "hc.denial.code": "hc_denial_code",
}


def span_row(
    *,
    name: str = "op",
    service: str = "svc",
    start_s: float = 0.0,
    duration_s: float = 0.01,
    status: str = "unset",
    attributes: Mapping[str, Any] | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
    parent_span_id: str | None = None,
    kind: str = "internal",
    received_s: float | None = None,
    event_time_s: float | None = None,
    ids: random.Random | None = None,
) -> dict[str, Any]:
    """A ``spans`` row as the collector would store it (hc.* lifted into their columns).

    Trace and span ids not given are drawn from ``ids`` (a seeded generator: the same estate
    every run) or else at random.
    """
    attrs = dict(attributes or {})
    start = int(start_s * NS)
    end = start + int(duration_s * NS)
    row: dict[str, Any] = {
        "trace_id": trace_id or _hex(16, ids),
        "span_id": span_id or _hex(8, ids),
        "parent_span_id": parent_span_id,
        "name": name,
        "service_name": service,
        "kind": kind,
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "duration_ns": end - start,
        "event_time_unix_nano": int(event_time_s * NS) if event_time_s is not None else start,
        "status_code": status,
        "status_message": None,
        "attributes": orjson.dumps(attrs).decode(),
        "resource_attributes": orjson.dumps({"service.name": service}).decode(),
        "events": None,
        "links": None,
        "scope_name": None,
        "hc_amount": float(attrs["hc.amount"]) if "hc.amount" in attrs else None,
        "messaging_destination": attrs.get("messaging.destination.name"),
        "received_at_unix_nano": int((received_s if received_s is not None else start_s) * NS),
    }
    for key, column in _HC_COLUMNS.items():
        row[column] = attrs.get(key)
    return row


def _hex(size: int, ids: random.Random | None) -> str:
    return ids.randbytes(size).hex() if ids is not None else secrets.token_hex(size)


def key_rows(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    attrs = orjson.loads(row["attributes"])
    return [
        {
            "key_name": key[len("hc.key.") :],
            "key_hash": str(value),
            "trace_id": row["trace_id"],
            "span_id": row["span_id"],
            "event_time_unix_nano": row["event_time_unix_nano"],
        }
        for key, value in attrs.items()
        if key.startswith("hc.key.")
    ]


def insert_spans(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> int:
    rows = list(rows)
    keys = [k for row in rows for k in key_rows(row)]
    with engine.begin() as conn:
        if rows:
            conn.execute(spans.insert(), rows)
        if keys:
            conn.execute(span_keys.insert(), keys)
    return len(rows)


def metric_row(
    *,
    name: str,
    value: float,
    time_s: float,
    attributes: Mapping[str, Any] | None = None,
    service: str = "svc",
    kind: str = "gauge",
    unit: str | None = None,
) -> dict[str, Any]:
    attrs = dict(attributes or {})
    return {
        "series_id": series_id(name, service, {"service.name": service}, attrs),
        "name": name,
        "kind": kind,
        "unit": unit,
        "service_name": service,
        "time_unix_nano": int(time_s * NS),
        "start_time_unix_nano": None,
        "value": value,
        "count": None,
        "sum": None,
        "min": None,
        "max": None,
        "buckets": None,
        "temporality": None,
        "attributes": orjson.dumps(attrs).decode(),
        "resource_attributes": orjson.dumps({"service.name": service}).decode(),
        "scope_name": None,
        "queue": attrs.get("queue"),
        "received_at_unix_nano": int(time_s * NS),
    }


def insert_metric_points(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> int:
    rows = list(rows)
    with engine.begin() as conn:
        conn.execute(metric_points.insert(), rows)
    return len(rows)

"""A known store for the capacity tests: queue gauges and stage spans with a known shape."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.engine import Engine

from capacity.model import HOUR_S
from collector.tables import metric_points, spans
from vitals.kernel.units import NS

#: 2026-12-04 18:00 UTC, a Friday noon in Chicago: the tests' now.
NOW_S = 1_796_407_200
DAYS = 28
SAMPLE_S = 300


def queue_rows(queue: str, *, publish: float, deliver: float, backlog_depth: float) -> list[dict[str, Any]]:
    """Gauges every 5 minutes for ``DAYS`` days up to NOW_S: constant publish rate (twice it on
    weekdays' working hours), the given drain rate, and a backlog in the last 15 minutes."""
    rows = []
    attrs = orjson.dumps({"queue": queue, "broker": "rabbitmq"}).decode()
    start = NOW_S - DAYS * 86400
    for t in range(start, NOW_S + 1, SAMPLE_S):
        recent = t > NOW_S - 900
        values = {
            "queue.publish_rate": publish,
            "queue.deliver_rate": deliver if not recent else deliver / 2,
            "queue.depth": backlog_depth if recent else 0.0,
            "queue.oldest_age_seconds": 600.0 if recent else 0.0,
        }
        for name, value in values.items():
            rows.append(
                {
                    "series_id": f"{queue}-{name}"[:32],
                    "name": name,
                    "kind": "gauge",
                    "service_name": "integration-engine",
                    "time_unix_nano": t * NS,
                    "value": value,
                    "attributes": attrs,
                    "resource_attributes": "{}",
                    "received_at_unix_nano": t * NS,
                }
            )
    return rows


def span_rows(stage: str, per_hour: int, hours: int) -> list[dict[str, Any]]:
    rows = []
    first_hour = NOW_S - NOW_S % HOUR_S - hours * HOUR_S
    n = 0
    for h in range(hours):
        for i in range(per_hour):
            n += 1
            at = (first_hour + h * HOUR_S + i) * NS
            rows.append(
                {
                    "trace_id": f"{n:032x}",
                    "span_id": f"{n:016x}",
                    "name": stage,
                    "service_name": "billing",
                    "kind": "internal",
                    "start_time_unix_nano": at,
                    "end_time_unix_nano": at,
                    "duration_ns": 0,
                    "event_time_unix_nano": at,
                    "status_code": "ok",
                    "attributes": "{}",
                    "hc_stage": stage,
                    "received_at_unix_nano": at,
                }
            )
    return rows


def fill(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            metric_points.insert(),
            queue_rows("charges-outbound", publish=2.0, deliver=2.0, backlog_depth=1800),
        )
        conn.execute(
            metric_points.insert(), queue_rows("gl-postings", publish=0.5, deliver=0.5, backlog_depth=0)
        )
        conn.execute(spans.insert(), span_rows("charge.posted", 3, 24 * 10))

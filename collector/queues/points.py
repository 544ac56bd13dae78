"""``metric_points`` rows for queue samples (pure: plain dicts, no database).

Rows follow the table's documented shape (``collector/tables.py``): gauge points with JSON
attributes, the queue name lifted into the ``queue`` column, and a ``series_id`` that is the same
for the same name, service and attributes on every poll.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from collector.queues import names
from collector.queues.samples import QueueSample
from collector.rows import series_id as collector_series_id
from vitals.kernel.units import NS

#: ``scope_name`` of every row Vitals derives itself, so readers can tell them from pushed ones.
SCOPE_NAME = "vitals.queues"


def series_id(name: str, service: str, attributes: Mapping[str, Any]) -> str:
    """Stable id of one time series, by the collector's own formula (``collector.rows.series_id``)
    over the resource attributes Vitals gives its derived rows (just ``service.name``)."""
    return collector_series_id(name, service, {"service.name": service}, dict(attributes))


def point_row(
    name: str,
    value: float,
    time_s: float,
    attributes: Mapping[str, Any],
    *,
    service: str = names.SERVICE_NAME,
    count: int | None = None,
    total: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    received_s: float | None = None,
) -> dict[str, Any]:
    """One gauge row; ``count``/``total``/``minimum``/``maximum`` fill the summary columns."""
    attrs = {k: v for k, v in attributes.items() if v is not None}
    time_ns = round(time_s * NS)
    return {
        "series_id": series_id(name, service, attrs),
        "name": name,
        "kind": "gauge",
        "unit": names.UNITS.get(name),
        "service_name": service,
        "time_unix_nano": time_ns,
        "start_time_unix_nano": None,
        "value": float(value),
        "count": count,
        "sum": total,
        "min": minimum,
        "max": maximum,
        "buckets": None,
        "temporality": None,
        "attributes": orjson.dumps(attrs).decode(),
        "resource_attributes": orjson.dumps({"service.name": service}).decode(),
        "scope_name": SCOPE_NAME,
        "queue": attrs.get(names.ATTR_QUEUE),
        "received_at_unix_nano": time_ns if received_s is None else round(received_s * NS),
    }


def sample_attributes(
    sample_queue: str, labels: Iterable[tuple[str, str]], base: Mapping[str, str | None]
) -> dict[str, str]:
    attrs = {k: v for k, v in base.items() if v is not None}
    attrs[names.ATTR_QUEUE] = sample_queue
    attrs.update(labels)
    return attrs


def sample_rows(sample: QueueSample, base: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """Rows for every value of one sample; ``base`` holds broker, poller and hc.system."""
    attrs = sample_attributes(sample.queue, sample.labels, base)
    return [point_row(name, value, sample.time_s, attrs) for name, value in sorted(sample.values.items())]


__all__ = ["SCOPE_NAME", "point_row", "sample_attributes", "sample_rows", "series_id"]

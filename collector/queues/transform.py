"""The hook the OTLP metrics receiver calls on every ``metric_points`` row (``ctx.metric_transforms``).

Renames engine-pushed queue gauges (see :mod:`collector.queues.mapping`), fills the ``queue``
column, and drops ``series_id`` so the collector recomputes it for the new name and attributes.
Cumulative counters (published/delivered totals) become per-second rates against the previous
point of the same series; the first point of a series, and a point after a counter reset, are
kept unchanged (there is nothing to difference).
"""

from __future__ import annotations

import threading
from typing import Any

import orjson

from collector.queues import names
from collector.queues.mapping import RULES, map_metric
from collector.rows import json_object
from vitals.kernel.units import NS


class QueueMetricTransform:
    """Callable transform; thread-safe (receivers may call it from several threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], tuple[int, float]] = {}  # series -> (time, value)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any] | None:
        name = row.get("name")
        if not isinstance(name, str):
            return None
        if not name.startswith("queue.") and name not in RULES:
            return None
        attrs = json_object(row.get("attributes"))
        resource = json_object(row.get("resource_attributes"))
        mapped = map_metric(name, attrs, resource)
        if mapped is None:
            return None
        value = row.get("value")
        if mapped.rate:
            value = self._rate(row, name, value, attrs, resource)
            if value is None:
                return None
        text_attrs = isinstance(row.get("attributes"), str | bytes)
        out = dict(row)
        out.update(
            name=mapped.name,
            value=value,
            kind="gauge" if mapped.rate else row.get("kind", "gauge"),
            temporality=None if mapped.rate else row.get("temporality"),
            is_monotonic=None if mapped.rate else row.get("is_monotonic"),
            start_time_unix_nano=None if mapped.rate else row.get("start_time_unix_nano"),
            unit=names.UNITS.get(mapped.name, row.get("unit")),
            attributes=orjson.dumps(mapped.attributes).decode() if text_attrs else mapped.attributes,
            queue=mapped.attributes[names.ATTR_QUEUE],
        )
        out.pop("series_id", None)
        return out

    def _rate(
        self, row: dict[str, Any], name: str, value: Any, attrs: dict[str, Any], resource: dict[str, Any]
    ) -> float | None:
        time_ns = row.get("time_unix_nano")
        if not isinstance(time_ns, int) or not isinstance(value, int | float):
            return None
        identity = orjson.dumps([row.get("service_name"), resource, attrs], option=orjson.OPT_SORT_KEYS)
        key = (name, identity.decode())
        with self._lock:
            previous = self._last.get(key)
            if previous is None or time_ns > previous[0]:
                self._last[key] = (time_ns, float(value))
        if previous is None or time_ns <= previous[0] or value < previous[1]:
            return None
        return (float(value) - previous[1]) / ((time_ns - previous[0]) / NS)


__all__ = ["QueueMetricTransform"]

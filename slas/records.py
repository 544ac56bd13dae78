"""Telemetry as the SLA core sees it: plain tuples, whatever store they came from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from vitals.kernel.units import optional_float

__all__ = ["PointRecord", "SpanRecord", "hc_amount", "stored_attributes"]


class SpanRecord(NamedTuple):
    """One stored span. ``attributes`` holds the span attributes with hc.* lifted values filled in."""

    id: int
    name: str
    service: str
    kind: str  # internal, server, client, producer, consumer
    status: str  # unset, ok, error
    event_time_ns: int
    duration_ns: int
    attributes: Mapping[str, Any]
    trace_id: str = ""  # names a lag object's start and end spans, for links to their traces
    #: Spans received that this stored one stands for (``spans.sample_weight``; 1 unless sampled).
    weight: int = 1


class PointRecord(NamedTuple):
    """One stored metric sample (gauge or sum value)."""

    id: int
    name: str
    service: str
    time_ns: int
    value: float | None
    attributes: Mapping[str, Any]


def hc_amount(attributes: Mapping[str, Any]) -> float | None:
    """The money a span carries (``hc.amount``), None when it has none or it is not a number."""
    return optional_float(attributes.get("hc.amount"))


def stored_attributes(
    attributes: Any, service_name: str, lifted: Iterable[tuple[str, Any]]
) -> dict[str, Any]:
    """A stored span's (or point's) attributes as selectors see them.

    ``lifted`` pairs an attribute name with the value of the column it was lifted into (``hc_*``
    columns of ``spans``, ``queue`` of ``metric_points``): a row written straight into the table
    may carry the value only there. ``service.name`` comes from the row's service.
    """
    out = dict(attributes) if isinstance(attributes, Mapping) else {}
    for name, value in lifted:
        if value is not None:
            out.setdefault(name, value)
    out.setdefault("service.name", service_name)
    return out

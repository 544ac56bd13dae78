"""Telemetry as the SLA core sees it: plain tuples, whatever store they came from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["PointRecord", "SpanRecord"]


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


class PointRecord(NamedTuple):
    """One stored metric sample (gauge or sum value)."""

    id: int
    name: str
    service: str
    time_ns: int
    value: float | None
    attributes: Mapping[str, Any]

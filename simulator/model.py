"""Plain descriptions of telemetry, produced by the generator and consumed by the emitter.

The generator is pure: it returns these values and never touches the OpenTelemetry SDK or a socket,
so its output can be compared, counted and replayed in unit tests. Ids are integers (as the SDK
holds them); times are Unix nanoseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

SpanKindName = Literal["internal", "server", "client", "producer", "consumer"]
AttributeValue = str | int | float | bool
Attributes = Mapping[str, AttributeValue]


class EventSpec(NamedTuple):
    name: str
    time_ns: int
    attributes: Attributes


class SpanSpec(NamedTuple):
    """One span to emit. ``parent_span_id`` 0 means a root span; ``links`` are (trace_id, span_id)."""

    trace_id: int
    span_id: int
    parent_span_id: int
    name: str
    service: str
    kind: SpanKindName
    start_ns: int
    end_ns: int
    attributes: Attributes
    error: str | None = None
    links: tuple[tuple[int, int], ...] = ()
    events: tuple[EventSpec, ...] = ()

    @property
    def time_ns(self) -> int:
        """When the span is exported: as in a live system, when it ends."""
        return self.end_ns


class MetricSpec(NamedTuple):
    """One gauge sample (queue metrics), exported with its own timestamp."""

    name: str
    unit: str
    service: str
    time_ns: int
    value: float
    attributes: Attributes


class QueueHop(NamedTuple):
    """A message's passage through one simulated queue, for the queue gauges."""

    queue: str
    published_ns: int
    consumed_ns: int
    acked_ns: int


Item = SpanSpec | MetricSpec

__all__ = [
    "AttributeValue",
    "Attributes",
    "EventSpec",
    "Item",
    "MetricSpec",
    "QueueHop",
    "SpanKindName",
    "SpanSpec",
]

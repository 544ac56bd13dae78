"""Producer-to-consumer latency per queue from the traces themselves (pure).

A message's latency is the time from the start of its producer span (publish) to the end of its
consumer span (processed): what a message really waited and took, end to end, next to the broker's
depth. Consumer spans find their producer by, in order: a span link to it, being its child (same
trace, ``parent_span_id``), or the same ``messaging.message.id`` on the same destination. Either side
may arrive first (exporters batch independently); the other side is awaited up to ``max_wait``.
Latencies are grouped per queue and minute (the consumer's end) into percentiles.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vitals.kernel.units import MINUTE_NS, NS

PRODUCER_OPERATIONS = frozenset({"publish", "send", "create"})
CONSUMER_OPERATIONS = frozenset({"process", "receive", "deliver"})

SpanRef = tuple[str, str]  # (trace_id, span_id)


@dataclass(frozen=True)
class MessagingSpan:
    """The parts of a stored span that the join needs."""

    id: int
    trace_id: str
    span_id: str
    parent_span_id: str | None
    role: str  # "producer" | "consumer"
    destination: str | None
    message_id: str | None
    start_ns: int
    end_ns: int
    links: tuple[SpanRef, ...] = ()
    broker: str | None = None
    system: str | None = None

    @property
    def ref(self) -> SpanRef:
        return (self.trace_id, self.span_id)


def role_of(kind: str | None, attributes: Mapping[str, Any]) -> str | None:
    """``producer``, ``consumer`` or None, from the span kind or ``messaging.operation.type``."""
    normalised = (kind or "").lower().removeprefix("span_kind_")
    if normalised in {"producer", "consumer"}:
        return normalised
    operation = attributes.get("messaging.operation.type") or attributes.get("messaging.operation")
    if isinstance(operation, str):
        if operation.lower() in PRODUCER_OPERATIONS:
            return "producer"
        if operation.lower() in CONSUMER_OPERATIONS:
            return "consumer"
    return None


def link_refs(links: Any) -> tuple[SpanRef, ...]:
    """(trace_id, span_id) of every link in a stored ``links`` document, whatever its key style."""
    refs = []
    for link in links or ():
        if not isinstance(link, Mapping):
            continue
        trace = link.get("trace_id") or link.get("traceId")
        span = link.get("span_id") or link.get("spanId")
        if isinstance(trace, str) and isinstance(span, str):
            refs.append((trace.lower(), span.lower()))
    return tuple(refs)


@dataclass(frozen=True)
class Pair:
    destination: str
    broker: str | None
    system: str | None
    consumer_end_ns: int
    latency_s: float


@dataclass
class LatencyJoiner:
    """Matches consumer spans to producer spans across batches (in-memory state, no I/O)."""

    max_wait_ns: int = 3600 * NS
    _producers: dict[SpanRef, MessagingSpan] = field(default_factory=dict)
    _by_message: dict[tuple[str | None, str], MessagingSpan] = field(default_factory=dict)
    _waiting: dict[SpanRef, MessagingSpan] = field(default_factory=dict)
    #: Newest span end seen: the join's clock (event time, so a back-fill of old traces works).
    newest_ns: int = 0

    def add(self, spans: Iterable[MessagingSpan]) -> list[Pair]:
        pairs: list[Pair] = []
        consumers = []
        for span in spans:
            self.newest_ns = max(self.newest_ns, span.end_ns)
            if span.role == "producer":
                self._producers[span.ref] = span
                if span.message_id:
                    self._by_message[(span.destination, span.message_id)] = span
            elif span.role == "consumer":
                consumers.append(span)
        # Consumers seen earlier may have been waiting for a producer of this batch.
        for consumer in [*self._waiting.values(), *consumers]:
            producer = self._producer_of(consumer)
            if producer is None:
                self._waiting[consumer.ref] = consumer
                continue
            self._waiting.pop(consumer.ref, None)
            pair = _pair(producer, consumer)
            if pair is not None:
                pairs.append(pair)
        return pairs

    def _producer_of(self, consumer: MessagingSpan) -> MessagingSpan | None:
        for ref in consumer.links:
            if ref in self._producers:
                return self._producers[ref]
        if consumer.parent_span_id:
            parent = self._producers.get((consumer.trace_id, consumer.parent_span_id))
            if parent is not None:
                return parent
        if consumer.message_id:
            found = self._by_message.get((consumer.destination, consumer.message_id))
            if found is None and consumer.destination is None:
                return None
            return found
        return None

    def expire(self) -> int:
        """Forget producers and waiting consumers ``max_wait`` older than the newest span seen."""
        horizon = self.newest_ns - self.max_wait_ns
        dropped = 0
        for store in (self._producers, self._waiting):
            old = [ref for ref, span in store.items() if span.end_ns < horizon]
            for ref in old:
                del store[ref]
            dropped += len(old)
        for key in [k for k, span in self._by_message.items() if span.end_ns < horizon]:
            del self._by_message[key]
        return dropped

    @property
    def waiting(self) -> int:
        return len(self._waiting)


def _pair(producer: MessagingSpan, consumer: MessagingSpan) -> Pair | None:
    destination = consumer.destination or producer.destination
    if destination is None:
        return None
    latency = (consumer.end_ns - producer.start_ns) / NS
    if latency < 0:
        return None  # clock skew beyond repair; a negative latency would poison percentiles
    return Pair(destination, consumer.broker or producer.broker, consumer.system, consumer.end_ns, latency)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (NumPy's default), ``q`` in 0..100."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    position = (len(sorted_values) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    fraction = position - lower
    return float(sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * fraction)


GroupKey = tuple[str, str | None, str | None, int]  # destination, broker, system, minute start


@dataclass(frozen=True)
class MinuteLatency:
    destination: str
    broker: str | None
    system: str | None
    minute_start_ns: int
    count: int
    total: float
    minimum: float
    maximum: float
    quantiles: tuple[tuple[float, float], ...]  # (percentile, seconds)


@dataclass
class MinuteWindows:
    """Latencies per queue and minute, summarised once the minute is done.

    A minute is done when it ended at least ``grace`` ago *and* no pair was added to it for
    ``grace`` (a back-fill of old traces keeps its minutes open while it streams in). Its row is
    written once: pairs that arrive after that are dropped by the store's (series, time) key.
    """

    percentiles: tuple[float, ...] = (50.0, 95.0, 99.0)
    _open: dict[GroupKey, list[float]] = field(default_factory=lambda: defaultdict(list))
    _touched: dict[GroupKey, int] = field(default_factory=dict)

    def add(self, pairs: Iterable[Pair], now_ns: int) -> None:
        for pair in pairs:
            minute = pair.consumer_end_ns - pair.consumer_end_ns % MINUTE_NS
            key = (pair.destination, pair.broker, pair.system, minute)
            self._open[key].append(pair.latency_s)
            self._touched[key] = now_ns

    def close(self, now_ns: int, grace_ns: int) -> list[MinuteLatency]:
        """Summaries of the minutes that are done at ``now_ns``, oldest first."""
        cutoff = now_ns - grace_ns
        done = sorted(
            key for key in self._open if key[3] + MINUTE_NS <= cutoff and self._touched[key] <= cutoff
        )
        out = []
        for key in done:
            values = sorted(self._open.pop(key))
            del self._touched[key]
            out.append(
                MinuteLatency(
                    key[0],
                    key[1],
                    key[2],
                    key[3],
                    len(values),
                    float(sum(values)),
                    values[0],
                    values[-1],
                    tuple((q, percentile(values, q)) for q in self.percentiles),
                )
            )
        return out

    @property
    def open_minutes(self) -> int:
        return len(self._open)


__all__ = [
    "LatencyJoiner",
    "MessagingSpan",
    "MinuteLatency",
    "MinuteWindows",
    "Pair",
    "link_refs",
    "percentile",
    "role_of",
]

"""What every workflow uses: the journey of one business object, its spans and its queue hops.

A workflow is a function that tells the healthy story of one business object (a charge, a claim,
an order) on a :class:`Journey`: it draws every random number it needs first (so the story never
depends on which window is being generated), asks :class:`~simulator.incidents.Effects` how the
incidents bend it, and records spans. Spans that start before the history window are dropped here;
queue hops are always kept so the queue gauges see messages published before the window.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from simulator.estate import BROKER, MESSAGING_SYSTEM, QUEUES, Facility
from simulator.ids import span_id, trace_id
from simulator.incidents import Effects
from simulator.model import AttributeValue, EventSpec, QueueHop, SpanKindName, SpanSpec
from vitals.kernel.units import NS

MS = 1_000_000

#: Counts of another stream's origins in one slot, to reference its keys: (stream, facility, slot).
CountFn = Callable[[str, Facility, int], int]


@dataclass(frozen=True)
class Context:
    """What does not change during a run."""

    seed: int
    history_start_ns: int
    effects: Effects
    count: CountFn
    slot_ns: int


@dataclass
class Journey:
    """One business object's spans and queue hops, drawn from its own seeded generator."""

    ctx: Context
    rng: random.Random
    facility: Facility
    stream: str
    slot: int
    index: int
    origin_ns: int
    spans: list[SpanSpec] = field(default_factory=list)
    hops: list[QueueHop] = field(default_factory=list)

    # -- ids and keys ---------------------------------------------------------------------------
    def trace(self) -> int:
        return trace_id(self.rng)

    def sid(self) -> int:
        return span_id(self.rng)

    def key(self, tag: str) -> str:
        """This object's business identifier (unique per stream, facility, slot and index)."""
        return f"{self.facility.code}{tag}{self.slot:07d}{self.index:03d}"

    def ref_key(self, stream: str, tag: str, back_min_ns: int, back_max_ns: int) -> str:
        """The key of an existing object of another stream from between ``back_max`` and ``back_min`` ago."""
        slot_ns = self.ctx.slot_ns
        for _ in range(12):
            back = back_min_ns + int(self.rng.random() * (back_max_ns - back_min_ns))
            slot = (self.origin_ns - back) // slot_ns
            count = self.ctx.count(stream, self.facility, slot)
            if count:
                return f"{self.facility.code}{tag}{slot:07d}{self.rng.randrange(count):03d}"
        return f"{self.facility.code}{tag}{(self.origin_ns - back_max_ns) // slot_ns:07d}000"

    # -- random shapes -----------------------------------------------------------------------------
    def lognormal_ns(self, median_s: float, sigma: float, cap_s: float | None = None) -> int:
        seconds = median_s * math.exp(self.rng.gauss(0.0, sigma))
        if cap_s is not None:
            seconds = min(seconds, cap_s)
        return int(seconds * NS)

    def uniform_ns(self, low_s: float, high_s: float) -> int:
        return int((low_s + (high_s - low_s) * self.rng.random()) * NS)

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def pick(self, weighted: tuple[tuple[str, float], ...]) -> str:
        point = self.rng.random() * sum(w for _, w in weighted)
        for value, weight in weighted:
            point -= weight
            if point < 0:
                return value
        return weighted[-1][0]

    def money(self, median: float, sigma: float) -> float:
        return round(median * math.exp(self.rng.gauss(0.0, sigma)), 2)

    # -- recording ---------------------------------------------------------------------------------
    def keep(self, start_ns: int) -> bool:
        return start_ns >= self.ctx.history_start_ns

    def span(  # noqa: PLR0917 - a span's fields, in SpanSpec's order
        self,
        trace: int,
        span: int,
        parent: int,
        name: str,
        service: str,
        kind: SpanKindName,
        start_ns: int,
        end_ns: int,
        attributes: dict[str, AttributeValue],
        *,
        error: str | None = None,
        links: tuple[tuple[int, int], ...] = (),
        events: tuple[EventSpec, ...] = (),
    ) -> None:
        if start_ns >= self.ctx.history_start_ns:
            self.spans.append(
                SpanSpec(
                    trace,
                    span,
                    parent,
                    name,
                    service,
                    kind,
                    start_ns,
                    end_ns,
                    attributes,
                    error,
                    links,
                    events,
                )
            )

    def hop(self, queue: str, published_ns: int, consumed_ns: int, acked_ns: int) -> None:
        self.hops.append(QueueHop(queue, published_ns, consumed_ns, acked_ns))

    @property
    def effects(self) -> Effects:
        return self.ctx.effects


def hc(
    workflow: str,
    stage: str | None,
    system: str,
    facility: Facility,
    *,
    message_type: str | None = None,
    service_line: str | None = None,
    amount: float | None = None,
    keys: Mapping[str, AttributeValue] | None = None,
    **more: AttributeValue | None,
) -> dict[str, AttributeValue]:
    """The business attributes of a span (``hc.*``).

    ``keys`` are added as given; keyword extras are spelled ``hc_key_charge=`` for ``hc.key.charge``.
    """
    attrs: dict[str, AttributeValue] = {
        "hc.workflow": workflow,
        "hc.system": system,
        "hc.facility": facility.name,
    }
    if stage is not None:
        attrs["hc.stage"] = stage
    if message_type is not None:
        attrs["hc.message.type"] = message_type
    if service_line is not None:
        attrs["hc.service_line"] = service_line
    if amount is not None:
        attrs["hc.amount"] = amount
    for name, value in more.items():
        if value is not None:
            attrs[name.replace("_", ".") if name.startswith("hc_") else name] = value
    if keys:
        attrs.update(keys)
    return attrs


def messaging(queue: str, operation: str, message_id: str) -> dict[str, AttributeValue]:
    """OpenTelemetry messaging attributes for a hop through one of the engine's queues."""
    return {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": queue,
        "messaging.operation.type": operation,
        "messaging.operation.name": "publish" if operation == "publish" else "process",
        "messaging.message.id": message_id,
        "messaging.rabbitmq.destination.routing_key": queue,
        "server.address": f"{BROKER}.lakeview.example",
    }


def http_client(method: str, host: str, path: str, status: int) -> dict[str, AttributeValue]:
    return {
        "http.request.method": method,
        "url.full": f"https://{host}{path}",
        "server.address": host,
        "server.port": 443,
        "http.response.status_code": status,
    }


def http_server(method: str, route: str, status: int) -> dict[str, AttributeValue]:
    return {
        "http.request.method": method,
        "http.route": route,
        "url.path": route,
        "url.scheme": "https",
        "http.response.status_code": status,
    }


def queue_hop(
    j: Journey,
    queue: str,
    *,
    producer: tuple[int, int, int, str, str],
    consumer_name: str,
    consumer_service: str,
    published_ns: int,
    consumed_ns: int,
    producer_attrs: dict[str, AttributeValue],
    consumer_attrs: dict[str, AttributeValue],
    consumer_error: str | None = None,
    consumer_ms: float = 15.0,
    producer_links: tuple[tuple[int, int], ...] = (),
) -> tuple[int, int, int, int]:
    """A producer span, its message through ``queue`` and the consumer span that links back to it.

    ``producer`` is (trace, span, parent, name, service). The consumer starts its own trace with a
    span link to the producer (the OpenTelemetry messaging convention for a queue hop) and shares
    ``messaging.message.id`` with it. Returns the consumer's (trace, span, start, end).
    """
    assert queue in QUEUES, queue
    p_trace, p_span, p_parent, p_name, p_service = producer
    message_id = f"{queue}-{p_span:016x}"
    publish_end = published_ns + j.lognormal_ns(0.002, 0.4)
    consumed_ns = max(consumed_ns, publish_end + 1000)  # delivered after the publish completes
    c_trace, c_span = j.trace(), j.sid()
    consumer_end = consumed_ns + j.lognormal_ns(consumer_ms / 1000, 0.5)
    j.span(
        p_trace,
        p_span,
        p_parent,
        p_name,
        p_service,
        "producer",
        published_ns,
        publish_end,
        {**producer_attrs, **messaging(queue, "publish", message_id)},
        links=producer_links,
    )
    j.span(
        c_trace,
        c_span,
        0,
        consumer_name,
        consumer_service,
        "consumer",
        consumed_ns,
        consumer_end,
        {**consumer_attrs, **messaging(queue, "process", message_id)},
        error=consumer_error,
        links=((p_trace, p_span),),
    )
    j.hop(queue, publish_end, consumed_ns, consumer_end)
    return c_trace, c_span, consumed_ns, consumer_end


def queue_latency_ns(j: Journey) -> int:
    """Healthy broker latency between publish and delivery: tens of milliseconds, rarely a second."""
    return j.lognormal_ns(0.04, 0.8, cap_s=5.0)


__all__ = [
    "MS",
    "Context",
    "CountFn",
    "Journey",
    "hc",
    "http_client",
    "http_server",
    "messaging",
    "queue_hop",
    "queue_latency_ns",
]

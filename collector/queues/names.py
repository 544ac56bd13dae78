"""The standard queue metric names and attributes (the contract with the SLA engine and dashboard).

Every source (pollers, engine-pushed OTLP gauges, traces) writes the same names so one SLA or chart
covers a queue whatever watches it. ``depth`` is what waits for delivery (RabbitMQ "ready", a Redis
group's lag, a JetStream consumer's pending); ``unacked`` is what was delivered and not yet
acknowledged; ``oldest_age_seconds`` covers both (the oldest message not yet acknowledged).
"""

from __future__ import annotations

DEPTH = "queue.depth"
UNACKED = "queue.unacked"
CONSUMERS = "queue.consumers"
PUBLISH_RATE = "queue.publish_rate"
DELIVER_RATE = "queue.deliver_rate"
OLDEST_AGE = "queue.oldest_age_seconds"
STUCK = "queue.stuck"
LATENCY = "queue.latency_seconds"
PRESENT = "queue.present"
POLLER_UP = "queue.poller_up"
# Broker-specific extras, same prefix so they sit with the others.
REDELIVERED = "queue.redelivered"
STREAM_LENGTH = "queue.stream_length"
PENDING_IDLE = "queue.pending_idle_seconds"
CONSUMERS_REGISTERED = "queue.consumers_registered"

UNITS: dict[str, str] = {
    DEPTH: "{message}",
    UNACKED: "{message}",
    CONSUMERS: "{consumer}",
    CONSUMERS_REGISTERED: "{consumer}",
    PUBLISH_RATE: "{message}/s",
    DELIVER_RATE: "{message}/s",
    OLDEST_AGE: "s",
    STUCK: "1",
    LATENCY: "s",
    PRESENT: "1",
    POLLER_UP: "1",
    REDELIVERED: "{message}",
    STREAM_LENGTH: "{message}",
    PENDING_IDLE: "s",
}

#: Attribute keys on every queue sample.
ATTR_QUEUE = "queue"
ATTR_BROKER = "broker"
ATTR_SYSTEM = "hc.system"
ATTR_POLLER = "poller"

#: ``service_name`` of the rows Vitals derives itself (polled and trace-derived samples).
SERVICE_NAME = "vitals-queues"

__all__ = [
    "ATTR_BROKER",
    "ATTR_POLLER",
    "ATTR_QUEUE",
    "ATTR_SYSTEM",
    "CONSUMERS",
    "CONSUMERS_REGISTERED",
    "DELIVER_RATE",
    "DEPTH",
    "LATENCY",
    "OLDEST_AGE",
    "PENDING_IDLE",
    "POLLER_UP",
    "PRESENT",
    "PUBLISH_RATE",
    "REDELIVERED",
    "SERVICE_NAME",
    "STREAM_LENGTH",
    "STUCK",
    "UNACKED",
    "UNITS",
]

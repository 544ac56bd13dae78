"""Queue collector: depth, age and stuck-ness of the queues integration runs on.

Pollers sample brokers (RabbitMQ, Redis Streams, NATS JetStream) and engine message stores (SQL)
on their own schedules; engine-pushed OTLP queue gauges are renamed to the same standard names; and
producer-to-consumer latency per queue is derived from the traces. Everything lands in
``metric_points`` under the names in :mod:`collector.queues.names`.
"""

from __future__ import annotations

from collector.queues.config import PollersConfig, load_pollers
from collector.queues.latency import LatencyJoiner, MinuteWindows, percentile
from collector.queues.mapping import map_metric
from collector.queues.poller import Poller, PollResult
from collector.queues.samples import QueueReading, QueueSample, derive
from collector.queues.source import InMemorySource, QueueSource, Snapshot
from collector.queues.stuck import StuckPoint, is_stuck
from collector.queues.transform import QueueMetricTransform

__all__ = [
    "InMemorySource",
    "LatencyJoiner",
    "MinuteWindows",
    "PollResult",
    "Poller",
    "PollersConfig",
    "QueueMetricTransform",
    "QueueReading",
    "QueueSample",
    "QueueSource",
    "Snapshot",
    "StuckPoint",
    "derive",
    "is_stuck",
    "load_pollers",
    "map_metric",
    "percentile",
]

"""Queue gauges pushed over OTLP by engines and collectors, renamed to Vitals' standard names (pure).

Many estates already export queue metrics: the OpenTelemetry Collector's ``rabbitmq`` and
``kafkametrics`` receivers, Prometheus exporters scraped by a collector, or an engine's own gauges.
:func:`map_metric` recognises those names and says which standard name and attributes they become;
:class:`QueueMetricTransform` applies it to ``metric_points`` rows in the OTLP receiver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from collector.queues import names


@dataclass(frozen=True)
class Rule:
    """How one foreign metric becomes a standard one."""

    target: str
    broker: str
    #: Attribute keys (point first, then resource) holding the queue name, in order of preference.
    queue_keys: tuple[str, ...]
    #: Foreign attribute key -> Vitals label kept on the series (vhost, group, consumer...).
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Only points whose attributes match these values (e.g. ``state: ready``).
    when: Mapping[str, str] = field(default_factory=dict)
    #: A cumulative counter: the standard metric is its per-second rate.
    rate: bool = False


_RABBIT_OTEL = ("rabbitmq.queue.name",)
_RABBIT_OTEL_LABELS = {"rabbitmq.vhost.name": "vhost"}
_RABBIT_PROM_LABELS = {"vhost": "vhost"}
_KAFKA_LABELS = {"group": "group"}
_NATS_LABELS = {"consumer_name": "consumer"}
_REDIS_LABELS = {"group": "group"}

#: Foreign metric name -> rules (first whose ``when`` matches wins).
RULES: dict[str, tuple[Rule, ...]] = {
    # OpenTelemetry Collector, rabbitmqreceiver (queue name is a resource attribute).
    "rabbitmq.message.current": (
        Rule(names.DEPTH, "rabbitmq", _RABBIT_OTEL, _RABBIT_OTEL_LABELS, {"state": "ready"}),
        Rule(names.UNACKED, "rabbitmq", _RABBIT_OTEL, _RABBIT_OTEL_LABELS, {"state": "unacknowledged"}),
    ),
    "rabbitmq.consumer.count": (Rule(names.CONSUMERS, "rabbitmq", _RABBIT_OTEL, _RABBIT_OTEL_LABELS),),
    "rabbitmq.message.published": (
        Rule(names.PUBLISH_RATE, "rabbitmq", _RABBIT_OTEL, _RABBIT_OTEL_LABELS, rate=True),
    ),
    "rabbitmq.message.delivered": (
        Rule(names.DELIVER_RATE, "rabbitmq", _RABBIT_OTEL, _RABBIT_OTEL_LABELS, rate=True),
    ),
    # RabbitMQ's own Prometheus plugin (per-object metrics), scraped by a collector.
    "rabbitmq_queue_messages_ready": (Rule(names.DEPTH, "rabbitmq", ("queue",), _RABBIT_PROM_LABELS),),
    "rabbitmq_detailed_queue_messages_ready": (
        Rule(names.DEPTH, "rabbitmq", ("queue",), _RABBIT_PROM_LABELS),
    ),
    "rabbitmq_queue_messages_unacked": (Rule(names.UNACKED, "rabbitmq", ("queue",), _RABBIT_PROM_LABELS),),
    "rabbitmq_detailed_queue_messages_unacked": (
        Rule(names.UNACKED, "rabbitmq", ("queue",), _RABBIT_PROM_LABELS),
    ),
    "rabbitmq_queue_consumers": (Rule(names.CONSUMERS, "rabbitmq", ("queue",), _RABBIT_PROM_LABELS),),
    "rabbitmq_detailed_queue_consumers": (
        Rule(names.CONSUMERS, "rabbitmq", ("queue",), _RABBIT_PROM_LABELS),
    ),
    # OpenTelemetry Collector, kafkametricsreceiver: a group's lag summed over a topic's partitions.
    "kafka.consumer_group.lag_sum": (Rule(names.DEPTH, "kafka", ("topic",), _KAFKA_LABELS),),
    # kafka_exporter (Prometheus).
    "kafka_consumergroup_lag_sum": (Rule(names.DEPTH, "kafka", ("topic",), {"consumergroup": "group"}),),
    # prometheus-nats-exporter, JetStream consumers.
    "jetstream_consumer_num_pending": (Rule(names.DEPTH, "nats", ("stream_name",), _NATS_LABELS),),
    "jetstream_consumer_num_ack_pending": (Rule(names.UNACKED, "nats", ("stream_name",), _NATS_LABELS),),
    "jetstream_consumer_num_redelivered": (Rule(names.REDELIVERED, "nats", ("stream_name",), _NATS_LABELS),),
    # redis_exporter, streams.
    "redis_stream_group_lag": (Rule(names.DEPTH, "redis", ("stream",), _REDIS_LABELS),),
    "redis_stream_group_messages_pending": (Rule(names.UNACKED, "redis", ("stream",), _REDIS_LABELS),),
}

#: Keys that may name the queue on a metric that already has a standard ``queue.*`` name.
STANDARD_QUEUE_KEYS = ("queue", "messaging.destination.name")


@dataclass(frozen=True)
class Mapped:
    name: str
    attributes: dict[str, Any]
    rate: bool = False


def _lookup(keys: tuple[str, ...], *sources: Mapping[str, Any]) -> Any:
    for source in sources:
        for key in keys:
            value = source.get(key)
            if value not in (None, ""):
                return value
    return None


def map_metric(
    name: str, attributes: Mapping[str, Any], resource: Mapping[str, Any] | None = None
) -> Mapped | None:
    """The standard name and attributes for a pushed metric, or None when it is not a queue metric.

    Standard names pushed as-is (``queue.depth`` from an engine) keep their name; they get the
    ``queue`` attribute from ``messaging.destination.name`` when only that is set, and ``broker``
    from ``messaging.system``.
    """
    resource = resource or {}
    if name.startswith("queue.") and name in names.UNITS:
        queue = _lookup(STANDARD_QUEUE_KEYS, attributes, resource)
        if queue is None:
            return None
        attrs = dict(attributes)
        attrs[names.ATTR_QUEUE] = str(queue)
        broker = attrs.get(names.ATTR_BROKER) or _lookup(("messaging.system",), attributes, resource)
        if broker is not None:
            attrs[names.ATTR_BROKER] = str(broker)
        system = attrs.get(names.ATTR_SYSTEM) or resource.get(names.ATTR_SYSTEM)
        if system is not None:
            attrs[names.ATTR_SYSTEM] = str(system)
        return Mapped(name, attrs)
    for rule in RULES.get(name, ()):
        if rule.when and any(str(attributes.get(k)) != v for k, v in rule.when.items()):
            continue
        queue = _lookup(rule.queue_keys, attributes, resource)
        if queue is None:
            return None
        mapped: dict[str, Any] = {names.ATTR_QUEUE: str(queue), names.ATTR_BROKER: rule.broker}
        for foreign, label in rule.labels.items():
            value = _lookup((foreign,), attributes, resource)
            if value is not None:
                mapped[label] = str(value)
        system = _lookup((names.ATTR_SYSTEM,), attributes, resource)
        if system is not None:
            mapped[names.ATTR_SYSTEM] = str(system)
        return Mapped(rule.target, mapped, rule.rate)
    return None


__all__ = ["RULES", "STANDARD_QUEUE_KEYS", "Mapped", "Rule", "map_metric"]

from __future__ import annotations

import orjson
import pytest

from collector.queues import names
from collector.queues.mapping import map_metric
from collector.queues.transform import QueueMetricTransform
from tests.support.factories import metric_row


def test_otel_collector_rabbitmq_receiver_names_map_by_state() -> None:
    resource = {"rabbitmq.queue.name": "charges-outbound", "rabbitmq.vhost.name": "/", "hc.system": "engine"}
    ready = map_metric("rabbitmq.message.current", {"state": "ready"}, resource)
    unacked = map_metric("rabbitmq.message.current", {"state": "unacknowledged"}, resource)
    assert ready is not None and ready.name == names.DEPTH
    assert ready.attributes == {
        "queue": "charges-outbound",
        "broker": "rabbitmq",
        "vhost": "/",
        "hc.system": "engine",
    }
    assert unacked is not None and unacked.name == names.UNACKED
    consumers = map_metric("rabbitmq.consumer.count", {}, resource)
    assert consumers is not None and consumers.name == names.CONSUMERS
    published = map_metric("rabbitmq.message.published", {}, resource)
    assert published is not None and published.name == names.PUBLISH_RATE and published.rate


def test_kafka_lag_nats_and_prometheus_style_names_map_too() -> None:
    lag = map_metric("kafka.consumer_group.lag_sum", {"group": "billing", "topic": "charges"})
    assert lag is not None and (lag.name, lag.attributes["queue"], lag.attributes["group"]) == (
        names.DEPTH,
        "charges",
        "billing",
    )
    js = map_metric("jetstream_consumer_num_ack_pending", {"stream_name": "CLAIMS", "consumer_name": "w"})
    assert js is not None and js.name == names.UNACKED and js.attributes["consumer"] == "w"
    prom = map_metric("rabbitmq_queue_messages_ready", {"queue": "adt-inbound", "vhost": "/"})
    assert prom is not None and prom.name == names.DEPTH and prom.attributes["queue"] == "adt-inbound"


def test_standard_names_keep_their_name_and_gain_queue_and_broker_from_messaging_attributes() -> None:
    mapped = map_metric(
        "queue.depth", {"messaging.destination.name": "gl-postings", "messaging.system": "rabbitmq"}
    )
    assert mapped is not None and mapped.name == names.DEPTH
    assert mapped.attributes["queue"] == "gl-postings" and mapped.attributes["broker"] == "rabbitmq"


def test_unrelated_or_unattributable_metrics_are_not_mapped() -> None:
    assert map_metric("http.server.duration", {}) is None
    assert map_metric("rabbitmq.message.current", {"state": "ready"}, {}) is None  # no queue name
    assert map_metric("rabbitmq.message.current", {"state": "weird"}, {"rabbitmq.queue.name": "q"}) is None
    assert map_metric("queue.depth", {}) is None


def test_transform_renames_rows_fills_the_queue_column_and_recomputes_the_series() -> None:
    transform = QueueMetricTransform()
    row = metric_row(name="rabbitmq.message.current", value=42, time_s=100, attributes={"state": "ready"})
    row["resource_attributes"] = orjson.dumps({"rabbitmq.queue.name": "adt-inbound"}).decode()
    out = transform(row)
    assert out is not None
    assert out["name"] == names.DEPTH and out["value"] == 42 and out["queue"] == "adt-inbound"
    attrs = orjson.loads(out["attributes"])
    assert attrs == {"queue": "adt-inbound", "broker": "rabbitmq"}
    assert "series_id" not in out  # the collector recomputes it for the new name and attributes
    assert transform(metric_row(name="http.server.duration", value=1, time_s=1)) is None


def test_cumulative_counters_become_rates_after_the_first_point() -> None:
    transform = QueueMetricTransform()
    resource = orjson.dumps({"rabbitmq.queue.name": "q"}).decode()

    def point(value: float, t: float) -> dict[str, object]:
        row = metric_row(name="rabbitmq.message.published", value=value, time_s=t, kind="sum")
        row["resource_attributes"] = resource
        return row

    assert transform(point(100, 10)) is None  # first point: kept as it was
    second = transform(point(160, 40))
    assert second is not None and second["name"] == names.PUBLISH_RATE
    assert second["value"] == pytest.approx(2.0) and second["kind"] == "gauge"
    assert transform(point(5, 70)) is None  # counter reset: nothing to difference

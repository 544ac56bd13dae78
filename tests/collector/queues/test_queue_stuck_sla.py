"""End to end on the real broker: a consumer stops, the poller's samples turn ``queue.stuck`` on,
and the starter ``queue-stuck`` SLA (evaluated by the SLA engine over the store) breaches for
that queue's slice while another queue stays ok."""

from __future__ import annotations

import uuid
from pathlib import Path

import pika
import pytest
from sqlalchemy.engine import Engine

from collector.queues import names
from collector.queues.config import RabbitMQPoller
from collector.queues.poller import Poller
from collector.queues.rabbitmq import rabbitmq_source
from tests.collector.queues.conftest import ManualClock, StoreWriter, stored
from tests.support.services import require
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.kernel.units import NS

pytestmark = pytest.mark.brokers

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2f"


def test_stop_consuming_breaches_the_starter_queue_stuck_sla(sqlite_engine: Engine) -> None:
    require("rabbitmq")
    from slas.engine import SlaEngine
    from slas.loading import load_sla_path
    from slas.source import SqlTelemetrySource
    from slas.store import SqlStateStore

    stalled, healthy = (f"vitals-test-{uuid.uuid4().hex[:8]}-{n}" for n in ("charges", "gl"))
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    ch = connection.channel()
    ch.confirm_delivery()
    for queue in (stalled, healthy):
        ch.queue_declare(queue)
    consumer_connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    consumer = consumer_connection.channel()
    tag = consumer.basic_consume(stalled, lambda c, m, _p, _b: c.basic_ack(m.delivery_tag))
    consumer.basic_consume(healthy, lambda c, m, _p, _b: None)  # attached all along, nothing to do
    clock = ManualClock()
    config = RabbitMQPoller.model_validate(
        {
            "type": "rabbitmq",
            "name": "rabbit",
            "amqp_url": AMQP,
            "queues": [stalled, healthy],
            "interval": "1m",
        }
    )
    poller = Poller(config, rabbitmq_source(config), clock=clock)
    write = StoreWriter(sqlite_engine)
    try:
        write(list(poller.poll().rows))
        consumer.basic_cancel(tag)  # the charge interface stops consuming
        for _ in range(25):
            ch.basic_publish("", stalled, b"{}")
            clock.advance(60)
            write(list(poller.poll().rows))
    finally:
        for queue in (stalled, healthy):
            ch.queue_delete(queue)
        consumer_connection.close()
        connection.close()
    stuck = [p["value"] for p in stored(sqlite_engine, names.STUCK, queue=stalled)]
    assert stuck == [0.0] * 11 + [1.0] * 15  # on 10 minutes after the consumer left

    slas = [
        s
        for s in load_sla_path(Path(STARTER_CONFIG_DIR) / "slas" / "queues.yaml").slas
        if s.id == "queue-stuck"
    ]
    engine = SlaEngine(
        slas,
        SqlStateStore(sqlite_engine),
        SqlTelemetrySource(sqlite_engine),
        clock=lambda: int(clock.now * NS),
    )
    engine.catch_up()
    evaluations = {e.slice: e for e in engine.evaluate(int(clock.now * NS), only_ready=False)}
    assert evaluations[f"queue={stalled}"].status == "breach"
    assert evaluations[f"queue={healthy}"].status == "ok"

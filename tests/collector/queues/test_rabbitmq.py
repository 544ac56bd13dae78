"""The RabbitMQ poller against the real broker on this machine (AMQP 5672, management 15672)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest

from collector.queues import names
from collector.queues.config import RabbitMQPoller
from collector.queues.poller import Poller, PollResult
from collector.queues.rabbitmq import rabbitmq_source
from tests.collector.queues.conftest import ManualClock, wait_for
from tests.support.services import free_port, require

pytestmark = pytest.mark.brokers

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2f"
MANAGEMENT = "http://guest:guest@127.0.0.1:15672"


_open: list[Any] = []


@pytest.fixture
def queue() -> Iterator[str]:
    require("rabbitmq")
    name = f"vitals-test-{uuid.uuid4().hex[:10]}"
    yield name
    while _open:
        connection = _open.pop()
        if connection.is_open:
            connection.close()
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    connection.channel().queue_delete(name)
    connection.close()


def channel() -> Any:
    """A channel on its own connection (closed by the ``queue`` fixture); publishes are confirmed,
    so a message is in the queue when ``basic_publish`` returns."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    _open.append(connection)
    ch = connection.channel()
    ch.confirm_delivery()
    return ch


def publish(ch: Any, queue: str, stamps: list[int]) -> None:
    for stamp in stamps:
        ch.basic_publish("", queue, b"{}", pika.BasicProperties(timestamp=stamp, delivery_mode=2))


def poller(queue: str, clock: ManualClock, **overrides: Any) -> Poller:
    fields: dict[str, Any] = {
        "type": "rabbitmq",
        "name": "rabbit",
        "management_url": MANAGEMENT,
        "queues": [queue],
    }
    config = RabbitMQPoller.model_validate({**fields, **overrides})
    return Poller(config, rabbitmq_source(config), clock=clock)


def sample_of(result: PollResult, queue: str) -> dict[str, float]:
    assert result.ok, result.error
    return next(dict(s.values) for s in result.samples if s.queue == queue)


def settled(p: Poller, queue: str, **expected: float) -> dict[str, float]:
    """Poll until the management API's statistics (refreshed every few seconds) show ``expected``."""

    def check() -> dict[str, float] | None:
        values = sample_of(p.poll(), queue)
        return values if all(values.get(k) == v for k, v in expected.items()) else None

    result: dict[str, float] = wait_for(check, timeout=60, interval=0.5)
    return result


def test_management_samples_equal_what_the_broker_holds_and_age_grows(queue: str, clock: ManualClock) -> None:
    require("rabbitmq-management")
    ch = channel()
    ch.queue_declare(queue, durable=True)
    base = int(clock.now) - 600
    publish(ch, queue, [base + i for i in range(10)])
    worker = channel()
    for _ in range(3):  # consumed and acknowledged
        method, _props, _body = worker.basic_get(queue, auto_ack=False)
        worker.basic_ack(method.delivery_tag)
    for _ in range(2):  # delivered, left unacknowledged
        worker.basic_get(queue, auto_ack=False)
    p = poller(queue, clock)
    values = settled(p, queue, **{names.DEPTH: 5, names.UNACKED: 2, names.CONSUMERS: 0})
    # The head is the 4th message (first three acked), unacked but not yet acknowledged.
    assert values[names.OLDEST_AGE] == clock.now - (base + 3)
    clock.advance(120)
    later = sample_of(p.poll(), queue)
    assert later[names.OLDEST_AGE] == values[names.OLDEST_AGE] + 120

    # A consumer with prefetch 1 holds one more message unacked.
    consumer = channel()
    consumer.basic_qos(prefetch_count=1)
    consumer.basic_consume(queue, lambda *a: None, auto_ack=False)
    consumer.connection.process_data_events(time_limit=0)
    settled(p, queue, **{names.DEPTH: 4, names.UNACKED: 3, names.CONSUMERS: 1})


def test_publish_and_deliver_rates_are_counter_differences_over_the_clock(
    queue: str, clock: ManualClock
) -> None:
    require("rabbitmq-management")
    ch = channel()
    ch.queue_declare(queue)
    config = RabbitMQPoller.model_validate(
        {"type": "rabbitmq", "name": "rabbit", "management_url": MANAGEMENT, "queues": [queue]}
    )
    probe = rabbitmq_source(config)

    def stats_show(published: float, delivered: float, depth: float) -> bool:
        # The management API refreshes message counters and queue depth at different moments.
        reading = probe.fetch().readings[0]
        return (reading.published_total, reading.delivered_total, reading.depth) == (
            published,
            delivered,
            depth,
        )

    p = poller(queue, clock)
    publish(ch, queue, [int(clock.now)] * 4)
    wait_for(lambda: stats_show(4, 0, 4), timeout=60)
    sample_of(p.poll(), queue)  # the first poll only sets the baseline
    publish(ch, queue, [int(clock.now)] * 6)
    for _ in range(3):
        ch.basic_get(queue, auto_ack=True)
    wait_for(lambda: stats_show(10, 3, 7), timeout=60)
    clock.advance(60)
    values = sample_of(p.poll(), queue)
    assert values[names.PUBLISH_RATE] == pytest.approx(6 / 60)
    assert values[names.DELIVER_RATE] == pytest.approx(3 / 60)
    assert values[names.DEPTH] == 7


def test_stop_consuming_turns_stuck_on_after_stuck_after(queue: str, clock: ManualClock) -> None:
    # Over AMQP (no statistics delay), so each simulated minute is one immediate poll.
    ch = channel()
    ch.queue_declare(queue)
    p = poller(queue, clock, management_url=None, amqp_url=AMQP, stuck_after="10m", interval="1m")
    consumer = channel()
    tag = consumer.basic_consume(queue, lambda c, m, _p, _b: c.basic_ack(m.delivery_tag), auto_ack=False)
    values = sample_of(p.poll(), queue)
    assert (values[names.CONSUMERS], values[names.STUCK]) == (1, 0)
    consumer.basic_cancel(tag)  # the charge interface stalls: nobody consumes any more
    stuck = []
    for minute in range(1, 13):
        publish(ch, queue, [int(clock.now)])
        clock.advance(60)
        values = sample_of(p.poll(), queue)
        assert (values[names.DEPTH], values[names.CONSUMERS]) == (minute, 0)
        stuck.append(values[names.STUCK])
    # The first zero-consumer sample is the one at minute 1; ten minutes later the queue is stuck.
    assert stuck == [0] * 10 + [1, 1]
    # A consumer comes back and drains the queue: no longer stuck.
    consumer.basic_consume(queue, lambda c, m, _p, _b: c.basic_ack(m.delivery_tag), auto_ack=False)
    clock.advance(60)

    def drained() -> dict[str, float] | None:
        consumer.connection.process_data_events(time_limit=0.1)
        values = sample_of(p.poll(), queue)
        return values if values[names.DEPTH] == 0 else None

    assert wait_for(drained)[names.STUCK] == 0


def test_amqp_only_gives_depth_and_consumers_and_reports_a_missing_queue(
    queue: str, clock: ManualClock
) -> None:
    ch = channel()
    ch.queue_declare(queue)
    publish(ch, queue, [int(clock.now) - 30] * 3)
    ghost = f"{queue}-absent"
    config = RabbitMQPoller.model_validate(
        {"type": "rabbitmq", "name": "amqp", "amqp_url": AMQP, "queues": [queue, ghost], "oldest_age": "peek"}
    )
    p = Poller(config, rabbitmq_source(config), clock=clock)
    result = p.poll()
    values = sample_of(result, queue)
    assert (values[names.DEPTH], values[names.CONSUMERS]) == (3, 0)
    assert values[names.OLDEST_AGE] == 30  # peeked head message, put back
    assert names.UNACKED not in values
    assert result.missing == (ghost,)
    # Peeking put the message back: still three ready.
    again = sample_of(p.poll(), queue)
    assert again[names.DEPTH] == 3


def test_peek_through_the_api_finds_the_age_of_a_quorum_queue(queue: str, clock: ManualClock) -> None:
    require("rabbitmq-management")
    ch = channel()
    ch.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    publish(ch, queue, [int(clock.now) - 90, int(clock.now) - 10])
    head_only = poller(queue, clock)
    values = settled(head_only, queue, **{names.DEPTH: 2})
    assert names.OLDEST_AGE not in values  # quorum queues report no head timestamp
    peeking = poller(queue, clock, oldest_age="peek")
    assert sample_of(peeking.poll(), queue)[names.OLDEST_AGE] == 90


def test_a_queue_deleted_between_polls_is_reported_as_disappeared(queue: str, clock: ManualClock) -> None:
    require("rabbitmq-management")
    ch = channel()
    ch.queue_declare(queue)
    p = poller(queue, clock, queues=[f"{queue}*"])
    wait_for(lambda: any(s.queue == queue for s in p.poll().samples), timeout=30)
    ch.queue_delete(queue)
    result = wait_for(lambda: (r := p.poll()).disappeared and r, timeout=30)
    assert result.disappeared == (queue,)


def test_management_api_on_a_closed_port_is_a_recorded_error(clock: ManualClock) -> None:
    config = RabbitMQPoller.model_validate(
        {
            "type": "rabbitmq",
            "name": "down",
            "management_url": f"http://127.0.0.1:{free_port()}",
            "timeout": "2s",
        }
    )
    errors: list[str] = []
    result = Poller(config, rabbitmq_source(config), clock=clock, on_error=errors.append).poll()
    assert not result.ok and "Connection refused" in (result.error or "")
    assert errors == ["down"]

"""The NATS JetStream poller against the real nats-server (JetStream enabled) on this machine."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerConfig, RetentionPolicy

from collector.queues import names
from collector.queues.config import NatsPoller
from collector.queues.jetstream import JetStreamSource
from collector.queues.poller import Poller, PollResult
from tests.collector.queues.conftest import ManualClock
from tests.support.services import free_port, require

pytestmark = pytest.mark.brokers

URL = "nats://127.0.0.1:4222"


def run(action: Callable[[Any], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        nc = await nats.connect(URL)
        try:
            return await action(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(main())


@pytest.fixture
def stream() -> Iterator[str]:
    require("nats")
    name = f"VITALS_TEST_{uuid.uuid4().hex[:10].upper()}"
    yield name

    async def delete(js: Any) -> None:
        await js.delete_stream(name)

    run(delete)


def poller(stream: str, clock: ManualClock, **overrides: object) -> Poller:
    config = NatsPoller.model_validate({"type": "nats", "name": "js", "streams": [stream], **overrides})
    return Poller(config, JetStreamSource(config), clock=clock)


def values(result: PollResult, stream: str, consumer: str | None) -> dict[str, float]:
    assert result.ok, result.error
    labels = (("consumer", consumer),) if consumer else ()
    return next(dict(s.values) for s in result.samples if s.queue == stream and s.labels == labels)


def test_consumer_samples_equal_what_jetstream_holds_and_age_grows(stream: str, clock: ManualClock) -> None:
    subject = f"{stream.lower()}.claims"

    async def setup(js: Any) -> list[float]:
        await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
        for i in range(10):
            await js.publish(subject, str(i).encode())
        await js.add_consumer(stream, ConsumerConfig(durable_name="worker", ack_wait=300))
        sub = await js.pull_subscribe(subject, durable="worker", stream=stream)
        got = await sub.fetch(4, timeout=5)
        await got[0].ack()  # one processed; three delivered, unacknowledged
        await got[1].nak(delay=600)  # redelivery requested later: still pending ack
        second = await js.get_msg(stream, seq=2)
        return [second.time.timestamp()]

    (oldest,) = run(setup)
    clock.now = time.time()
    p = poller(stream, clock)
    result = p.poll()
    worker = values(result, stream, "worker")
    assert worker[names.DEPTH] == 6  # not yet delivered
    assert worker[names.UNACKED] == 3
    assert worker[names.OLDEST_AGE] == pytest.approx(clock.now - oldest)
    assert values(result, stream, None)[names.STREAM_LENGTH] == 10
    clock.advance(45)
    assert values(p.poll(), stream, "worker")[names.OLDEST_AGE] == pytest.approx(
        worker[names.OLDEST_AGE] + 45
    )


def test_workqueue_stream_depth_redelivered_and_stuck_when_nothing_is_fetched(
    stream: str, clock: ManualClock
) -> None:
    subject = f"{stream.lower()}.jobs"

    async def setup(js: Any) -> None:
        await js.add_stream(name=stream, subjects=[subject], retention=RetentionPolicy.WORK_QUEUE)
        await js.add_consumer(stream, ConsumerConfig(durable_name="w", ack_wait=1, max_deliver=5))
        await js.publish(subject, b"x")
        sub = await js.pull_subscribe(subject, durable="w", stream=stream)
        (msg,) = await sub.fetch(1, timeout=5)
        await msg.nak()  # asks for redelivery
        (again,) = await sub.fetch(1, timeout=5)
        await again.ack()

    run(setup)
    p = poller(stream, clock, stuck_after="3m")
    first = values(p.poll(), stream, "w")
    assert first[names.REDELIVERED] == 0 and first[names.DEPTH] == 0

    async def publish(js: Any) -> None:
        await js.publish(subject, b"y")

    stuck = []
    for _ in range(5):
        run(publish)
        clock.advance(60)
        result = p.poll()
        stuck.append(values(result, stream, "w")[names.STUCK])
        assert values(result, stream, "w")[names.DELIVER_RATE] == 0
    assert stuck == [0, 0, 1, 1, 1]
    stream_level = values(result, stream, None)
    assert stream_level[names.DEPTH] == 5 and stream_level[names.OLDEST_AGE] >= 0


def test_nats_on_a_closed_port_is_a_recorded_error(clock: ManualClock) -> None:
    errors: list[str] = []
    config = NatsPoller.model_validate(
        {"type": "nats", "name": "down", "servers": [f"nats://127.0.0.1:{free_port()}"], "timeout": "2s"}
    )
    result = Poller(config, JetStreamSource(config), clock=clock, on_error=errors.append).poll()
    assert not result.ok and errors == ["down"]

"""The Redis Streams poller against the real Redis on this machine."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from collector.queues import names
from collector.queues.config import RedisPoller
from collector.queues.poller import Poller, PollResult
from collector.queues.redis_streams import RedisStreamsSource, id_time_s
from tests.collector.queues.conftest import ManualClock
from tests.support.services import free_port, require

pytestmark = pytest.mark.brokers


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    require("redis")
    c = redis.Redis()
    yield c
    c.close()


@pytest.fixture
def stream(client: redis.Redis) -> Iterator[str]:
    name = f"vitals-test:{uuid.uuid4().hex[:10]}"
    yield name
    client.delete(name)


def poller(pattern: str, clock: ManualClock, **overrides: object) -> Poller:
    config = RedisPoller.model_validate(
        {"type": "redis", "name": "streams", "streams": [pattern], **overrides}
    )
    return Poller(config, RedisStreamsSource(config), clock=clock)


def values(result: PollResult, stream: str, group: str | None) -> dict[str, float]:
    assert result.ok, result.error
    labels = (("group", group),) if group else ()
    return next(dict(s.values) for s in result.samples if s.queue == stream and s.labels == labels)


def test_group_samples_equal_what_redis_holds_and_age_grows(
    client: redis.Redis, stream: str, clock: ManualClock
) -> None:
    ids = [client.xadd(stream, {"n": i}) for i in range(10)]
    client.xgroup_create(stream, "billing", id="0")
    client.xgroup_create(stream, "audit", id="$")
    read = client.xreadgroup("billing", "worker-1", {stream: ">"}, count=4)
    assert isinstance(read, list)  # RESP2, the client's default protocol: [[stream, [(id, fields), ...]]]
    delivered: list[bytes] = [entry_id for entry_id, _fields in read[0][1]]
    client.xack(stream, "billing", delivered[0])  # one processed, three pending
    clock.now = time.time()  # not before the entries' own (server) timestamps
    p = poller(stream, clock)
    result = p.poll()
    billing = values(result, stream, "billing")
    assert billing[names.DEPTH] == 6  # lag: never delivered to the group
    assert billing[names.UNACKED] == 3  # pending entries list
    assert billing[names.CONSUMERS] == 1 and billing[names.CONSUMERS_REGISTERED] == 1
    oldest = id_time_s(ids[1])  # the oldest pending entry
    assert oldest is not None
    assert billing[names.OLDEST_AGE] == pytest.approx(clock.now - oldest)
    assert billing[names.PENDING_IDLE] >= 0
    assert values(result, stream, None)[names.STREAM_LENGTH] == 10
    audit = values(result, stream, "audit")
    assert (audit[names.DEPTH], audit[names.UNACKED], audit[names.OLDEST_AGE]) == (0, 0, 0)

    clock.advance(90)
    later = values(p.poll(), stream, "billing")
    assert later[names.OLDEST_AGE] == pytest.approx(billing[names.OLDEST_AGE] + 90)
    # Processing the pending ones moves the oldest unprocessed entry forward (younger).
    client.xack(stream, "billing", *delivered[1:])
    moved = values(p.poll(), stream, "billing")
    assert moved[names.UNACKED] == 0
    next_unprocessed = id_time_s(ids[4])
    assert next_unprocessed is not None
    assert moved[names.OLDEST_AGE] == pytest.approx(clock.now - next_unprocessed)


def test_deliver_rate_from_entries_read_and_stuck_when_reads_stop(
    client: redis.Redis, stream: str, clock: ManualClock
) -> None:
    client.xadd(stream, {"n": 0})
    client.xgroup_create(stream, "billing", id="0")
    p = poller(stream, clock, stuck_after="5m")
    values(p.poll(), stream, "billing")
    for _ in range(6):
        client.xadd(stream, {"n": 1})
    client.xreadgroup("billing", "w", {stream: ">"}, count=3)
    clock.advance(60)
    sample = values(p.poll(), stream, "billing")
    assert sample[names.DELIVER_RATE] == pytest.approx(3 / 60)
    assert sample[names.PUBLISH_RATE] == pytest.approx(6 / 60)
    # The worker stays registered but stops reading: consumers still 1, throughput 0.
    stuck = []
    for _ in range(7):
        client.xadd(stream, {"n": 2})
        clock.advance(60)
        stuck.append(values(p.poll(), stream, "billing")[names.STUCK])
    assert stuck == [0, 0, 0, 0, 1, 1, 1]


def test_consumers_idle_longer_than_active_within_do_not_count(
    client: redis.Redis, stream: str, clock: ManualClock
) -> None:
    client.xadd(stream, {"n": 0})
    client.xgroup_create(stream, "g", id="0")
    client.xgroup_createconsumer(stream, "g", "sleepy")
    # Redis measures idle itself; with active_within 0s nobody is active.
    sample = values(poller(stream, clock, active_within="0s").poll(), stream, "g")
    assert (sample[names.CONSUMERS], sample[names.CONSUMERS_REGISTERED]) == (0, 1)


def test_a_deleted_stream_is_reported_and_an_exact_name_missing_is_present_zero(
    client: redis.Redis, stream: str, clock: ManualClock
) -> None:
    client.xadd(stream, {"n": 0})
    p = poller(f"{stream}*", clock)
    assert any(s.queue == stream for s in p.poll().samples)
    client.delete(stream)
    assert p.poll().disappeared == (stream,)
    exact = poller(stream, clock).poll()
    assert exact.missing == (stream,)


def test_redis_on_a_closed_port_is_a_recorded_error(clock: ManualClock) -> None:
    errors: list[str] = []
    config = RedisPoller.model_validate(
        {"type": "redis", "name": "down", "url": f"redis://127.0.0.1:{free_port()}/0", "timeout": "2s"}
    )
    source = RedisStreamsSource(config)
    result = Poller(config, source, clock=clock, on_error=errors.append).poll()
    source.close()
    assert not result.ok and "ConnectionError" in (result.error or "")
    assert errors == ["down"]

"""``BufferPublisher`` without a server: what a request is answered, whatever JetStream does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import nats.errors
import nats.js.errors
import pytest

from collector.buffer import BufferSettings, decode
from collector.jetstream_buffer import BufferPublisher
from collector.rows import WriteBatch
from collector.writer import StoreError, WriterClosed, retryable
from tests.collector.test_buffer import batch


class FakeJetStream:
    """Answers each publish with the next of ``outcomes`` (an exception to raise, or None: a PubAck)."""

    def __init__(self, *outcomes: BaseException | None) -> None:
        self.outcomes = list(outcomes)
        self.published: list[tuple[bytes, dict[str, str]]] = []

    async def publish(self, subject: str, payload: bytes, **options: Any) -> object:
        self.published.append((payload, options["headers"]))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return object()


@pytest.fixture
def publisher() -> Iterator[BufferPublisher]:
    settings = BufferSettings.model_validate({"publish_timeout": "2s", "max_message": "64KiB"})
    running = BufferPublisher(settings, max_in_flight_bytes=1 << 20)
    running._loop.start()  # start() would connect; these tests hand it a fake JetStream instead
    yield running
    running.close(5)


def submit(publisher: BufferPublisher, rows: WriteBatch, weight: int = 100) -> BaseException | None:
    assert publisher.try_reserve(weight)
    finished = threading.Event()
    outcome: list[BaseException | None] = []

    def done(error: BaseException | None) -> None:
        outcome.append(error)
        finished.set()

    publisher.submit(rows, weight, done)
    assert finished.wait(10)
    assert publisher.in_flight_bytes == 0 and publisher.queue_depth == 0
    return outcome[0]


def test_a_batch_is_confirmed_once_every_message_has_its_puback(publisher: BufferPublisher) -> None:
    publisher._js = fake = FakeJetStream()
    rows = batch(600, text="q" * 200)
    assert submit(publisher, rows) is None
    assert len(fake.published) > 1  # split under max_message
    assert WriteBatch.concat(decode(payload) for payload, _ in fake.published).spans == rows.spans


def test_a_leader_election_is_ridden_out_under_one_message_id(publisher: BufferPublisher) -> None:
    publisher._js = fake = FakeJetStream(
        nats.js.errors.NoStreamResponseError(), nats.errors.NoRespondersError()
    )
    assert submit(publisher, batch(3)) is None
    assert len(fake.published) == 3
    assert len({headers["Nats-Msg-Id"] for _, headers in fake.published}) == 1
    assert publisher.failed_batches == 0


def test_no_puback_in_time_is_a_retryable_error(publisher: BufferPublisher) -> None:
    publisher._js = FakeJetStream(*[nats.js.errors.NoStreamResponseError() for _ in range(1000)])
    error = submit(publisher, batch(3))
    assert isinstance(error, StoreError) and retryable(error)
    assert "JetStream did not confirm" in str(error)
    assert publisher.failed_batches == 1


def test_a_timeout_is_a_retryable_error(publisher: BufferPublisher) -> None:
    publisher._js = FakeJetStream(nats.errors.TimeoutError())
    error = submit(publisher, batch(3))
    assert isinstance(error, StoreError) and retryable(error)


def test_a_row_too_large_for_a_message_is_refused_for_good(publisher: BufferPublisher) -> None:
    publisher._js = FakeJetStream()
    assert publisher.try_reserve(100)
    with pytest.raises(StoreError, match="cannot carry") as refused:
        publisher.submit(batch(1, text="x" * 100_000), 100, lambda error: None)
    assert not retryable(refused.value)
    assert publisher.in_flight_bytes == 0


def test_nothing_is_taken_once_closing(publisher: BufferPublisher) -> None:
    publisher._js = FakeJetStream()
    assert publisher.close(5)
    with pytest.raises(WriterClosed):
        publisher.submit(batch(1), 0, lambda error: None)

"""The buffer's writers without a server: acknowledged only after the commit, retried otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from collector.buffer import BufferSettings, encode
from collector.buffer_consumer import BufferConsumer
from collector.rows import WriteBatch, WriteResult
from collector.sink import InMemorySink
from collector.writer import GroupCommitWriter
from tests.collector.test_buffer import batch


class FakeMessage:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.acked = False
        self.naked: list[float | None] = []

    async def ack(self) -> None:
        self.acked = True

    async def nak(self, delay: float | None = None) -> None:
        self.naked.append(delay)


class FlakySink(InMemorySink):
    """Refuses every write while ``down`` (a database away)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def write(self, batch: WriteBatch) -> WriteResult:
        if self.down:
            raise ConnectionError("the database is away")
        return super().write(batch)


@pytest.fixture
def consumer() -> Iterator[BufferConsumer]:
    running = BufferConsumer(BufferSettings.model_validate({"retry_delay": "3s"}))
    registry = CollectorRegistry()
    running.stored_messages = Counter("stored", "", registry=registry)
    running.retried_messages = Counter("retried", "", registry=registry)
    yield running


@pytest.fixture
def sink() -> Iterator[FlakySink]:
    yield FlakySink()


def store(consumer: BufferConsumer, sink: FlakySink, messages: list[FakeMessage]) -> None:
    writer = GroupCommitWriter(sink, max_in_flight_bytes=1 << 30)
    writer.start()
    try:
        asyncio.run(consumer._store(writer, list(messages)))
    finally:
        writer.close(5)


def messages_of(rows: WriteBatch) -> list[FakeMessage]:
    return [FakeMessage(data) for data in encode(rows, 32 * 1024)]


def test_messages_are_acknowledged_after_their_commit(consumer: BufferConsumer, sink: FlakySink) -> None:
    messages = messages_of(batch(300, text="m" * 200))
    store(consumer, sink, messages)
    assert len(messages) > 1 and all(m.acked and not m.naked for m in messages)
    assert len(sink.spans) == 300 and len(sink.span_keys) == 150


def test_with_the_store_away_messages_stay_in_the_stream(consumer: BufferConsumer, sink: FlakySink) -> None:
    messages = messages_of(batch(10))
    sink.down = True
    store(consumer, sink, messages)
    assert not any(m.acked for m in messages) and all(m.naked == [3.0] for m in messages)
    assert consumer.retried_messages is not None and consumer.retried_messages._value.get() == len(messages)
    sink.down = False
    again = [FakeMessage(m.data) for m in messages]  # redelivered
    store(consumer, sink, again)
    assert all(m.acked for m in again) and len(sink.spans) == 10


def test_a_message_it_cannot_read_is_left_for_another_writer(
    consumer: BufferConsumer, sink: FlakySink
) -> None:
    unreadable = FakeMessage(b"\x09\x00garbage")
    good = messages_of(batch(2))
    store(consumer, sink, [unreadable, *good])
    assert unreadable.naked == [60.0] and not unreadable.acked
    assert all(m.acked for m in good) and len(sink.spans) == 2

"""Group commit, failure isolation and the in-flight budget, for both writers."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.redaction import RedactionPolicy, Redactor
from collector.rows import SPAN_INDEX, WriteBatch, WriteResult
from collector.sink import InMemorySink
from collector.spans import convert_spans
from collector.tables import spans
from collector.writer import Done, GroupCommitWriter, StoreError, WriterClosed, retryable
from collector.writer_process import ProcessWriter
from tests.collector.harness import wait_until
from tests.collector.otlp import T0, span, trace_request
from vitals.kernel.db import create_engine, migrate


def batch(n: int = 1, name: str = "op") -> WriteBatch:
    request = trace_request(*(span(name) for _ in range(n)))
    return convert_spans(request, Redactor(RedactionPolicy(), b"writer-secret-123456789"), T0).batch


class GatedSink(InMemorySink):
    """Holds every write until the test opens the gate, so requests pile up deterministically."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.sizes: list[int] = []

    def write(self, batch: WriteBatch) -> WriteResult:
        self.entered.set()
        self.gate.wait()
        self.sizes.append(len(batch.spans))
        return super().write(batch)


class Waiters:
    def __init__(self) -> None:
        self.results: list[BaseException | None] = []
        self.lock = threading.Lock()

    def done(self, error: BaseException | None) -> None:
        with self.lock:
            self.results.append(error)


def test_requests_waiting_during_a_commit_share_the_next_one() -> None:
    sink = GatedSink()
    writer = GroupCommitWriter(sink, max_in_flight_bytes=1 << 20)
    writer.start()
    waiters = Waiters()
    writer.submit(batch(1), 0, waiters.done)
    assert sink.entered.wait(10)  # the first commit is in progress...
    for _ in range(5):  # ...while five more requests arrive
        writer.submit(batch(2), 0, waiters.done)
    assert writer.queue_depth == 5 and writer.queued_rows == 10
    assert waiters.results == []  # nobody is answered before their commit
    sink.gate.set()
    wait_until(lambda: len(waiters.results) == 6)
    assert waiters.results == [None] * 6
    assert sink.sizes == [1, 10]  # two transactions for six requests
    assert writer.close(10)
    assert sink.closed


class PoisonSink(GatedSink):
    """Refuses any transaction that holds a span named "bad", as a database refuses bad rows."""

    def write(self, batch: WriteBatch) -> WriteResult:
        if any(row[SPAN_INDEX["name"]] == "bad" for row in batch.spans):
            self.entered.set()
            self.gate.wait()
            raise RuntimeError("refused by the database")
        return super().write(batch)


def test_a_refused_request_does_not_fail_the_others_in_its_transaction() -> None:
    sink = PoisonSink()
    writer = GroupCommitWriter(sink, max_in_flight_bytes=1 << 20)
    writer.start()
    waiters = Waiters()
    writer.submit(batch(1), 0, waiters.done)
    assert sink.entered.wait(10)
    outcomes: dict[str, BaseException | None] = {}

    def outcome(request: str) -> Done:
        def done(error: BaseException | None) -> None:
            outcomes.setdefault(request, error)

        return done

    writer.submit(batch(1, "good"), 0, outcome("first"))
    writer.submit(batch(1, "bad"), 0, outcome("second"))
    writer.submit(batch(1, "good"), 0, outcome("third"))
    sink.gate.set()
    wait_until(lambda: len(outcomes) == 3)
    assert outcomes["first"] is None and outcomes["third"] is None
    assert isinstance(outcomes["second"], RuntimeError)
    assert sink.sizes == [1, 1, 1]  # the shared transaction failed; the good ones went alone
    assert len(sink.spans) == 3
    writer.close(10)


def test_the_in_flight_budget_refuses_and_recovers() -> None:
    sink = GatedSink()
    writer = GroupCommitWriter(sink, max_in_flight_bytes=1000)
    writer.start()
    assert writer.try_reserve(600)
    assert not writer.try_reserve(600)  # would exceed the budget: refused, not queued
    assert writer.try_reserve(400)
    writer.release(400)
    waiters = Waiters()
    writer.submit(batch(1), 600, waiters.done)
    assert writer.in_flight_bytes == 600
    sink.gate.set()
    wait_until(lambda: waiters.results == [None])
    assert writer.in_flight_bytes == 0  # released by the commit
    # A request larger than the whole budget still gets in when nothing else is in flight.
    assert writer.try_reserve(5000)
    writer.release(5000)
    writer.close(10)


def test_close_commits_what_was_accepted_and_refuses_the_rest() -> None:
    sink = GatedSink()
    writer = GroupCommitWriter(sink, max_in_flight_bytes=1 << 20)
    writer.start()
    waiters = Waiters()
    for _ in range(3):
        writer.submit(batch(1), 0, waiters.done)
    closer = threading.Thread(target=writer.close, args=(30,))
    closer.start()
    wait_until(lambda: writer._closing)
    with pytest.raises(WriterClosed):
        writer.submit(batch(1), 0, waiters.done)
    with pytest.raises(WriterClosed):
        writer.try_reserve(1)
    sink.gate.set()
    closer.join(30)
    assert waiters.results == [None] * 3
    assert len(sink.spans) == 3


def test_async_and_blocking_waits() -> None:
    writer = GroupCommitWriter(InMemorySink(), max_in_flight_bytes=1 << 20)
    writer.start()

    async def main() -> None:
        assert writer.try_reserve(40)
        await asyncio.gather(*(writer.write(batch(2), 10) for _ in range(4)))

    asyncio.run(main())
    writer.write_blocking(batch(1))
    assert writer.in_flight_bytes == 0
    writer.close(10)


# -- the writer in a child process, against the real stores --------------------------------------


@pytest.fixture
def store(store_url: str) -> Iterator[tuple[str, Engine]]:
    engine = create_engine(store_url)
    migrate(engine)
    yield store_url, engine
    engine.dispose()


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(spans)).scalar_one())


@pytest.mark.e2e
def test_the_process_writer_commits_before_answering(store: tuple[str, Engine]) -> None:
    url, engine = store
    commits: list[tuple[WriteResult, float, int]] = []
    writer = ProcessWriter(
        url, max_in_flight_bytes=1 << 20, on_commit=lambda r, s, n: commits.append((r, s, n))
    )
    writer.start()
    try:
        waiters = Waiters()
        for _ in range(20):
            assert writer.try_reserve(100)
            writer.submit(batch(5), 100, waiters.done)
        wait_until(lambda: len(waiters.results) == 20)
        assert waiters.results == [None] * 20
        # Every answer came after its commit: all the rows are readable now.
        assert stored(engine) == 100
        assert sum(result.spans_inserted for result, _, _ in commits) == 100
        assert writer.in_flight_bytes == 0 and writer.queue_depth == 0
        writer.write_blocking(batch(1))
        assert stored(engine) == 101
    finally:
        assert writer.close(30)
    assert writer.child_pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(writer.child_pid, 0)


@pytest.mark.e2e
def test_a_dead_writer_process_fails_retryably_and_is_replaced(store: tuple[str, Engine]) -> None:
    url, engine = store
    writer = ProcessWriter(url, max_in_flight_bytes=1 << 20)
    writer.start()
    try:
        first = writer.child_pid
        assert first is not None
        writer.write_blocking(batch(3))
        os.kill(first, signal.SIGKILL)
        # Whatever was in flight fails with a retryable error; then a new child takes over.
        wait_until(lambda: writer.child_pid not in (None, first))
        writer.write_blocking(batch(2))
        assert stored(engine) == 5
    finally:
        writer.close(30)


@pytest.mark.e2e
def test_a_writer_for_an_unreachable_store_does_not_start() -> None:
    writer = ProcessWriter("postgresql+psycopg://nobody@127.0.0.1:1/none", max_in_flight_bytes=1)
    with pytest.raises(StoreError) as caught:
        writer.start()
    assert caught.value.retryable
    assert retryable(caught.value)

"""The durable writer: group commit, bounded memory, an answer only after the commit.

Receivers hand over a batch and wait; the writer takes *everything* waiting, writes it in one
transaction and, once it is committed, wakes each waiter. Under load the transactions grow by
themselves (more requests arrive while one commits), so the cost of a commit is shared by many
requests while each is still answered only after its data is durable.

Memory is bounded by bytes in flight: a receiver reserves its request's size before it reads the
body and the writer releases it after the commit; when a reservation does not fit, the request is
refused with a retryable status instead of being queued.

Two implementations share this contract: ``GroupCommitWriter`` commits on a thread of this
process through any ``TelemetrySink`` (the in-memory sink in unit tests), and
``collector.writer_process.ProcessWriter`` commits in a child process, which is what
``vitals serve`` uses so that the database work does not compete for this process's GIL.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from collector.rows import WriteBatch, WriteResult
from collector.sink import TelemetrySink

log = logging.getLogger(__name__)

Done = Callable[[BaseException | None], None]
#: Called after each commit with what it changed, how long it took and how many rows it wrote.
CommitObserver = Callable[[WriteResult, float, int], None]

#: Rows per transaction at most; a larger backlog is committed in several transactions.
MAX_BATCH_ROWS = 100_000


class WriterClosed(Exception):
    """The writer is shutting down and takes no new work."""


class Writer(Protocol):
    """What receivers and components need from a writer."""

    max_in_flight_bytes: int

    @property
    def in_flight_bytes(self) -> int: ...

    @property
    def queue_depth(self) -> int: ...

    @property
    def queued_rows(self) -> int: ...

    @property
    def alive(self) -> bool: ...

    def try_reserve(self, weight: int) -> bool: ...

    def release(self, weight: int) -> None: ...

    def submit(self, batch: WriteBatch, weight: int, done: Done) -> None: ...

    async def write(self, batch: WriteBatch, weight: int) -> None: ...

    def write_blocking(self, batch: WriteBatch) -> None: ...

    def start(self) -> None: ...

    def close(self, timeout: float | None = None) -> bool: ...


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the waiting request was cancelled (client went away)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class WriterBase(abc.ABC):
    """Admission (the in-flight budget) and the ways to wait for a commit, for both writers."""

    def __init__(self, max_in_flight_bytes: int) -> None:
        self.max_in_flight_bytes = max_in_flight_bytes
        self._cond = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._closing = False

    @property
    def in_flight_bytes(self) -> int:
        return self._in_flight

    def try_reserve(self, weight: int) -> bool:
        """Reserve ``weight`` bytes of the in-flight budget; False when it does not fit now.

        A request larger than the whole budget is still admitted when nothing else is in flight,
        so it is slow rather than refused forever.
        """
        with self._cond:
            if self._closing:
                raise WriterClosed("the collector is shutting down")
            if self._in_flight + weight > self.max_in_flight_bytes and self._in_flight > 0:
                return False
            self._in_flight += weight
            return True

    def release(self, weight: int) -> None:
        """Give back a reservation (a request that ended, or a committed batch)."""
        with self._cond:
            self._in_flight -= weight
            self._cond.notify_all()

    @abc.abstractmethod
    def submit(self, batch: WriteBatch, weight: int, done: Done) -> None:
        """Queue ``batch``, whose ``weight`` is reserved; ``done`` runs once it is committed."""

    async def write(self, batch: WriteBatch, weight: int) -> None:
        """Submit and wait for the commit, from the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done(error: BaseException | None) -> None:
            loop.call_soon_threadsafe(_settle, future, error)

        self.submit(batch, weight, done)
        await future

    def write_blocking(self, batch: WriteBatch) -> None:
        """Submit and wait for the commit from a thread other than the event loop's (components'
        scheduler jobs). Internal writers are small and trusted: no in-flight reservation."""
        finished = threading.Event()
        outcome: list[BaseException | None] = []

        def done(error: BaseException | None) -> None:
            outcome.append(error)
            finished.set()

        self.submit(batch, 0, done)
        finished.wait()
        if outcome[0] is not None:
            raise outcome[0]


def commit_group(
    sink: TelemetrySink, batches: Sequence[WriteBatch], on_commit: CommitObserver | None = None
) -> list[BaseException | None]:
    """Write ``batches`` in one transaction; per batch, None or the error that kept it out.

    If the transaction fails, each batch is retried alone, so one request whose rows the database
    refuses does not fail the others that happened to share its transaction.
    """

    def write(batch: WriteBatch) -> None:
        started = time.perf_counter()
        result = sink.write(batch)
        if on_commit is not None:
            on_commit(result, time.perf_counter() - started, batch.rows)

    merged = batches[0] if len(batches) == 1 else WriteBatch.concat(batches)
    try:
        write(merged)
        return [None] * len(batches)
    except Exception as exc:
        if len(batches) == 1:
            log.error("a batch could not be stored: %s", describe_error(exc))
            return [exc]
    errors: list[BaseException | None] = []
    for batch in batches:
        try:
            write(batch)
            errors.append(None)
        except Exception as exc:
            log.error("a batch could not be stored: %s", describe_error(exc))
            errors.append(exc)
    return errors


@dataclass(slots=True)
class _Pending:
    batch: WriteBatch
    weight: int
    done: Done


class GroupCommitWriter(WriterBase):
    """Group commit on a thread of this process, through any ``TelemetrySink``."""

    def __init__(
        self,
        sink: TelemetrySink,
        *,
        max_in_flight_bytes: int,
        max_batch_rows: int = MAX_BATCH_ROWS,
        on_commit: CommitObserver | None = None,
    ) -> None:
        super().__init__(max_in_flight_bytes)
        self._sink = sink
        self._max_batch_rows = max_batch_rows
        self._on_commit = on_commit
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._thread = threading.Thread(target=self._run, name="vitals-writer", daemon=True)

    @property
    def queue_depth(self) -> int:
        """Requests waiting for their commit (not counting the transaction being written)."""
        return len(self._queue)

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closing

    def submit(self, batch: WriteBatch, weight: int, done: Done) -> None:
        """Queue ``batch`` (its ``weight`` already reserved); ``done`` runs on the writer thread
        after the commit, with None or the exception that kept the batch from being stored."""
        with self._cond:
            if self._closing:
                self._in_flight -= weight
                raise WriterClosed("the collector is shutting down")
            self._queue.append(_Pending(batch, weight, done))
            self._queued_rows += batch.rows
            self._cond.notify_all()

    def start(self) -> None:
        self._thread.start()

    def _take(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None
            items = [self._queue.popleft()]
            rows = items[0].batch.rows
            while self._queue and rows + self._queue[0].batch.rows <= self._max_batch_rows:
                item = self._queue.popleft()
                rows += item.batch.rows
                items.append(item)
            self._queued_rows -= rows
            return items

    def _run(self) -> None:
        while (items := self._take()) is not None:
            errors = commit_group(self._sink, [item.batch for item in items], self._on_commit)
            self.release(sum(item.weight for item in items))
            for item, error in zip(items, errors, strict=True):
                try:
                    item.done(error)
                except Exception:  # a waiter's callback must not stop the writer
                    log.exception("writer completion callback failed")

    def close(self, timeout: float | None = None) -> bool:
        """Stop taking work, commit everything already queued, and close the sink.

        Returns False if the queue did not drain within ``timeout`` seconds.
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        drained = not self._thread.is_alive()
        if drained:
            self._sink.close()
        return drained


def describe_error(exc: BaseException) -> str:
    """An error for the log without the statement's parameters (telemetry has no place in logs)."""
    original = getattr(exc, "orig", None)
    detail = str(original) if original is not None else str(exc).split("\n", 1)[0]
    return f"{type(exc).__name__}: {detail[:300]}"


class StoreError(Exception):
    """A batch the store did not commit; ``retryable`` when retrying later may succeed."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def retryable(exc: BaseException) -> bool:
    """Whether a storage failure is worth retrying (the database is down or busy, or the writer
    process died), as opposed to data the database refuses."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, StoreError):
        return exc.retryable
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


__all__ = [
    "MAX_BATCH_ROWS",
    "CommitObserver",
    "GroupCommitWriter",
    "StoreError",
    "Writer",
    "WriterBase",
    "WriterClosed",
    "commit_group",
    "describe_error",
    "retryable",
]

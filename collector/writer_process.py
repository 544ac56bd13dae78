"""``ProcessWriter``: group commit in a child process that owns the store connection.

Why a process: converting spans is Python work on the event loop, and the database driver needs
the GIL between statements; in one process each keeps waiting for the other. Here the event loop
serialises each request's rows (``marshal``: tuples of str/int/float/None at memory speed) and a
sender thread streams them to the child's stdin; the child takes every request waiting, writes
them in one transaction (``commit_group`` over ``SqlSink``) and reports which ones committed on
its stdout; a receiver thread wakes those requests. The child never waits for the parent, so
while it commits one group the next one is already queued in the pipe.

If the parent dies (even by SIGKILL) the child reads end-of-file and exits. If the child dies,
the requests it had not reported fail with a retryable error and a new child takes over.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import marshal
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

from collector.rows import WriteBatch, WriteResult
from collector.writer import (
    MAX_BATCH_ROWS,
    CommitObserver,
    Done,
    StoreError,
    WriterBase,
    WriterClosed,
    commit_group,
    describe_error,
    retryable,
)

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!Q")
#: A commit waits this long for more requests when fewer than LINGER_ROWS rows are waiting.
LINGER_SECONDS = float(os.environ.get("VITALS_WRITER_LINGER", "0.03"))
LINGER_ROWS = int(os.environ.get("VITALS_WRITER_LINGER_ROWS", "10000"))
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux: a larger pipe means fewer wake-ups per request


def _write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int) -> bytes:
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, _PIPE_BYTES))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _read_frame(fd: int) -> Any:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    return marshal.loads(_read_exact(fd, size))


def _grow_pipe(fd: int) -> None:
    # Not Linux, or above the system's limit: the default size works too.
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_BYTES)


@dataclass(slots=True)
class _Pending:
    rows: int
    weight: int
    done: Done


class ProcessWriter(WriterBase):
    """Group commit in a child process (``python -m collector.writer_process``)."""

    def __init__(
        self,
        db_url: str,
        *,
        max_in_flight_bytes: int,
        max_batch_rows: int = MAX_BATCH_ROWS,
        on_commit: CommitObserver | None = None,
    ) -> None:
        super().__init__(max_in_flight_bytes)
        self._db_url = db_url
        self._max_batch_rows = max_batch_rows
        self._on_commit = on_commit
        self._pending: dict[int, _Pending] = {}
        self._outbox: list[bytes] = []
        self._queued_rows = 0
        self._ids = itertools.count()
        self._child: subprocess.Popen[bytes] | None = None
        self._generation = 0
        self._retired: list[IO[bytes]] = []
        self._sender = threading.Thread(target=self._send_loop, name="vitals-writer-send", daemon=True)
        self._receiver = threading.Thread(
            target=self._receive_loop, name="vitals-writer-receive", daemon=True
        )

    # -- state --------------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        """Requests sent or queued for the child and not yet reported committed."""
        return len(self._pending)

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    @property
    def alive(self) -> bool:
        child = self._child
        return not self._closing and child is not None and child.poll() is None

    @property
    def child_pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    # -- the child ----------------------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            [sys.executable, "-m", "collector.writer_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        assert child.stdin is not None and child.stdout is not None
        _grow_pipe(child.stdin.fileno())
        try:
            _write_frame(child.stdin.fileno(), marshal.dumps((self._db_url, self._max_batch_rows)))
            reply = _read_frame(child.stdout.fileno())
        except (EOFError, OSError):
            reply = "it exited (see the log)"
        if reply != "ready":
            child.stdin.close()
            child.wait()
            child.stdout.close()
            raise StoreError(f"the store writer process could not start: {reply}", True)
        log.debug("store writer process %d started", child.pid)
        return child

    def start(self) -> None:
        self._child = self._spawn()
        self._sender.start()
        self._receiver.start()

    # -- submission ---------------------------------------------------------------------------

    def submit(self, batch: WriteBatch, weight: int, done: Done) -> None:
        """Queue ``batch`` (its ``weight`` already reserved); ``done`` runs on the receiver thread
        once the child reports the commit, with None or the error that kept the batch out."""
        ident = next(self._ids)
        try:
            frame = marshal.dumps((ident, batch.spans, batch.span_keys, batch.metric_points))
        except ValueError as exc:  # a value marshal cannot carry (a component's Decimal, say)
            self.release(weight)
            raise TypeError(f"rows for the store must hold str, int, float, bool or None: {exc}") from None
        with self._cond:
            if self._closing:
                self._in_flight -= weight
                raise WriterClosed("the collector is shutting down")
            if self._child is None:
                self._in_flight -= weight
                raise StoreError("the store writer process is restarting", True)
            self._pending[ident] = _Pending(batch.rows, weight, done)
            self._queued_rows += batch.rows
            self._outbox.append(frame)
            self._cond.notify_all()

    def _close_retired(self) -> None:
        """Close the stdin of replaced children (only the sender writes to them, so only it may)."""
        with self._cond:
            retired, self._retired = self._retired, []
        for stream in retired:
            with contextlib.suppress(OSError):
                stream.close()

    def _send_loop(self) -> None:
        while True:
            self._close_retired()
            with self._cond:
                while not self._outbox and not (self._closing and not self._pending):
                    self._cond.wait()
                if not self._outbox:
                    return
                frames, self._outbox = self._outbox, []
                child, generation = self._child, self._generation
            try:
                assert child is not None and child.stdin is not None
                for frame in frames:
                    _write_frame(child.stdin.fileno(), frame)
            except (OSError, ValueError, AssertionError):
                # The child is gone (or its stdin closed by ``close``); the receiver fails what
                # it held and starts a new one.
                with self._cond:
                    while self._generation == generation and not self._closing:
                        self._cond.wait()

    def _receive_loop(self) -> None:
        while True:
            child = self._child
            try:
                assert child is not None and child.stdout is not None
                stats, results = _read_frame(child.stdout.fileno())
            except (EOFError, OSError, AssertionError):
                if not self._child_died():
                    return
                continue
            if self._on_commit is not None:
                for spans_new, spans_dup, points_new, points_dup, seconds, rows in stats:
                    self._on_commit(WriteResult(spans_new, spans_dup, points_new, points_dup), seconds, rows)
            finished: list[tuple[_Pending, BaseException | None]] = []
            with self._cond:
                for ident, error in results:
                    item = self._pending.pop(ident)
                    self._in_flight -= item.weight
                    self._queued_rows -= item.rows
                    finished.append((item, None if error is None else StoreError(error[0], bool(error[1]))))
                self._cond.notify_all()
            for item, failure in finished:
                try:
                    item.done(failure)
                except Exception:
                    log.exception("writer completion callback failed")

    def _child_died(self) -> bool:
        """Fail what the dead child held and start another; False when we are shutting down."""
        with self._cond:
            old = self._child
            if self._closing and not self._pending:
                return False
            lost = list(self._pending.values())
            self._pending.clear()
            self._outbox.clear()
            self._queued_rows = 0
            self._in_flight -= sum(item.weight for item in lost)
            self._child = None
            self._cond.notify_all()
        if old is not None:
            old.kill()
            old.wait()
            assert old.stdin is not None and old.stdout is not None
            old.stdout.close()  # this (receiver) thread is its only reader
            with self._cond:
                self._retired.append(old.stdin)
        if lost:
            log.error("the store writer process exited; %d request(s) were not committed", len(lost))
        for item in lost:
            item.done(StoreError("the store writer process exited before committing", True))
        while True:
            with self._cond:
                if self._closing:
                    return False
            try:
                child = self._spawn()
                break
            except StoreError as exc:
                log.error("%s; retrying in 1s", exc)
                time.sleep(1)
        with self._cond:
            self._child = child
            self._generation += 1
            self._cond.notify_all()
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Stop taking work, wait until everything submitted is committed, stop the child; all
        within ``timeout`` seconds. Returns False if something submitted was not committed.

        A child still busy at the end (a store that hangs) is killed: whatever it held was never
        reported committed, so never acknowledged, and its transaction rolls back.
        """
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        with self._cond:
            self._closing = True
            self._cond.notify_all()
            while self._pending and self._child is not None:
                remaining = left()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining)
            drained = not self._pending
            child = self._child
        if child is not None:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.close()  # end-of-file: the child finishes and exits
            try:
                child.wait(timeout=left())
            except subprocess.TimeoutExpired:
                log.error(
                    "the store writer process did not finish in time; stopping it (%d request(s) "
                    "not committed, none acknowledged)",
                    len(self._pending),
                )
                child.kill()
                child.wait()
        for thread in (self._sender, self._receiver):
            if thread.is_alive():
                thread.join(timeout=left())
        if child is not None and child.stdout is not None and not self._receiver.is_alive():
            child.stdout.close()
        self._close_retired()
        return drained


# -- the child ------------------------------------------------------------------------------------


class _Inbox:
    """Requests read from the parent by a reader thread, so that everything that arrives while a
    transaction commits is there for the next one (the pipe itself holds only a few)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._items: deque[tuple[int, WriteBatch]] = deque()
        self._cond = threading.Condition()
        self._ended = False
        threading.Thread(target=self._read, name="vitals-writer-inbox", daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                ident, spans, keys, points = _read_frame(self._fd)
                with self._cond:
                    self._items.append((ident, WriteBatch(spans, keys, points)))
                    self._cond.notify()
        except (EOFError, OSError):
            with self._cond:
                self._ended = True
                self._cond.notify()

    def _rows(self) -> int:
        return sum(batch.rows for _, batch in self._items)

    def take(self, max_rows: int) -> list[tuple[int, WriteBatch]] | None:
        """Every request waiting (at least one, at most about ``max_rows`` rows); None at the end.

        With little waiting, it lingers up to ``LINGER_SECONDS`` for more: one commit of several
        requests costs much less than one commit each (every commit rewrites the index pages it
        touched), for a few milliseconds more latency.
        """
        with self._cond:
            while not self._items and not self._ended:
                self._cond.wait()
            if not self._items:
                return None
            deadline = time.monotonic() + LINGER_SECONDS
            while not self._ended and self._rows() < LINGER_ROWS:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            items = [self._items.popleft()]
            rows = items[0][1].rows
            while self._items and rows + self._items[0][1].rows <= max_rows:
                item = self._items.popleft()
                rows += item[1].rows
                items.append(item)
            return items


def _observe(
    stats: list[tuple[int, int, int, int, float, int]], result: WriteResult, seconds: float, rows: int
) -> None:
    counts = (result.spans_inserted, result.spans_duplicate, result.points_inserted, result.points_duplicate)
    stats.append((*counts, seconds, rows))


def _serve(commands: int, replies: int) -> None:
    from collector.sql_sink import SqlSink
    from vitals.kernel.db import create_engine

    db_url, max_rows = _read_frame(commands)
    try:
        engine = create_engine(db_url)
        sink = SqlSink(engine)
    except Exception as exc:
        _write_frame(replies, marshal.dumps(describe_error(exc)))
        return
    _write_frame(replies, marshal.dumps("ready"))
    inbox = _Inbox(commands)
    try:
        while (items := inbox.take(max_rows)) is not None:
            stats: list[tuple[int, int, int, int, float, int]] = []
            errors = commit_group(sink, [batch for _, batch in items], partial(_observe, stats))
            results = [
                (ident, None if error is None else (describe_error(error), int(retryable(error))))
                for (ident, _), error in zip(items, errors, strict=True)
            ]
            _write_frame(replies, marshal.dumps((stats, results)))
    finally:
        sink.close()
        engine.dispose()


def main() -> None:
    """The child: frames on the original stdin/stdout; logs (and anything printed) to stderr.

    It ignores SIGINT and SIGTERM (a terminal's Ctrl-C and systemd signal the whole process
    group): the parent decides when to stop, by closing our stdin once everything is committed.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    replies = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(
        level=os.environ.get("VITALS_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s[writer]: %(message)s",
    )
    _serve(sys.stdin.fileno(), replies)


if __name__ == "__main__":
    main()


__all__ = ["ProcessWriter"]

"""SIGTERM is honoured within ``--shutdown-timeout`` whatever ``vitals serve`` is doing.

Each test puts a real ``vitals serve`` in a state that cannot finish by itself (a request held on
the Ingest's worker, a client that never ends its body, a locked store, a poller blocked on a
broker that never answers, a stop hook that never returns), waits until that state is observable,
sends SIGTERM and checks that the process exits with the expected status, that the log names what
was left behind, and that every acknowledged span is stored. The bound on ``wait`` is a hang
detector (the shutdown timeout plus a generous margin), not a measure of speed.
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from collector.stopping import EXIT_UNFINISHED
from tests.collector.faulty_serve import HOLDING_HOOK, HOLDING_REQUEST, faulty_served
from tests.collector.harness import Served, child_pids, get, metric_value, post, served, wait_until
from tests.collector.otlp import span, trace_request
from tests.collector.test_serve import stored_ids
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

TIMEOUT = 3.0
SHUTDOWN = ("--shutdown-timeout", str(TIMEOUT))
#: How long a stop may take before the test calls it a hang (not a speed assertion).
HANG = TIMEOUT + 20
MARK = "hold-me-in-the-ingest-worker"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

Ids = tuple[str, str]


def acknowledged_span(server: Served, name: str = "before the signal") -> Ids:
    item = span(name)
    status, _, _ = post(f"{server.url}/v1/traces", trace_request(item).SerializeToString())
    assert status == 200
    return item.trace_id.hex(), item.span_id.hex()


class InFlight:
    """A request sent on a thread of its own; ``outcome`` is the status, or the error's name."""

    def __init__(self, send: Callable[[], object]) -> None:
        self.outcome: object = None
        self._send = send
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.outcome = self._send()
        except (OSError, grpc.RpcError) as exc:
            self.outcome = type(exc).__name__

    def finish(self) -> object:
        self._thread.join(HANG)
        assert not self._thread.is_alive(), "the request never ended"
        return self.outcome


def sigterm(server: Served) -> int:
    server.process.send_signal(signal.SIGTERM)
    return server.process.wait(HANG)


def in_log(server: Served, line: str) -> Callable[[], bool]:
    return lambda: line in server.log()


def held_span_body() -> bytes:
    return trace_request(span("held", attributes={"note": MARK})).SerializeToString()


def test_a_request_held_in_decoding_does_not_hold_the_stop(sqlite_url: str, tmp_path: Path) -> None:
    environ = {"VITALS_TEST_HOLD_MARK": MARK}
    with faulty_served(sqlite_url, tmp_path, extra_args=SHUTDOWN, environ=environ) as server:
        before = acknowledged_span(server)
        held = InFlight(lambda: post(f"{server.url}/v1/traces", held_span_body())[0])
        wait_until(in_log(server, HOLDING_REQUEST), message="the request is held in the ingest worker")
        assert sigterm(server) == EXIT_UNFINISHED
        log = server.log()

    assert held.finish() != 200
    assert "1 OTLP/HTTP request(s) still in progress" in log
    assert "left behind: the ingest worker (a request being decoded and redacted" in log
    assert "collector stopped" in log
    assert before in stored_ids(sqlite_url)


def test_a_grpc_call_held_in_decoding_does_not_hold_the_stop(sqlite_url: str, tmp_path: Path) -> None:
    environ = {"VITALS_TEST_HOLD_MARK": MARK}
    with faulty_served(sqlite_url, tmp_path, extra_args=SHUTDOWN, environ=environ) as server:
        before = acknowledged_span(server)

        def call() -> object:
            with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                return channel.unary_unary(EXPORT)(held_span_body(), timeout=HANG)

        held = InFlight(call)
        wait_until(in_log(server, HOLDING_REQUEST), message="the call is held in the ingest worker")
        assert sigterm(server) == EXIT_UNFINISHED
        log = server.log()

    assert held.finish() == "_InactiveRpcError"  # cancelled or unavailable, never OK
    assert "OTLP/gRPC calls still in progress" in log
    assert "left behind: the ingest worker (a request being decoded and redacted" in log
    assert before in stored_ids(sqlite_url)


def test_a_client_that_never_finishes_its_body_is_cut_off(sqlite_url: str, tmp_path: Path) -> None:
    with served(sqlite_url, tmp_path, extra_args=SHUTDOWN) as server:
        before = acknowledged_span(server)
        first = trace_request(span("never finished")).SerializeToString()[:20]
        with socket.create_connection(("127.0.0.1", server.http_port), timeout=HANG) as client:
            client.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(first) + first + b"\r\n"
            )

            def reserved() -> bool:
                metrics = get(f"{server.url}/metrics")[1].decode()
                return metric_value(metrics, "vitals_collector_in_flight_bytes") >= len(first)

            wait_until(reserved, message="the body's first chunk is being read")
            # Nothing is stuck but the client: the stop cancels its request and ends cleanly.
            assert sigterm(server) == 0
            assert client.recv(1024) == b""  # closed, never answered: the client retries
        log = server.log()

    assert "1 OTLP/HTTP request(s) still in progress" in log
    assert "left behind" not in log
    assert before in stored_ids(sqlite_url)


@contextmanager
def locked_store(url: str) -> Iterator[None]:
    """Hold the store's spans table locked against writers until the block ends."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock: the writer waits (busy_timeout 30 s)
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("LOCK TABLE spans IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def writer_queue_depth(server: Served) -> int:
    return int(orjson.loads(get(f"{server.url}/readyz")[1])["writer_queue_depth"])


def test_a_store_that_hangs_does_not_hold_the_stop(store_url: str, tmp_path: Path) -> None:
    with served(store_url, tmp_path, extra_args=SHUTDOWN) as server:
        (writer,) = child_pids(server.process.pid)
        before = acknowledged_span(server)
        with locked_store(store_url):
            waiting = InFlight(
                lambda: post(f"{server.url}/v1/traces", trace_request(span("w")).SerializeToString())
            )
            wait_until(lambda: writer_queue_depth(server) == 1, message="a request waits for its commit")
            assert sigterm(server) == EXIT_UNFINISHED
            log = server.log()

            assert waiting.finish() != 200
            # The writer process did not outlive the collector (it was stopped, then reaped).
            assert not Path(f"/proc/{writer}").exists()
    # The components' stop hooks (the retention lease's release) wait on the locked store too
    # and are named first ("stop hook Keeper.release"); the writer is named with what it held.
    (left,) = [line for line in log.splitlines() if "left behind: " in line]
    assert "the store writer (1 request(s) not committed; none of them was acknowledged)" in left
    assert before in stored_ids(store_url)


def test_a_poller_blocked_on_its_broker_does_not_hold_the_stop(sqlite_url: str, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as broker:  # accepts, never answers
        broker.settimeout(HANG)
        port = broker.getsockname()[1]
        pollers = (
            "pollers:\n"
            f"  - {{name: hung, type: rabbitmq, management_url: 'http://127.0.0.1:{port}', "
            "timeout: 600s, interval: 1h}\n"
        )
        environ = {"VITALS_COMPONENTS": "queues"}
        with served(sqlite_url, tmp_path, pollers, extra_args=SHUTDOWN, environ=environ) as server:
            before = acknowledged_span(server)
            connection, _ = broker.accept()  # the poll has started and waits for the answer
            with connection:
                assert sigterm(server) == EXIT_UNFINISHED
            log = server.log()

    assert "left behind: scheduler job(s) still running: queues.poll.hung" in log
    assert "stop hook(s) not run (a scheduler job was still running)" in log
    assert before in stored_ids(sqlite_url)


def test_a_stop_hook_that_never_returns_does_not_hold_the_stop(sqlite_url: str, tmp_path: Path) -> None:
    environ = {"VITALS_TEST_STUCK": "hook"}
    args = (*SHUTDOWN, "--components", "stuck")
    with faulty_served(sqlite_url, tmp_path, extra_args=args, environ=environ) as server:
        before = acknowledged_span(server)
        assert sigterm(server) == EXIT_UNFINISHED
        log = server.log()

    assert HOLDING_HOOK in log
    assert "left behind: stop hook " in log and "component_stuck" in log
    assert before in stored_ids(sqlite_url)

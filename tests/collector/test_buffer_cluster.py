"""The durable ingest buffer against a real three-node JetStream cluster (replicas 3) and PostgreSQL.

The cluster is started by the test on free loopback ports (``vitals.shell.bench.natscluster``);
spans go in through the real OpenTelemetry SDK exporter over OTLP/HTTP. Every test ends with
what the exporter saw acknowledged being in the store, once.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from collector.buffer_consumer import BufferConsumer
from collector.config import load_collector_config
from collector.service import Collector, CollectorThread, ServeOptions
from collector.tables import span_keys, spans
from tests.collector.harness import SECRET, post, wait_until
from tests.collector.otlp import span, trace_request
from vitals.kernel.db import create_engine
from vitals.kernel.settings import Settings
from vitals.shell.bench.natscluster import NatsCluster, nats_cluster, nats_server_binary

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.brokers]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    if nats_server_binary() is None:
        message = "nats-server is not installed (/usr/sbin/nats-server)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with nats_cluster(tmp_path / "nats") as running:
        yield running


def buffer_yaml(cluster: NatsCluster, consumers: int = 2, ack_wait: str = "5s") -> str:
    servers = ", ".join(cluster.urls)
    return (
        f"buffer:\n  servers: [{servers}]\n  replicas: 3\n  consumers: {consumers}\n"
        f"  fetch_batch: 16\n  ack_wait: {ack_wait}\n  retry_delay: 0.5s\n  publish_timeout: 3s\n"
    )


@contextmanager
def buffered_collector(db_url: str, tmp_path: Path, yaml: str, name: str = "a") -> Iterator[Collector]:
    """A collector whose ``collector.yaml`` has the buffer, with the buffer's writers installed as
    ``vitals serve`` installs them."""
    directory = tmp_path / f"config-{name}"
    directory.mkdir()
    (directory / "collector.yaml").write_text(yaml)
    config = load_collector_config(directory, {"VITALS_HASH_SECRET": SECRET})
    assert config.buffer is not None
    options = ServeOptions(
        http_port=0, grpc_port=0, components=(BufferConsumer(config.buffer),), shutdown_timeout=20
    )
    thread = CollectorThread(Collector(Settings(db_url, directory), config, options))
    collector = thread.start()
    try:
        yield collector
    finally:
        thread.stop()


def make_spans(count: int, service: str = "billing") -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.buffer")
    for i in range(count):
        with tracer.start_as_current_span(
            "claims.submit", attributes={"hc.stage": "claim.submitted", "hc.key.claim": f"CLM-{i:07d}"}
        ):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def span_id(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    assert context is not None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class Sender:
    """Exports spans in batches with the SDK's OTLP/HTTP exporter (which retries 503 by itself)
    and keeps the ids of those it saw acknowledged."""

    def __init__(self, collector: Collector) -> None:
        self.exporter: SpanExporter = OTLPSpanExporter(
            endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces", timeout=60
        )
        self.acknowledged: set[tuple[str, str]] = set()
        self.failed = 0
        self.batches = 0

    def send(self, batches: Sequence[Sequence[ReadableSpan]]) -> None:
        for batch in batches:
            if self.exporter.export(batch) is SpanExportResult.SUCCESS:
                self.acknowledged.update(span_id(s) for s in batch)
            else:
                self.failed += len(batch)
            self.batches += 1

    def close(self) -> None:
        self.exporter.shutdown()


def chunks(items: list[ReadableSpan], size: int) -> list[list[ReadableSpan]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def readyz(collector: Collector) -> dict[str, Any]:
    url = f"http://127.0.0.1:{collector.http_port}/readyz"
    with urllib.request.urlopen(url, timeout=10) as response:
        body: dict[str, Any] = orjson.loads(response.read())
        return body


def stored(db_url: str) -> tuple[set[tuple[str, str]], int, int]:
    """Stored span ids, the number of span rows, and the number of key rows."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ids = {(row[0], row[1]) for row in conn.execute(select(spans.c.trace_id, spans.c.span_id))}
            rows = conn.execute(select(func.count()).select_from(spans)).scalar_one()
            keys = conn.execute(select(func.count()).select_from(span_keys)).scalar_one()
    finally:
        engine.dispose()
    return ids, int(rows), int(keys)


def drained(collector: Collector, db_url: str, acknowledged: set[tuple[str, str]]) -> bool:
    ids, _, _ = stored(db_url)
    return acknowledged <= ids and readyz(collector)["buffer"]["pending_messages"] == 0


def assert_stored_exactly_once(db_url: str, acknowledged: set[tuple[str, str]]) -> None:
    ids, rows, keys = stored(db_url)
    assert acknowledged <= ids, f"{len(acknowledged - ids)} acknowledged span(s) missing"
    assert rows == len(ids)  # no span twice
    assert keys == rows  # one hc.key.claim per span, never doubled by a redelivery


def test_sdk_spans_through_the_buffer_are_stored_exactly_once(
    cluster: NatsCluster, pg_url: str, tmp_path: Path
) -> None:
    with buffered_collector(pg_url, tmp_path, buffer_yaml(cluster)) as collector:
        sender = Sender(collector)
        sender.send(chunks(make_spans(600), 50))
        sender.close()
        assert len(sender.acknowledged) == 600 and sender.failed == 0
        wait_until(lambda: drained(collector, pg_url, sender.acknowledged), 60, "the buffer drained")
        view = readyz(collector)
        assert view["status"] == "ready" and view["buffer"]["stream"] == "VITALS_INGEST"
        with urllib.request.urlopen(f"http://127.0.0.1:{collector.http_port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        assert 'vitals_buffer_pending_messages{stream="VITALS_INGEST"} 0.0' in metrics
        assert "vitals_buffer_stored_messages_total" in metrics
    assert_stored_exactly_once(pg_url, sender.acknowledged)


def test_a_node_killed_mid_run_loses_nothing_acknowledged(
    cluster: NatsCluster, pg_url: str, tmp_path: Path
) -> None:
    batches = chunks(make_spans(3000), 25)
    with buffered_collector(pg_url, tmp_path, buffer_yaml(cluster)) as collector:
        sender = Sender(collector)
        worker = threading.Thread(target=sender.send, args=(batches,))
        worker.start()
        wait_until(lambda: sender.batches >= len(batches) // 3, 120, "a third sent")
        # The stream's leader, so that the stream itself must elect another while spans arrive.
        leader = readyz(collector)["buffer"]["leader"]
        cluster.kill(leader)
        sent_before_kill = sender.batches
        worker.join(timeout=240)
        assert not worker.is_alive()
        sender.close()
        assert sender.batches > sent_before_kill  # ingest went on after the kill
        assert sender.failed == 0 and len(sender.acknowledged) == 3000
        wait_until(lambda: drained(collector, pg_url, sender.acknowledged), 90, "the buffer drained")
        assert readyz(collector)["buffer"]["leader"] != leader
    assert_stored_exactly_once(pg_url, sender.acknowledged)


def test_without_writers_requests_are_still_acknowledged_and_drain_later(
    cluster: NatsCluster, pg_url: str, tmp_path: Path
) -> None:
    """The database side away (no process writes the stream): the collector keeps acknowledging,
    the lag grows; a writer that comes back drains it."""
    with buffered_collector(pg_url, tmp_path, buffer_yaml(cluster, consumers=0), "front") as front:
        sender = Sender(front)
        sender.send(chunks(make_spans(200), 20))
        first = readyz(front)["buffer"]
        sender.send(chunks(make_spans(200, "claims"), 20))
        second = readyz(front)["buffer"]
        assert len(sender.acknowledged) == 400 and sender.failed == 0
        assert 0 < first["pending_messages"] < second["pending_messages"]
        assert first["pending_bytes"] < second["pending_bytes"]
        assert stored(pg_url)[1] == 0
        with buffered_collector(pg_url, tmp_path, buffer_yaml(cluster, consumers=2), "writer") as writer:
            wait_until(lambda: drained(writer, pg_url, sender.acknowledged), 60, "the buffer drained")
        sender.close()
    assert_stored_exactly_once(pg_url, sender.acknowledged)


class Cuttable:
    """A TCP proxy to PostgreSQL that the test can cut (every connection dropped, new ones
    refused) and restore: the database gone away and back, as the writers see it."""

    def __init__(self, port: int) -> None:
        self.upstream = ("127.0.0.1", port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.down = threading.Event()
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            with self.lock:
                self.open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.down.set()
        with self.lock:
            dropped, self.open = self.open, []
        for sock in dropped:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.cut()
        self.server.close()


def test_a_database_away_becomes_lag_then_drains(cluster: NatsCluster, pg_url: str, tmp_path: Path) -> None:
    """The store unreachable under the writers: requests are still acknowledged, the writers' commits
    fail and their messages wait in the stream; once the store is back, they drain."""
    url = make_url(pg_url)
    proxy = Cuttable(url.port or 5432)
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with buffered_collector(via_proxy, tmp_path, buffer_yaml(cluster)) as collector:
            sender = Sender(collector)
            sender.send(chunks(make_spans(100), 20))
            wait_until(lambda: drained(collector, pg_url, sender.acknowledged), 60, "the first spans stored")
            proxy.cut()
            sender.send(chunks(make_spans(300, "claims"), 20))
            assert len(sender.acknowledged) == 400 and sender.failed == 0
            wait_until(
                lambda: metric(collector, "vitals_buffer_retried_messages_total") > 0, 30, "a failed commit"
            )
            assert readyz(collector)["buffer"]["pending_messages"] > 0
            assert len(stored(pg_url)[0]) == 100
            proxy.restore()
            wait_until(lambda: drained(collector, pg_url, sender.acknowledged), 90, "the buffer drained")
            sender.close()
    finally:
        proxy.close()
    assert_stored_exactly_once(pg_url, sender.acknowledged)


def metric(collector: Collector, name: str) -> float:
    url = f"http://127.0.0.1:{collector.http_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def test_without_a_quorum_requests_get_retryable_errors_and_nothing_is_lost(
    cluster: NatsCluster, pg_url: str, tmp_path: Path
) -> None:
    """Two of three nodes gone: no PubAck, so no 200 (503 with Retry-After, gRPC UNAVAILABLE);
    once they are back the same request is accepted and stored once."""
    body = trace_request(span("claims.submit"), span("claims.adjudicate")).SerializeToString()
    with buffered_collector(pg_url, tmp_path, buffer_yaml(cluster)) as collector:
        traces = f"http://127.0.0.1:{collector.http_port}/v1/traces"
        assert post(traces, body)[0] == 200
        for node in cluster.nodes[1:]:
            cluster.kill(node.name)
        status, headers, _ = post(traces, body)
        assert status == 503 and "Retry-After" in headers
        with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            with pytest.raises(grpc.RpcError) as refused:
                export(body, timeout=30)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        for node in cluster.nodes[1:]:
            cluster.start_node(node)
        wait_until(lambda: post(traces, body)[0] == 200, 90, "the cluster took requests again")
        wait_until(lambda: readyz(collector)["buffer"]["pending_messages"] == 0, 60, "the buffer drained")
    ids, rows, _ = stored(pg_url)
    assert rows == len(ids) == 2


def test_the_writers_of_two_processes_share_the_stream_each_message_written_once(
    cluster: NatsCluster, pg_url: str, tmp_path: Path
) -> None:
    """Two ``vitals serve`` with writers, one durable consumer: JetStream hands each message to one
    of the four writer loops, so the messages stored by both add up to the messages published."""
    yaml = buffer_yaml(cluster, ack_wait="120s")  # no redelivery of a slow commit to count twice
    with (
        buffered_collector(pg_url, tmp_path, yaml, "one") as one,
        buffered_collector(pg_url, tmp_path, yaml, "two") as two,
    ):
        senders = [Sender(one), Sender(two)]
        work = [chunks(make_spans(400, f"svc-{i}"), 10) for i in range(2)]
        threads = [threading.Thread(target=s.send, args=(w,)) for s, w in zip(senders, work, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        acknowledged = senders[0].acknowledged | senders[1].acknowledged
        assert len(acknowledged) == 800
        wait_until(lambda: drained(one, pg_url, acknowledged), 60, "the buffer drained")
        counts = [metric(c, "vitals_buffer_stored_messages_total") for c in (one, two)]
        for sender in senders:
            sender.close()
    assert all(count > 0 for count in counts)  # both processes wrote
    assert sum(counts) == 80  # one message per request, each written by one writer
    assert_stored_exactly_once(pg_url, acknowledged)

"""OTLP/HTTP against a running collector: the real OpenTelemetry SDK exporters, real sockets, real stores."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace import Status as SpanStatus
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.redaction import hash_key
from collector.service import Collector
from collector.tables import metric_points, span_keys, spans, spans_with_resources
from tests.collector.harness import (
    SECRET,
    get,
    metric_value,
    metrics_text,
    post,
    running_collector,
    span_count,
    wait_until,
)
from tests.collector.otlp import span, trace_request
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "billing-token-0123456789abcdef"


class CountingExporter(SpanExporter):
    """Counts the spans the wrapped exporter reports as exported (the client-side truth)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.acknowledged = 0
        self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.acknowledged += len(spans)
        else:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


def url(collector: Collector, path: str) -> str:
    return f"http://127.0.0.1:{collector.http_port}{path}"


def emit_journey(provider: TracerProvider) -> tuple[str, str]:
    tracer = provider.get_tracer("tests.billing")
    with tracer.start_as_current_span(
        "billing.charge.post",
        kind=SpanKind.CONSUMER,
        attributes={
            "hc.stage": "charge.posted",
            "hc.facility": "north-campus",
            "hc.amount": 1843.2,
            "hc.key.charge": "CHG-000123",
            "messaging.destination.name": "charges-outbound",
        },
    ) as parent:
        parent.add_event("posted", {"batch": 7})
        with tracer.start_as_current_span("erp.gl.post") as child:
            child.set_status(SpanStatus(StatusCode.ERROR, "GL period closed"))
    context = parent.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_spans_over_http_are_stored(
    collector: Collector, store: Engine, compression: Compression
) -> None:
    exporter = CountingExporter(
        OTLPSpanExporter(endpoint=url(collector, "/v1/traces"), compression=compression)
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "billing"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace_id, span_id = emit_journey(provider)
    provider.shutdown()
    assert exporter.acknowledged == 2 and exporter.failed == 0
    with store.connect() as conn:
        rows = {row["name"]: row for row in conn.execute(spans_with_resources()).mappings()}
        keys = conn.execute(select(span_keys)).mappings().all()
    posted, gl = rows["billing.charge.post"], rows["erp.gl.post"]
    assert (posted["trace_id"], posted["span_id"]) == (trace_id, span_id)
    assert gl["parent_span_id"] == span_id and gl["trace_id"] == trace_id
    assert posted["kind"] == "consumer" and posted["service_name"] == "billing"
    assert posted["hc_stage"] == "charge.posted" and posted["hc_facility"] == "north-campus"
    assert posted["hc_amount"] == pytest.approx(1843.2)
    assert posted["messaging_destination"] == "charges-outbound"
    assert posted["attributes"]["hc.key.charge"] == hash_key(SECRET, "CHG-000123")
    assert posted["events"][0]["name"] == "posted"
    assert posted["resource_attributes"]["service.name"] == "billing"
    assert posted["scope_name"] == "tests.billing"
    assert gl["status_code"] == "error" and gl["status_message"] == "GL period closed"
    assert [(k["key_name"], k["key_hash"], k["span_id"]) for k in keys] == [
        ("charge", hash_key(SECRET, "CHG-000123"), span_id)
    ]


def test_sdk_metrics_over_http_are_stored(collector: Collector, store: Engine) -> None:
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=url(collector, "/v1/metrics")), export_interval_millis=3_600_000
    )
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "engine"}))
    meter = provider.get_meter("tests.engine")
    meter.create_counter("messages.processed").add(5, {"queue": "adt-inbound"})
    meter.create_histogram("message.latency", unit="s").record(0.25, {"queue": "adt-inbound"})
    meter.create_up_down_counter("queue.depth").add(17, {"queue": "adt-inbound"})
    assert provider.force_flush()
    provider.shutdown()
    with store.connect() as conn:
        rows = {row["name"]: row for row in conn.execute(select(metric_points)).mappings()}
    assert rows["messages.processed"]["kind"] == "sum" and rows["messages.processed"]["value"] == 5
    assert rows["messages.processed"]["is_monotonic"] is True
    assert rows["queue.depth"]["value"] == 17 and rows["queue.depth"]["is_monotonic"] is False
    assert rows["queue.depth"]["queue"] == "adt-inbound"
    latency = rows["message.latency"]
    assert (latency["kind"], latency["count"], latency["sum"], latency["unit"]) == ("histogram", 1, 0.25, "s")
    assert sum(latency["buckets"]["counts"]) == 1


def test_the_specification_json_examples(collector: Collector, store: Engine) -> None:
    status, headers, body = post(
        url(collector, "/v1/traces"), (FIXTURES / "trace.json").read_bytes(), "application/json"
    )
    assert (status, body) == (200, b"{}")
    assert headers["Content-Type"].startswith("application/json")
    status, _, body = post(
        url(collector, "/v1/metrics"), (FIXTURES / "metrics.json").read_bytes(), "application/json"
    )
    assert (status, body) == (200, b"{}")
    with store.connect() as conn:
        row = conn.execute(select(spans)).mappings().one()
        names = set(conn.execute(select(metric_points.c.name)).scalars())
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert row["span_id"] == "eee19b7ec3c1b174"
    assert row["parent_span_id"] == "eee19b7ec3c1b173"
    assert row["kind"] == "server"
    assert names == {"my.counter", "my.gauge", "my.histogram", "my.exponential.histogram"}


def test_partial_success_names_the_rejected_spans(collector: Collector, store: Engine) -> None:
    request = trace_request(span("kept"), span("bad id", trace_id=b"short"), span("no start", start=0))
    status, _, body = post(url(collector, "/v1/traces"), request.SerializeToString())
    assert status == 200
    response = ExportTraceServiceResponse.FromString(body)
    assert response.partial_success.rejected_spans == 2
    assert "invalid_trace_id: 1" in response.partial_success.error_message
    assert "spans[1]" in response.partial_success.error_message
    body_json = {
        "resourceSpans": [
            {"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "0102030405060708", "name": "x"}]}]}
        ]
    }
    status, _, body = post(url(collector, "/v1/traces"), orjson.dumps(body_json), "application/json")
    assert status == 200
    assert orjson.loads(body)["partialSuccess"]["rejectedSpans"] == "1"
    assert span_count(store) == 1
    _, metrics = get(url(collector, "/metrics"))
    text = metrics.decode()
    assert (
        metric_value(text, "vitals_collector_rejected_total", signal="traces", reason="invalid_trace_id") == 2
    )
    assert (
        metric_value(text, "vitals_collector_rejected_total", signal="traces", reason="missing_start_time")
        == 1
    )
    assert metric_value(text, "vitals_collector_accepted_total", signal="traces") == 1


def test_duplicate_delivery_is_stored_once(collector: Collector, store: Engine) -> None:
    body = trace_request(span("a", attributes={"hc.key.claim": "K-1"}), span("b")).SerializeToString()
    for _ in range(3):
        assert post(url(collector, "/v1/traces"), body)[0] == 200
    assert span_count(store) == 2
    with store.connect() as conn:
        assert len(conn.execute(select(span_keys)).all()) == 1
    text = get(url(collector, "/metrics"))[1].decode()
    assert metric_value(text, "vitals_collector_duplicate_total", signal="traces") == 4


def _status_message(body: bytes, content_type: str) -> str:
    if content_type.startswith("application/json"):
        return str(orjson.loads(body)["message"])
    message: str = Status.FromString(body).message  # google.rpc has no stubs: Any
    return message


BOMB = gzip.compress(bytes(256 << 20), compresslevel=9)  # 256 MiB of zeros, about 250 KiB


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"\xff\xff\xff garbage", {"Content-Type": "application/x-protobuf"}, 400, "not a valid protobuf"),
        (b"{broken", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b'{"resourceSpans": "no"}', {"Content-Type": "application/json"}, 400, "not an OTLP/JSON"),
        (b"x", {"Content-Type": "text/plain"}, 415, "unsupported content type"),
        (b"x", {"Content-Type": "application/x-protobuf", "Content-Encoding": "br"}, 415, "content encoding"),
        (
            b"not gzip",
            {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            400,
            "not valid gzip",
        ),
        (b"x" * (2 << 20), {"Content-Type": "application/x-protobuf"}, 413, "larger than the limit"),
        (
            BOMB,
            {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            413,
            "decompressed body",
        ),
    ],
    ids=["protobuf", "json", "json-shape", "content-type", "encoding", "gzip", "huge", "gzip-bomb"],
)
def test_bad_requests_get_their_status_and_change_nothing(
    sqlite_url: str, tmp_path: Path, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    with running_collector(sqlite_url, tmp_path, "limits: {max_body: 1MiB}\n") as running:
        good = trace_request(span("already stored")).SerializeToString()
        assert post(url(running, "/v1/traces"), good)[0] == 200
        engine = create_engine(sqlite_url)
        before = engine.connect().execute(select(spans)).mappings().all()
        content_type = headers.pop("Content-Type")
        got, response_headers, response = post(url(running, "/v1/traces"), body, content_type, headers)
        assert got == status
        assert message in _status_message(response, response_headers.get("Content-Type", "application/json"))
        with engine.connect() as conn:
            assert conn.execute(select(spans)).mappings().all() == before
        engine.dispose()
        text = get(url(running, "/metrics"))[1].decode()
        assert (
            metric_value(text, "vitals_collector_requests_total", transport="http", status=str(status)) == 1
        )


def test_tokens_are_required_when_configured(sqlite_url: str, tmp_path: Path) -> None:
    config = f"tokens:\n  - name: billing\n    token: {TOKEN}\n"
    with running_collector(sqlite_url, tmp_path, config) as running:
        body = trace_request(span("secured")).SerializeToString()
        status, headers, _ = post(url(running, "/v1/traces"), body)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert (
            post(url(running, "/v1/traces"), body, headers={"Authorization": "Bearer wrong-token-1234567"})[0]
            == 401
        )
        assert post(url(running, "/v1/traces"), body, headers={"Authorization": f"Basic {TOKEN}"})[0] == 401
        # A bad content type from an unauthenticated sender is still 401: nothing is revealed.
        assert post(url(running, "/v1/traces"), body, "text/plain")[0] == 401
        engine = create_engine(sqlite_url)
        assert span_count(engine) == 0
        exporter = CountingExporter(
            OTLPSpanExporter(
                endpoint=url(running, "/v1/traces"), headers={"Authorization": f"Bearer {TOKEN}"}
            )
        )
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.get_tracer("t").start_span("authenticated").end()
        provider.shutdown()
        assert exporter.acknowledged == 1
        assert span_count(engine) == 1
        engine.dispose()
        text = metrics_text(running)
        assert metric_value(text, "vitals_collector_unauthenticated_total", transport="http") == 4


def _hold_a_request(port: int, declared: int) -> socket.socket:
    """Start a request whose body never finishes arriving: it holds its in-flight reservation."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: {declared}\r\n\r\n".encode()
    )
    return sock


def test_a_saturated_writer_answers_503_with_retry_after(sqlite_url: str, tmp_path: Path) -> None:
    config = "limits: {max_body: 64KiB, max_in_flight: 64KiB}\n"
    with running_collector(sqlite_url, tmp_path, config) as running:
        body = trace_request(span("waits")).SerializeToString()
        held = _hold_a_request(running.http_port, 65_500)
        try:
            wait_until(lambda: running.writer.in_flight_bytes >= 65_500, message="request in flight")
            status, headers, response = post(url(running, "/v1/traces"), body)
            assert status == 503
            assert headers["Retry-After"] == "1"
            assert "saturated" in Status.FromString(response).message
        finally:
            held.close()
        wait_until(lambda: running.writer.in_flight_bytes == 0, message="reservation released")
        assert post(url(running, "/v1/traces"), body)[0] == 200
        text = get(url(running, "/metrics"))[1].decode()
        assert metric_value(text, "vitals_collector_throttled_total", transport="http") == 1


def test_health_readiness_and_metrics_endpoints(collector: Collector) -> None:
    assert get(url(collector, "/healthz")) == (200, b"ok\n")
    status, body = get(url(collector, "/readyz"))
    assert status == 200
    assert orjson.loads(body)["status"] == "ready"
    post(
        url(collector, "/v1/traces"),
        trace_request(span("m", attributes={"patient.mrn": "X1"})).SerializeToString(),
    )
    text = get(url(collector, "/metrics"))[1].decode()
    for name in (
        "vitals_collector_received_total",
        "vitals_collector_accepted_total",
        "vitals_collector_writer_queue_depth",
        "vitals_collector_commit_seconds_bucket",
        "vitals_collector_in_flight_bytes",
        "process_resident_memory_bytes",
    ):
        assert name in text
    assert metric_value(text, "vitals_collector_redacted_total", rule="key.mrn") == 1
    assert metric_value(text, "vitals_collector_received_total", signal="traces") == 1


def _chunked(port: int, body: bytes, chunk: int = 1000) -> bytes:
    """POST with Transfer-Encoding: chunked (no Content-Length); the raw response."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        for start in range(0, len(body), chunk):
            part = body[start : start + chunk]
            sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        response = b""
        while data := sock.recv(65536):
            response += data
    return response


def test_chunked_bodies_are_read_within_the_limit(sqlite_url: str, tmp_path: Path) -> None:
    with running_collector(sqlite_url, tmp_path, "limits: {max_body: 64KiB}\n") as running:
        small = trace_request(*(span(f"s{i}") for i in range(20))).SerializeToString()
        assert _chunked(running.http_port, small).startswith(b"HTTP/1.1 200")
        large = trace_request(*(span("x" * 1000) for _ in range(100))).SerializeToString()
        assert len(large) > 64 * 1024
        assert _chunked(running.http_port, large).startswith(b"HTTP/1.1 413")
        engine = create_engine(sqlite_url)
        assert span_count(engine) == 20
        engine.dispose()
        assert running.writer.in_flight_bytes == 0


def test_a_body_that_stops_arriving_is_answered_408_and_frees_its_reservation(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A slow or malicious sender must not hold its share of the in-flight budget for ever."""
    with running_collector(sqlite_url, tmp_path) as running:
        running.parts.http.body_timeout = 0.5
        body = trace_request(span("stalled")).SerializeToString()
        with socket.create_connection(("127.0.0.1", running.http_port), timeout=30) as sock:
            sock.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body[: len(body) // 2]
            )
            response = b""
            while data := sock.recv(65536):
                response += data
        assert response.startswith(b"HTTP/1.1 408")
        assert b"stalled" not in response
        assert running.writer.in_flight_bytes == 0
        running.parts.http.body_timeout = 30
        assert post(url(running, "/v1/traces"), body)[0] == 200

"""OTLP/gRPC against a running collector: the real SDK gRPC exporters and raw gRPC calls."""

from __future__ import annotations

import socket
from pathlib import Path

import grpc
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.redaction import hash_key
from collector.service import Collector
from collector.tables import metric_points, spans
from tests.collector.harness import (
    SECRET,
    metric_value,
    metrics_text,
    running_collector,
    span_count,
    wait_until,
)
from tests.collector.otlp import span, trace_request
from tests.collector.test_http_receiver import CountingExporter
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

TOKEN = "engine-token-0123456789abcdef"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def call(port: int, body: bytes, metadata: tuple[tuple[str, str], ...] = ()) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(EXPORT)
        return bytes(export(body, metadata=metadata, timeout=30))


def test_sdk_spans_over_grpc_are_stored(collector: Collector, store: Engine) -> None:
    exporter = CountingExporter(OTLPSpanExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True))
    provider = TracerProvider(resource=Resource.create({"service.name": "integration-engine"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.engine")
    with tracer.start_as_current_span(
        "HL7 ADT^A01 process", attributes={"hc.stage": "encounter.admitted", "hc.key.encounter": "E-77"}
    ) as item:
        context = item.get_span_context()
    provider.shutdown()
    assert exporter.acknowledged == 1
    with store.connect() as conn:
        row = conn.execute(select(spans)).mappings().one()
    assert row["trace_id"] == f"{context.trace_id:032x}"
    assert row["name"] == "HL7 ADT^A01 process"
    assert row["service_name"] == "integration-engine"
    assert row["hc_stage"] == "encounter.admitted"
    assert row["attributes"]["hc.key.encounter"] == hash_key(SECRET, "E-77")


def test_sdk_metrics_over_grpc_are_stored(collector: Collector, store: Engine) -> None:
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True),
        export_interval_millis=3_600_000,
    )
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "engine"}))
    provider.get_meter("t").create_counter("hl7.messages").add(3, {"queue": "adt-inbound"})
    assert provider.force_flush()
    provider.shutdown()
    with store.connect() as conn:
        rows = conn.execute(select(metric_points)).mappings().all()
    # force_flush and shutdown each export the cumulative sum: one point per export.
    assert rows
    for row in rows:
        assert (row["name"], row["value"], row["queue"], row["service_name"]) == (
            "hl7.messages",
            3,
            "adt-inbound",
            "engine",
        )


def test_partial_success_and_invalid_argument(collector: Collector, store: Engine) -> None:
    body = trace_request(span("ok"), span("bad", span_id=b"\x00" * 8)).SerializeToString()
    response = ExportTraceServiceResponse.FromString(call(collector.grpc_port, body))
    assert response.partial_success.rejected_spans == 1
    assert "invalid_span_id" in response.partial_success.error_message
    with pytest.raises(grpc.RpcError) as caught:
        call(collector.grpc_port, b"\xff\xff\xff not protobuf")
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert span_count(store) == 1


def test_tokens_are_required_over_grpc(sqlite_url: str, tmp_path: Path) -> None:
    config = f"tokens:\n  - name: engine\n    token: {TOKEN}\n"
    with running_collector(sqlite_url, tmp_path, config) as running:
        body = trace_request(span("secured")).SerializeToString()
        for metadata in ((), (("authorization", "Bearer not-the-token-123456"),)):
            with pytest.raises(grpc.RpcError) as caught:
                call(running.grpc_port, body, metadata)
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        call(running.grpc_port, body, (("authorization", f"Bearer {TOKEN}"),))
        exporter = CountingExporter(
            OTLPSpanExporter(
                endpoint=f"127.0.0.1:{running.grpc_port}",
                insecure=True,
                headers={"authorization": f"Bearer {TOKEN}"},
            )
        )
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.get_tracer("t").start_span("via sdk").end()
        provider.shutdown()
        assert exporter.acknowledged == 1
        engine = create_engine(sqlite_url)
        assert span_count(engine) == 2
        engine.dispose()
        text = metrics_text(running)
        assert metric_value(text, "vitals_collector_unauthenticated_total", transport="grpc") == 2
        assert (
            metric_value(text, "vitals_collector_requests_total", transport="grpc", status="UNAUTHENTICATED")
            == 2
        )


def test_saturation_is_resource_exhausted_with_retry_info(sqlite_url: str, tmp_path: Path) -> None:
    config = "limits: {max_body: 64KiB, max_in_flight: 64KiB}\n"
    with running_collector(sqlite_url, tmp_path, config) as running:
        # An HTTP request whose body never finishes holds almost the whole budget.
        held = socket.create_connection(("127.0.0.1", running.http_port))
        try:
            held.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                b"Content-Length: 65500\r\n\r\n"
            )
            wait_until(lambda: running.writer.in_flight_bytes >= 65_500, message="request in flight")
            with pytest.raises(grpc.RpcError) as caught:
                call(running.grpc_port, trace_request(span("waits")).SerializeToString())
            error = caught.value
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            trailer = dict(error.trailing_metadata())
            retry = RetryInfo.FromString(trailer["google.rpc.retryinfo-bin"])
            assert retry.retry_delay.seconds == 1
        finally:
            held.close()
        wait_until(lambda: running.writer.in_flight_bytes == 0, message="reservation released")
        call(running.grpc_port, trace_request(span("later")).SerializeToString())

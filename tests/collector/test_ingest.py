"""The receive pipeline with the in-memory sink: no sockets, no database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import orjson
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client import CollectorRegistry

from collector.body import Encoding
from collector.ingest import ExportOutcome, Ingest, Signal, Undecodable
from collector.redaction import RedactionPolicy, Redactor
from collector.rows import SPAN_INDEX
from collector.self_metrics import CollectorMetrics
from collector.sink import InMemorySink
from collector.writer import GroupCommitWriter
from tests.collector.otlp import T0, gauge_request, span, trace_request


@pytest.fixture
def pipeline() -> Iterator[tuple[Ingest, InMemorySink, CollectorRegistry]]:
    sink = InMemorySink()
    registry = CollectorRegistry()
    metrics = CollectorMetrics(registry)
    writer = GroupCommitWriter(sink, max_in_flight_bytes=1 << 20, on_commit=metrics.committed)
    writer.start()
    yield Ingest(Redactor(RedactionPolicy(), b"ingest-secret-0123456789"), writer, metrics), sink, registry
    writer.close(10)


def export(
    ingest: Ingest, signal: Signal, body: bytes, encoding: Encoding = Encoding.PROTOBUF
) -> ExportOutcome:
    assert ingest.writer.try_reserve(len(body))
    return asyncio.run(ingest.export(signal, body, encoding, len(body)))


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_spans_are_committed_and_counted(pipeline: tuple[Ingest, InMemorySink, CollectorRegistry]) -> None:
    ingest, sink, registry = pipeline
    body = trace_request(
        span("a", attributes={"patient.ssn": "1"}), span("b", trace_id=b"")
    ).SerializeToString()
    outcome = export(ingest, Signal.TRACES, body)
    assert [row[SPAN_INDEX["name"]] for row in sink.spans.values()] == ["a"]
    response = ExportTraceServiceResponse.FromString(outcome.response(Encoding.PROTOBUF))
    assert response.partial_success.rejected_spans == 1
    assert orjson.loads(outcome.response(Encoding.JSON))["partialSuccess"]["rejectedSpans"] == "1"
    assert sample(registry, "vitals_collector_received_total", signal="traces") == 2
    assert sample(registry, "vitals_collector_accepted_total", signal="traces") == 1
    assert (
        sample(registry, "vitals_collector_rejected_total", signal="traces", reason="invalid_trace_id") == 1
    )
    assert sample(registry, "vitals_collector_redacted_total", rule="key.ssn") == 1
    assert ingest.writer.in_flight_bytes == 0


def test_a_fully_accepted_request_has_an_empty_response(
    pipeline: tuple[Ingest, InMemorySink, CollectorRegistry],
) -> None:
    ingest, _, registry = pipeline
    outcome = export(
        ingest, Signal.METRICS, gauge_request("queue.depth", [(T0, 1.0, {})]).SerializeToString()
    )
    assert outcome.response(Encoding.PROTOBUF) == ExportMetricsServiceResponse().SerializeToString() == b""
    assert outcome.response(Encoding.JSON) == b"{}"
    body = trace_request(span("x"), span("x2")).SerializeToString()
    export(ingest, Signal.TRACES, body)
    export(ingest, Signal.TRACES, body)
    assert sample(registry, "vitals_collector_duplicate_total", signal="traces") == 2


def test_undecodable_bodies_release_their_reservation(
    pipeline: tuple[Ingest, InMemorySink, CollectorRegistry],
) -> None:
    ingest, sink, _ = pipeline
    with pytest.raises(Undecodable, match="ExportMetricsServiceRequest"):
        export(ingest, Signal.METRICS, b"\xff\xff garbage")
    with pytest.raises(Undecodable, match="JSON"):
        export(ingest, Signal.TRACES, b"[", Encoding.JSON)
    assert ingest.writer.in_flight_bytes == 0
    assert not sink.spans and sink.commits == 0

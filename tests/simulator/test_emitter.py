"""The emitter drives the real OpenTelemetry SDK: ids, times and attributes arrive as planned."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from simulator.emitter import ExportError, OtelEmitter, metrics_data
from simulator.generator import Generator
from simulator.model import Attributes, EventSpec, MetricSpec, SpanSpec
from vitals.kernel.units import NS

NOW_NS = int(datetime(2025, 3, 12, 15, 0, tzinfo=UTC).timestamp()) * NS


class FlakyExporter(SpanExporter):
    """Fails the first ``failures`` exports, then keeps every span it is given."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.spans: list[ReadableSpan] = []
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.lock:
            self.calls += 1
            if self.calls <= self.failures:
                return SpanExportResult.FAILURE
            self.spans.extend(spans)
        return SpanExportResult.SUCCESS


class MemoryMetrics(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[MetricsData] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> MetricExportResult:
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        return None


def test_spans_keep_their_planned_ids_times_kinds_links_and_status() -> None:
    exporter = InMemorySpanExporter()
    emitter = OtelEmitter(exporter, workers=0, resource_attributes={"vitals.simulator.seed": 4})
    attrs: Attributes = {"hc.stage": "encounter.registered", "hc.amount": 12.5}
    engine = "integration-engine"
    parent = SpanSpec(
        0xABC,
        0x111,
        0,
        "HL7 ADT^A04 process",
        engine,
        "consumer",
        10 * NS,
        11 * NS,
        attrs,
        links=((0xDEF, 0x222),),
    )
    child = SpanSpec(
        0xABC,
        0x333,
        0x111,
        "erp.gl.post",
        "erp-finance",
        "client",
        10 * NS + 5,
        11 * NS - 5,
        {"hc.stage": "gl.posted"},
        error="GL posting API unavailable (503)",
        events=(EventSpec("retry", 10 * NS + 7, {"attempt": 1}),),
    )
    emitter.emit(parent)
    emitter.emit(child)
    emitter.close()
    first, second = exporter.get_finished_spans()
    assert (first.context.trace_id, first.context.span_id, first.parent) == (0xABC, 0x111, None)
    assert (first.start_time, first.end_time, first.kind) == (10 * NS, 11 * NS, SpanKind.CONSUMER)
    assert dict(first.attributes or {}) == {"hc.stage": "encounter.registered", "hc.amount": 12.5}
    assert [(link.context.trace_id, link.context.span_id) for link in first.links] == [(0xDEF, 0x222)]
    assert first.resource.attributes["service.name"] == "integration-engine"
    assert first.resource.attributes["vitals.simulator.seed"] == 4
    assert second.parent is not None and second.parent.span_id == 0x111 and second.context.trace_id == 0xABC
    assert second.status.status_code == StatusCode.ERROR
    assert second.status.description == "GL posting API unavailable (503)"
    assert [e.name for e in second.events] == ["retry", "exception"]
    assert second.resource.attributes["service.name"] == "erp-finance"


def test_same_seed_gives_byte_identical_otlp_requests() -> None:
    def otlp_bytes(seed: int) -> bytes:
        exporter = InMemorySpanExporter()
        emitter = OtelEmitter(exporter, workers=0)
        generator = Generator(seed=seed, start_ns=NOW_NS - 1800 * NS, rate_scale=0.2, queue_metrics=False)
        emitter.emit_all(generator.items(NOW_NS))
        emitter.close()
        return bytes(encode_spans(exporter.get_finished_spans()).SerializeToString())

    first = otlp_bytes(9)
    assert len(first) > 10_000
    assert first == otlp_bytes(9)
    assert first != otlp_bytes(10)


def test_a_failing_export_is_retried_and_nothing_is_dropped() -> None:
    exporter = FlakyExporter(failures=3)
    emitter = OtelEmitter(exporter, batch_size=100, workers=2, first_retry_s=0.01)
    specs = [
        SpanSpec(i + 1, i + 1, 0, "op", "billing", "internal", i * NS, i * NS + 1, {"n": i})
        for i in range(5000)
    ]
    emitter.emit_all(specs)
    emitter.close()
    assert sorted(span.context.span_id for span in exporter.spans) == list(range(1, 5001))
    assert emitter.stats.spans == 5000 and emitter.stats.retries == 3


def test_a_collector_that_stays_down_stops_the_run_with_an_error() -> None:
    emitter = OtelEmitter(
        FlakyExporter(failures=10**9), batch_size=10, workers=1, retry_for_s=0.2, first_retry_s=0.01
    )
    with pytest.raises(ExportError, match="exporting 10 spans failed"):
        for i in range(100):
            emitter.emit(SpanSpec(i + 1, i + 1, 0, "op", "billing", "internal", i, i + 1, {}))
        emitter.flush()


def test_gauges_become_sdk_metric_data_with_their_own_timestamps() -> None:
    points = [
        MetricSpec("queue.depth", "{message}", "integration-engine", 60 * NS, 3.0, {"queue": "gl-postings"}),
        MetricSpec("queue.depth", "{message}", "integration-engine", 120 * NS, 5.0, {"queue": "gl-postings"}),
        MetricSpec(
            "queue.oldest_age_seconds", "s", "integration-engine", 120 * NS, 42.5, {"queue": "gl-postings"}
        ),
    ]
    request = encode_metrics(metrics_data(points))
    (resource,) = request.resource_metrics
    assert {a.key: a.value.string_value for a in resource.resource.attributes}[
        "service.name"
    ] == "integration-engine"
    metrics = {m.name: m for m in resource.scope_metrics[0].metrics}
    assert [(p.time_unix_nano, p.as_double) for p in metrics["queue.depth"].gauge.data_points] == [
        (60 * NS, 3.0),
        (120 * NS, 5.0),
    ]
    assert metrics["queue.oldest_age_seconds"].unit == "s"

    exporter = MemoryMetrics()
    emitter = OtelEmitter(InMemorySpanExporter(), exporter, workers=0, metric_batch_size=2)
    emitter.emit_all(points)
    emitter.close()
    assert (
        sum(
            len(m.data.data_points)
            for b in exporter.batches
            for r in b.resource_metrics
            for s in r.scope_metrics
            for m in s.metrics
        )
        == 3
    )
    assert emitter.stats.metric_points == 3


class SlowMetrics(MemoryMetrics):
    """Answers after a random network-like delay, so concurrent exports would finish out of order."""

    def __init__(self) -> None:
        super().__init__()
        self.rng = random.Random(1)
        self.lock = threading.Lock()

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> MetricExportResult:
        time.sleep(self.rng.random() * 0.02)
        with self.lock:
            self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS


def test_gauge_batches_are_committed_in_time_order_even_with_parallel_exports() -> None:
    exporter = SlowMetrics()
    emitter = OtelEmitter(InMemorySpanExporter(), exporter, workers=3, metric_batch_size=5)
    for minute in range(200):
        emitter.emit(
            MetricSpec(
                "queue.depth", "{message}", "integration-engine", minute * 60 * NS, 1.0, {"queue": "q"}
            )
        )
        if minute % 7 == 0:  # span batches in between, as in a real run
            emitter.emit(
                SpanSpec(minute + 1, minute + 1, 0, "op", "billing", "internal", minute, minute + 1, {})
            )
    emitter.close()
    firsts = [
        batch.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points[0].time_unix_nano
        for batch in exporter.batches
    ]
    assert len(firsts) == 40
    assert firsts == sorted(firsts)

"""Span sampling through a running collector: the OpenTelemetry SDK's OTLP exporters over real
sockets, into SQLite and PostgreSQL. Fewer spans are stored than were sent; the dashboard's
rollups still count every one of them, and /metrics says how many were sampled out."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context
from opentelemetry.trace import Status as SpanStatus
from sqlalchemy import func, select

from collector.tables import spans
from dashboards.rollup import refresh
from dashboards.tables import span_rollups
from tests.collector.harness import get, metric_value, running_collector
from vitals.kernel.db import create_engine
from vitals.kernel.units import NS

pytestmark = pytest.mark.e2e

START_NS = 1_790_000_000 * NS
MS = 1_000_000
TRACES = 400

COLLECTOR_YAML = """
sampling:
  enabled: true
  slow: 300ms
  rules:
    - {service: adt-router, kinds: [server, internal], one_in: 10}
"""


def emit(provider: TracerProvider) -> Counter[str]:
    """TRACES admissions through the router: a server span, two internal steps, an ``hc.stage``
    span; every 20th fails, every 25th is slow. Times are fixed (the minutes are known)."""
    tracer = provider.get_tracer("tests.sampling")
    sent: Counter[str] = Counter()
    for t in range(TRACES):
        start = START_NS + t * 150 * MS
        slow = t % 25 == 0
        root = tracer.start_span("POST /adt", kind=SpanKind.SERVER, start_time=start)
        context = set_span_in_context(root)
        for i, step in enumerate(("parse", "route")):
            child = tracer.start_span(step, context=context, start_time=start + (i + 1) * MS)
            child.end(end_time=start + (i + 2) * MS)
        stage = tracer.start_span(
            "adt.admit",
            context=context,
            start_time=start + 3 * MS,
            attributes={"hc.stage": "adt.admitted", "hc.facility": "north"},
        )
        stage.end(end_time=start + 4 * MS)
        if t % 20 == 0:
            root.set_status(SpanStatus(StatusCode.ERROR, "downstream refused"))
        root.end(end_time=start + (400 if slow else 5) * MS)
        sent.update(["POST /adt", "parse", "route", "adt.admit"])
    return sent


class Chunked(SpanExporter):
    """Exports what was recorded in requests of ``size`` spans, as a BatchSpanProcessor would."""

    def __init__(self, inner: SpanExporter, size: int = 512) -> None:
        self.inner, self.size = inner, size

    def export(self, spans: list[ReadableSpan]) -> SpanExportResult:  # type: ignore[override]
        for i in range(0, len(spans), self.size):
            if self.inner.export(spans[i : i + self.size]) is not SpanExportResult.SUCCESS:
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.inner.shutdown()


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_fewer_spans_stored_and_every_one_counted(store_url: str, tmp_path: Path, transport: str) -> None:
    recorded = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "adt-router"}))
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    sent = emit(provider)
    provider.shutdown()
    with running_collector(store_url, tmp_path, COLLECTOR_YAML) as collector:
        inner: SpanExporter = (
            HttpSpanExporter(endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces")
            if transport == "http"
            else GrpcSpanExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True)
        )
        exporter = Chunked(inner)
        assert exporter.export(list(recorded.get_finished_spans())) is SpanExportResult.SUCCESS
        exporter.shutdown()
        status, body = get(f"http://127.0.0.1:{collector.http_port}/metrics")
        assert status == 200
        metrics = body.decode()

    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            stored: Counter[str] = Counter(
                {
                    str(name): int(n)
                    for name, n in conn.execute(select(spans.c.name, func.count()).group_by(spans.c.name))
                }
            )
            errors = conn.execute(select(func.count()).where(spans.c.status_code == "error")).scalar_one()
            slow = conn.execute(select(func.count()).where(spans.c.duration_ns >= 300 * MS)).scalar_one()
        total_sent, total_stored = sum(sent.values()), sum(stored.values())
        assert total_stored < total_sent * 0.5
        assert stored["adt.admit"] == TRACES  # every business stage span, as itself
        assert errors == TRACES // 20 and slow == TRACES // 25  # every failed and slow span
        sampled_out = metric_value(metrics, "vitals_collector_sampled_out_total", service="adt-router")
        assert sampled_out == total_sent - total_stored
        assert metric_value(metrics, "vitals_collector_accepted_total", signal="traces") == total_sent

        assert refresh(engine, horizon_s=0, clock=lambda: START_NS + 3600 * NS).behind == 0
        with engine.connect() as conn:
            counted: Counter[str] = Counter(
                {
                    str(name): int(n)
                    for name, n in conn.execute(
                        select(span_rollups.c.span_name, func.sum(span_rollups.c.count))
                        .where(span_rollups.c.resolution == 60)
                        .group_by(span_rollups.c.span_name)
                    )
                }
            )
            errors_counted = conn.execute(
                select(func.sum(span_rollups.c.error_count)).where(span_rollups.c.resolution == 60)
            ).scalar_one()
        assert counted == sent
        assert errors_counted == TRACES // 20
    finally:
        engine.dispose()

"""The edge: span and gauge descriptions -> the real OpenTelemetry SDK -> the real OTLP exporters.

Spans are created by a ``TracerProvider`` per simulated system (each its own ``service.name``) with
explicit start and end timestamps; their ids come from :class:`PlannedIdGenerator`, so the ids the
generator drew are the ids the collector stores. The SDK's ``BatchSpanProcessor`` drops spans when
its queue is full, which a back-fill would hit within seconds; :class:`LosslessBatchProcessor`
instead hands full batches to the export threads of :class:`~simulator.pipeline.ExportPipeline`
(the generator waits when the collector is slower), which retry a failed export until a deadline,
then stop the run with an error. Gauges are built as the SDK's metric data objects with their own
timestamps and exported through the real OTLP metric exporter, in time order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from opentelemetry import trace as trace_api
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from simulator.estate import HEALTH_SYSTEM, SERVICE_SYSTEMS
from simulator.ids import PlannedIdGenerator
from simulator.model import Item, MetricSpec, SpanSpec
from simulator.pipeline import ExportError, ExportPipeline, ExportStats
from vitals import __version__

SCOPE = "vitals.simulator"
KINDS = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}
SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class Sink(Protocol):
    """Where emitted telemetry goes: OTLP in production, memory in unit tests."""

    def emit(self, item: Item) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class ListSink:
    """The in-memory sink: keeps what was emitted (unit tests, dry runs)."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.flushes = 0

    def emit(self, item: Item) -> None:
        self.items.append(item)

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        return None


class LosslessBatchProcessor(SpanProcessor):
    """Exports ended spans in batches of ``batch_size`` through the pipeline; never drops one."""

    def __init__(self, exporter: SpanExporter, pipeline: ExportPipeline, batch_size: int = 512) -> None:
        self._exporter = exporter
        self._pipeline = pipeline
        self._batch_size = batch_size
        self._batch: list[ReadableSpan] = []
        self._lock = threading.Lock()
        self._shut = False

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self._batch.append(span)
            if len(self._batch) < self._batch_size:
                return
            batch, self._batch = self._batch, []
        self._submit(batch)

    def _submit(self, batch: Sequence[ReadableSpan]) -> None:
        exporter = self._exporter
        self._pipeline.submit(
            lambda: exporter.export(batch) == SpanExportResult.SUCCESS,
            f"{len(batch)} spans",
            len(batch),
            "spans",
        )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            batch, self._batch = self._batch, []
        if batch:
            self._submit(batch)
        self._pipeline.flush()
        return True

    def shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        self.force_flush()


def _resource(service: str, extra: Mapping[str, str | int | float | bool]) -> Resource:
    return Resource.create(
        {
            "service.name": service,
            "service.namespace": HEALTH_SYSTEM,
            "service.version": "sim-" + __version__,
            "deployment.environment.name": "demo",
            "host.name": f"{service}-prod-01",
            "hc.system": SERVICE_SYSTEMS.get(service, service),
            **extra,
        }
    )


class OtelEmitter:
    """Emits :class:`SpanSpec` and :class:`MetricSpec` through the OpenTelemetry SDK and exporters."""

    def __init__(
        self,
        span_exporter: SpanExporter,
        metric_exporter: MetricExporter | None = None,
        *,
        batch_size: int = 512,
        metric_batch_size: int = 3000,
        retry_for_s: float = 60.0,
        first_retry_s: float = 0.5,
        resource_attributes: Mapping[str, str | int | float | bool] | None = None,
        workers: int = 2,
    ) -> None:
        self._pipeline = ExportPipeline(retry_for_s, workers, first_retry_s)
        self._span_exporter = span_exporter
        self._metric_exporter = metric_exporter
        self._processor = LosslessBatchProcessor(span_exporter, self._pipeline, batch_size)
        self._ids = PlannedIdGenerator()
        self._extra = dict(resource_attributes or {})
        self._tracers: dict[str, trace_api.Tracer] = {}
        self._providers: list[TracerProvider] = []
        self._metric_batch_size = metric_batch_size
        self._metrics: list[MetricSpec] = []
        self._metrics_done = threading.Event()
        self._metrics_done.set()
        self._closed = False

    @property
    def stats(self) -> ExportStats:
        return self._pipeline.stats

    def _tracer(self, service: str) -> trace_api.Tracer:
        tracer = self._tracers.get(service)
        if tracer is None:
            provider = TracerProvider(
                resource=_resource(service, self._extra),
                id_generator=self._ids,
                sampler=ALWAYS_ON,
                span_limits=SpanLimits(max_span_attributes=128, max_links=32, max_events=32),
                shutdown_on_exit=False,
            )
            provider.add_span_processor(self._processor)
            self._providers.append(provider)
            tracer = self._tracers[service] = provider.get_tracer(SCOPE, __version__)
        return tracer

    def emit(self, item: Item) -> None:
        if isinstance(item, SpanSpec):
            self.emit_span(item)
        else:
            self.emit_metric(item)

    def emit_all(self, items: Iterable[Item]) -> None:
        for item in items:
            self.emit(item)

    def emit_span(self, spec: SpanSpec) -> None:
        tracer = self._tracer(spec.service)
        context = None
        if spec.parent_span_id:
            parent = SpanContext(spec.trace_id, spec.parent_span_id, is_remote=False, trace_flags=SAMPLED)
            context = trace_api.set_span_in_context(NonRecordingSpan(parent))
        links = [
            Link(SpanContext(trace_id, span_id, is_remote=True, trace_flags=SAMPLED))
            for trace_id, span_id in spec.links
        ]
        self._ids.plan(spec.trace_id, spec.span_id)
        span = tracer.start_span(
            spec.name,
            context=context,
            kind=KINDS[spec.kind],
            attributes=spec.attributes,
            links=links,
            start_time=spec.start_ns,
        )
        for event in spec.events:
            span.add_event(event.name, event.attributes, event.time_ns)
        if spec.error is not None:
            span.add_event("exception", {"exception.message": spec.error}, spec.end_ns)
            span.set_status(Status(StatusCode.ERROR, spec.error))
        span.end(end_time=spec.end_ns)

    def emit_metric(self, spec: MetricSpec) -> None:
        if self._metric_exporter is None:
            return
        self._metrics.append(spec)
        if len(self._metrics) >= self._metric_batch_size:
            self._submit_metrics()

    def _submit_metrics(self) -> None:
        points, self._metrics = self._metrics, []
        if not points or self._metric_exporter is None:
            return
        data = metrics_data(points, self._extra)
        exporter = self._metric_exporter
        pipeline = self._pipeline
        # Gauges are committed in time order, as a live engine pushes them: readers that follow
        # the store's ingestion order (stuck-queue detection) must not see an older minute later.
        previous, done = self._metrics_done, threading.Event()
        self._metrics_done = done

        def job() -> bool:
            while not previous.wait(0.2):
                if pipeline.failed:
                    return False
            ok = exporter.export(data) == MetricExportResult.SUCCESS
            if ok:
                done.set()
            return ok

        pipeline.submit(job, f"{len(points)} metric points", len(points), "metrics")

    def flush(self) -> None:
        """Send everything emitted so far and wait until the collector acknowledged it."""
        self._processor.force_flush()
        self._submit_metrics()
        self._pipeline.flush()

    def abort(self) -> None:
        self._pipeline.abort()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            self._pipeline.close()
            for provider in self._providers:
                provider.shutdown()
            self._span_exporter.shutdown()
            if self._metric_exporter is not None:
                self._metric_exporter.shutdown()


def metrics_data(
    points: Sequence[MetricSpec], extra: Mapping[str, str | int | float | bool] | None = None
) -> MetricsData:
    """The SDK's export data for gauge samples, grouped by service and metric name."""
    by_service: dict[str, dict[tuple[str, str], list[NumberDataPoint]]] = {}
    for point in points:
        by_metric = by_service.setdefault(point.service, {})
        by_metric.setdefault((point.name, point.unit), []).append(
            NumberDataPoint(
                attributes=dict(point.attributes),
                start_time_unix_nano=point.time_ns,
                time_unix_nano=point.time_ns,
                value=point.value,
            )
        )
    scope = InstrumentationScope(SCOPE, __version__)
    return MetricsData(
        resource_metrics=[
            ResourceMetrics(
                resource=_resource(service, extra or {}),
                scope_metrics=[
                    ScopeMetrics(
                        scope=scope,
                        metrics=[
                            Metric(name=name, description="", unit=unit, data=Gauge(data_points=data_points))
                            for (name, unit), data_points in by_metric.items()
                        ],
                        schema_url="",
                    )
                ],
                schema_url="",
            )
            for service, by_metric in by_service.items()
        ]
    )


__all__ = [
    "ExportError",
    "ExportStats",
    "ListSink",
    "LosslessBatchProcessor",
    "OtelEmitter",
    "Sink",
    "metrics_data",
]

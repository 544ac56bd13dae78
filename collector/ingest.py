"""The receive pipeline shared by OTLP/HTTP and OTLP/gRPC: decode -> convert + redact -> commit.

Transport code only authenticates, reads the body and maps outcomes to its status codes; what a
request means, and when it counts as accepted, is decided here once.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.body import Encoding
from collector.metrics import convert_metrics
from collector.otlp_json import (
    NESTED_TOO_DEEPLY,
    JsonDecodeError,
    metrics_from_json,
    response_json,
    traces_from_json,
)
from collector.redaction import Redactor
from collector.rejections import Rejections
from collector.rows import WriteBatch
from collector.sampling import SamplingPolicy, sample
from collector.self_metrics import CollectorMetrics
from collector.spans import convert_spans
from collector.writer import Writer, WriterClosed
from vitals.kernel.runtime import MetricTransform

#: How protobuf's binary parser (upb) says a message is nested deeper than its limit of 100.
_TOO_DEEP = "MaxDepth"


class Signal(enum.Enum):
    TRACES = "traces"
    METRICS = "metrics"


class Undecodable(Exception):
    """The body is not an OTLP request of the expected kind (HTTP 400 / INVALID_ARGUMENT)."""


@dataclass(frozen=True)
class ExportOutcome:
    """A committed request: how many items were rejected, and why."""

    signal: Signal
    received: int
    rejected: int
    message: str

    def response(self, encoding: Encoding) -> bytes:
        """The ``Export*ServiceResponse`` body; ``partial_success`` only when something was rejected
        or an attribute was ignored (then with ``rejected`` 0 and a message naming it)."""
        if encoding is Encoding.JSON:
            field = "rejectedSpans" if self.signal is Signal.TRACES else "rejectedDataPoints"
            return response_json(field, self.rejected, self.message)
        if self.signal is Signal.TRACES:
            traces = ExportTraceServiceResponse()
            if self.rejected or self.message:
                traces.partial_success.CopyFrom(
                    ExportTracePartialSuccess(rejected_spans=self.rejected, error_message=self.message)
                )
            return traces.SerializeToString()
        metrics = ExportMetricsServiceResponse()
        if self.rejected or self.message:
            metrics.partial_success.CopyFrom(
                ExportMetricsPartialSuccess(rejected_data_points=self.rejected, error_message=self.message)
            )
        return metrics.SerializeToString()


def decode(signal: Signal, body: bytes, encoding: Encoding) -> Any:
    """The request message in ``body``; ``Undecodable`` with a message safe to send back."""
    try:
        if encoding is Encoding.JSON:
            return traces_from_json(body) if signal is Signal.TRACES else metrics_from_json(body)
        if signal is Signal.TRACES:
            return ExportTraceServiceRequest.FromString(body)
        return ExportMetricsServiceRequest.FromString(body)
    except JsonDecodeError as exc:
        raise Undecodable(str(exc)) from None
    except DecodeError as exc:
        if _TOO_DEEP in str(exc):
            raise Undecodable(NESTED_TOO_DEEPLY) from None
        kind = "ExportTraceServiceRequest" if signal is Signal.TRACES else "ExportMetricsServiceRequest"
        raise Undecodable(f"the body is not a valid protobuf {kind}") from None


class Ingest:
    """Decode, convert, redact and commit one export request; counts everything it sees."""

    def __init__(
        self,
        redactor: Redactor,
        writer: Writer,
        metrics: CollectorMetrics,
        transforms: Sequence[MetricTransform] = (),
        sampling: SamplingPolicy | None = None,
    ) -> None:
        self.redactor = redactor
        #: Volume control applied to each request's spans before they reach the writer.
        self.sampling = sampling or SamplingPolicy()
        self.writer = writer
        self.metrics = metrics
        #: The live list from ServiceContext, so components may add transforms while installing.
        self.transforms = transforms
        #: Decoding and redaction are CPU work: they run here, off the event loop, so that health
        #: checks and other requests are answered meanwhile. One thread, because the redactor
        #: (and its caches) is not thread-safe; the event loop stays free either way.
        self._cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitals-ingest")
        self._busy = False
        self._closed = False

    @property
    def busy(self) -> bool:
        """A request is being decoded and redacted on the worker thread right now."""
        return self._busy

    def close(self) -> None:
        """Take no more requests and drop those waiting for the worker, without waiting for the
        one it holds: its request was never acknowledged (its client retries), and a stop must
        not wait for a huge request's redaction. ``busy`` says whether the worker still runs
        (the interpreter would wait for it at exit)."""
        self._closed = True
        self._cpu.shutdown(wait=False, cancel_futures=True)

    def convert(self, signal: Signal, request: Any) -> tuple[WriteBatch, int, Rejections]:
        """Rows for ``request``, plus the number of items received and the rejections."""
        now = time.time_ns()
        if signal is Signal.TRACES:
            spans = convert_spans(request, self.redactor, now)
            batch, received, rejections = spans.batch, spans.received, spans.rejections
            if self.sampling.active:
                sampled = sample(batch, self.sampling)
                batch = sampled.batch
                if sampled.dropped:
                    self.metrics.sampled_out(sampled.dropped)
        else:
            points = convert_metrics(request, self.redactor, now, self.transforms)
            batch, received, rejections = (
                WriteBatch(metric_points=points.rows),
                points.received,
                points.rejections,
            )
        counts = self.redactor.take_counts()
        if counts:
            self.metrics.redactions(counts)
        return batch, received, rejections

    def _decode_convert(
        self, signal: Signal, body: bytes, encoding: Encoding
    ) -> tuple[WriteBatch, int, Rejections]:
        self._busy = True
        try:
            return self.convert(signal, decode(signal, body, encoding))
        finally:
            self._busy = False

    async def export(self, signal: Signal, body: bytes, encoding: Encoding, weight: int) -> ExportOutcome:
        """Store one request and return once it is committed.

        ``weight`` bytes of the writer's in-flight budget must already be reserved; they are
        given back here if the request fails before it reaches the writer, else by the writer.
        """
        submitted = False
        try:
            if self._closed:
                raise WriterClosed("the collector is shutting down")
            batch, received, rejections = await asyncio.get_running_loop().run_in_executor(
                self._cpu, self._decode_convert, signal, body, encoding
            )
            label = signal.value
            self.metrics.received.labels(label).inc(received)
            for reason, n in rejections.counts.items():
                self.metrics.rejected.labels(label, reason).inc(n)
            if batch.rows:
                submitted = True
                await self.writer.write(batch, weight)
            accepted = received - rejections.total
            if accepted:
                self.metrics.accepted.labels(label).inc(accepted)
            noun = "spans" if signal is Signal.TRACES else "data points"
            return ExportOutcome(signal, received, rejections.total, rejections.message(noun))
        finally:
            if not submitted:
                self.writer.release(weight)


__all__ = ["ExportOutcome", "Ingest", "Signal", "Undecodable", "decode"]

"""OTLP/gRPC: ``TraceService/Export`` and ``MetricsService/Export`` on grpc.aio.

Runs in the collector's event loop next to the HTTP receiver and shares its pipeline. The
methods take and return raw bytes (no generated servicer) so the body is decoded once, by the
same code as OTLP/HTTP. Saturation answers RESOURCE_EXHAUSTED and shutdown UNAVAILABLE, both
with ``google.rpc.RetryInfo`` in the ``google.rpc.retryinfo-bin`` trailer, which OTLP exporters
honour; a missing or unknown token gets UNAUTHENTICATED.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo

from collector.auth import TokenAuthenticator
from collector.body import Encoding
from collector.http_receiver import RETRY_AFTER_SECONDS
from collector.ingest import ExportOutcome, Ingest, Signal, Undecodable
from collector.self_metrics import CollectorMetrics
from collector.writer import WriterClosed, retryable

log = logging.getLogger(__name__)

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"

_RETRY_TRAILER = (
    (
        "google.rpc.retryinfo-bin",
        RetryInfo(retry_delay=Duration(seconds=RETRY_AFTER_SECONDS)).SerializeToString(),
    ),
)

Method = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]


class _Refusal(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry = retry


class GrpcReceiver:
    def __init__(self, ingest: Ingest, auth: TokenAuthenticator, metrics: CollectorMetrics) -> None:
        self.ingest = ingest
        self.auth = auth
        self.metrics = metrics
        self.stopping = False

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        return [
            grpc.method_handlers_generic_handler(
                TRACE_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(self._method(Signal.TRACES))}
            ),
            grpc.method_handlers_generic_handler(
                METRICS_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(self._method(Signal.METRICS))}
            ),
        ]

    def _method(self, signal: Signal) -> Method:
        async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            try:
                outcome = await self._export(signal, request, context)
            except _Refusal as refusal:
                self.metrics.requests.labels("grpc", signal.value, refusal.code.name).inc()
                trailer = _RETRY_TRAILER if refusal.retry else ()
                await context.abort(refusal.code, refusal.message, trailing_metadata=trailer)
                raise  # unreachable: abort raises
            self.metrics.requests.labels("grpc", signal.value, "OK").inc()
            return outcome.response(Encoding.PROTOBUF)

        return export

    async def _export(
        self, signal: Signal, request: bytes, context: grpc.aio.ServicerContext
    ) -> ExportOutcome:
        metadata = {
            key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)
        }
        if self.auth.source(metadata.get("authorization")) is None:
            self.metrics.unauthenticated.labels("grpc").inc()
            raise _Refusal(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
        if self.stopping:
            raise _Refusal(grpc.StatusCode.UNAVAILABLE, "the collector is shutting down", retry=True)
        writer = self.ingest.writer
        weight = len(request)
        try:
            if not writer.try_reserve(weight):
                self.metrics.throttled.labels("grpc").inc()
                raise _Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "the collector is saturated", retry=True)
            return await self.ingest.export(signal, request, Encoding.PROTOBUF, weight)
        except Undecodable as exc:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        except WriterClosed:
            raise _Refusal(
                grpc.StatusCode.UNAVAILABLE, "the collector is shutting down", retry=True
            ) from None
        except _Refusal:
            raise
        except Exception as exc:
            if retryable(exc):
                raise _Refusal(grpc.StatusCode.UNAVAILABLE, "the store is unavailable", retry=True) from None
            log.error("export failed: %s", type(exc).__name__)
            raise _Refusal(grpc.StatusCode.INTERNAL, "the data could not be stored") from None


def grpc_server_options(max_message: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message),
        ("grpc.max_send_message_length", 4 * 1024 * 1024),
        # Two collectors must not share a port by accident.
        ("grpc.so_reuseport", 0),
    ]


__all__ = ["METRICS_SERVICE", "TRACE_SERVICE", "GrpcReceiver", "grpc_server_options"]

"""OTLP/gRPC: ``TraceService/Export`` and ``MetricsService/Export`` on grpc.aio.

Runs in the collector's event loop next to the HTTP receiver and shares its pipeline. The
methods take and return raw bytes (no generated servicer) so the body is decoded once, by the
same code as OTLP/HTTP. Saturation answers RESOURCE_EXHAUSTED and shutdown UNAVAILABLE, both
with ``google.rpc.RetryInfo`` in the ``google.rpc.retryinfo-bin`` trailer, which OTLP exporters
honour; a missing or unknown token gets UNAUTHENTICATED.

Memory is bounded before a message is read, as on OTLP/HTTP. The methods are registered as
request-streaming handlers (on the wire the same as unary: one request message, one response),
so the handler runs as soon as the call's metadata arrives and decides before it asks gRPC for
the message: a caller without a valid token, beyond ``max_grpc_calls`` calls in progress, or
whose largest possible message does not fit in the writer's in-flight budget is refused without
its message ever being read. gRPC buffers the unread part of a message only up to the HTTP/2
flow-control window, which stays at its 64 KiB default because BDP probing (which would grow it
to megabytes per stream) is turned off; with probing on, 96 senders that were never read held
600 MiB.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo

from collector.auth import TokenAuthenticator
from collector.body import Encoding
from collector.config import Limits
from collector.http_receiver import BODY_TIMEOUT_SECONDS, RETRY_AFTER_SECONDS
from collector.ingest import ExportOutcome, Ingest, Signal, Undecodable
from collector.self_metrics import CollectorMetrics
from collector.writer import WriterClosed, retryable
from vitals.kernel.tls import ServerTls

log = logging.getLogger(__name__)

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"

#: HTTP/2 streams one connection may have open at once (gRPC's default has no limit).
MAX_STREAMS_PER_CONNECTION = 100
#: Seconds a call may take to deliver its message once admitted (as an HTTP body).
MESSAGE_TIMEOUT = BODY_TIMEOUT_SECONDS

_RETRY_TRAILER = (
    (
        "google.rpc.retryinfo-bin",
        RetryInfo(retry_delay=Duration(seconds=RETRY_AFTER_SECONDS)).SerializeToString(),
    ),
)

Method = Callable[[AsyncIterator[bytes], grpc.aio.ServicerContext], Awaitable[bytes]]


class _Refusal(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry = retry


class GrpcReceiver:
    def __init__(
        self, ingest: Ingest, auth: TokenAuthenticator, metrics: CollectorMetrics, limits: Limits
    ) -> None:
        self.ingest = ingest
        self.auth = auth
        self.metrics = metrics
        #: Largest message; reserved in full before a message is read, so at most
        #: ``max_in_flight / max_message`` messages are being read at once.
        self.max_message = min(limits.max_body, limits.max_grpc_message)
        self.max_calls = limits.max_grpc_calls
        #: Calls past authentication and not yet answered.
        self.calls = 0
        self.message_timeout = MESSAGE_TIMEOUT
        self.stopping = False

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        return [
            grpc.method_handlers_generic_handler(
                service, {"Export": grpc.stream_unary_rpc_method_handler(self._method(signal))}
            )
            for service, signal in ((TRACE_SERVICE, Signal.TRACES), (METRICS_SERVICE, Signal.METRICS))
        ]

    def _method(self, signal: Signal) -> Method:
        async def export(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
            try:
                outcome = await self._export(signal, context)
            except _Refusal as refusal:
                self.metrics.requests.labels("grpc", signal.value, refusal.code.name).inc()
                trailer = _RETRY_TRAILER if refusal.retry else ()
                await context.abort(refusal.code, refusal.message, trailing_metadata=trailer)
                raise  # unreachable: abort raises
            self.metrics.requests.labels("grpc", signal.value, "OK").inc()
            return outcome.response(Encoding.PROTOBUF)

        return export

    def _admit(self, context: grpc.aio.ServicerContext) -> None:
        """Everything decided from the call's metadata alone, before its message is read."""
        metadata = {
            key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)
        }
        if self.auth.source(metadata.get("authorization")) is None:
            self.metrics.unauthenticated.labels("grpc").inc()
            raise _Refusal(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
        if self.stopping:
            raise _Refusal(grpc.StatusCode.UNAVAILABLE, "the collector is shutting down", retry=True)
        if self.calls >= self.max_calls:
            self.metrics.throttled.labels("grpc").inc()
            raise _Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many calls in progress", retry=True)

    async def _export(self, signal: Signal, context: grpc.aio.ServicerContext) -> ExportOutcome:
        self._admit(context)
        writer = self.ingest.writer
        self.calls += 1
        reserved = 0
        try:
            try:
                if not writer.try_reserve(self.max_message):
                    self.metrics.throttled.labels("grpc").inc()
                    raise _Refusal(
                        grpc.StatusCode.RESOURCE_EXHAUSTED, "the collector is saturated", retry=True
                    )
            except WriterClosed:
                raise _Refusal(
                    grpc.StatusCode.UNAVAILABLE, "the collector is shutting down", retry=True
                ) from None
            reserved = self.max_message
            try:
                request = await asyncio.wait_for(context.read(), self.message_timeout)
            except TimeoutError:
                raise _Refusal(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"the message did not arrive within {self.message_timeout:.0f}s",
                ) from None
            if not isinstance(request, bytes):
                # grpc.aio.EOF: the stream ended without a message, or gRPC refused one over the
                # size limit (that caller gets gRPC's RESOURCE_EXHAUSTED; the two look the same here).
                raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message")
            # Keep what the message holds; the ingest gives it back (or the writer, once committed).
            writer.release(reserved - len(request))
            reserved = 0
            return await self.ingest.export(signal, request, Encoding.PROTOBUF, len(request))
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
        finally:
            self.calls -= 1
            if reserved:
                writer.release(reserved)


def grpc_server_options(max_message: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message),
        ("grpc.max_send_message_length", 4 * 1024 * 1024),
        # Unread messages wait in the 64 KiB default window: BDP probing would grow it per stream.
        ("grpc.http2.bdp_probe", 0),
        ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
        # Two collectors must not share a port by accident.
        ("grpc.so_reuseport", 0),
    ]


def grpc_server(receiver: GrpcReceiver) -> grpc.aio.Server:
    """A server for ``receiver``'s methods with its message limit (ports are added by the caller)."""
    server = grpc.aio.server(options=grpc_server_options(receiver.max_message))
    server.add_generic_rpc_handlers(receiver.handlers())
    return server


def grpc_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """gRPC's TLS for ``tls``: its certificate and key, and with a client CA, client certificates
    required and verified (gRPC reads PEM bytes, not files; the files were checked at load)."""
    chain, key, client_ca = tls.pem()
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


__all__ = [
    "MAX_STREAMS_PER_CONNECTION",
    "MESSAGE_TIMEOUT",
    "METRICS_SERVICE",
    "TRACE_SERVICE",
    "GrpcReceiver",
    "grpc_credentials",
    "grpc_server",
    "grpc_server_options",
]

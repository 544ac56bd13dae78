"""OTLP/HTTP: ``POST /v1/traces`` and ``POST /v1/metrics`` on aiohttp.

Status codes follow the OTLP/HTTP specification: 200 with an ``Export*ServiceResponse`` in the
request's encoding (``partial_success`` when some items were rejected); 400 undecodable body;
401 missing or unknown token; 408 body not complete within ``BODY_TIMEOUT_SECONDS``; 413 body (or
its decompressed size) over the limit; 415 unknown content type or encoding; 503 with
``Retry-After`` when the writer is saturated or the collector is stopping (exporters retry those).
Error bodies are ``google.rpc.Status`` messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from google.rpc.status_pb2 import Status

from collector.auth import TokenAuthenticator
from collector.body import BodyError, Encoding, check_content_encoding, decompress, encoding_of
from collector.ingest import Ingest, Signal, Undecodable
from collector.self_metrics import CollectorMetrics
from collector.writer import Writer, WriterClosed, retryable

log = logging.getLogger(__name__)

#: Seconds an exporter should wait before retrying a refused request.
RETRY_AFTER_SECONDS = 1
#: Seconds a request (HTTP body or gRPC message) may take to arrive once admitted: its share of the
#: in-flight budget is held meanwhile, so a sender that never finishes must not keep the budget from
#: others (4 MiB at 1 Mbit/s: 32 s).
BODY_TIMEOUT_SECONDS = 60.0

#: HTTP status -> google.rpc.Code for the error body.
_RPC_CODES = {400: 3, 401: 16, 408: 4, 413: 3, 415: 3, 500: 13, 503: 14}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str, encoding: Encoding | None) -> web.Response:
    code = _RPC_CODES.get(status, 2)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status in (429, 503) else {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="vitals"'
    if encoding is Encoding.PROTOBUF:
        body = Status(code=code, message=message).SerializeToString()
    else:
        body = orjson.dumps({"code": code, "message": message})
    content_type = (encoding or Encoding.JSON).value
    return web.Response(status=status, body=body, content_type=content_type, headers=headers)


class _Reservation:
    """Bytes of the writer's in-flight budget held by one request."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self.weight = 0

    def admit(self, size: int) -> bool:
        if self._writer.try_reserve(size):
            self.weight += size
            return True
        return False

    def release(self) -> None:
        self._writer.release(self.weight)
        self.weight = 0


class HttpReceiver:
    def __init__(
        self,
        ingest: Ingest,
        auth: TokenAuthenticator,
        metrics: CollectorMetrics,
        *,
        max_body: int,
    ) -> None:
        self.ingest = ingest
        self.auth = auth
        self.metrics = metrics
        self.max_body = max_body
        #: Set when the collector starts shutting down: new requests get 503.
        self.stopping = False
        #: A body not complete within this many seconds is answered 408 and its reservation freed.
        self.body_timeout = BODY_TIMEOUT_SECONDS

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/traces", self._handler(Signal.TRACES))
        app.router.add_post("/v1/metrics", self._handler(Signal.METRICS))

    def _handler(self, signal: Signal) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            response = await self._handle(signal, request)
            self.metrics.requests.labels("http", signal.value, str(response.status)).inc()
            return response

        return handle

    async def _handle(self, signal: Signal, request: web.Request) -> web.StreamResponse:
        authenticated = self.auth.source(request.headers.get("Authorization")) is not None
        if not authenticated:
            self.metrics.unauthenticated.labels("http").inc()
        try:
            encoding = encoding_of(request.headers.get("Content-Type"))
        except BodyError as exc:
            # An unauthenticated sender learns nothing but that it has to authenticate.
            if not authenticated:
                return _error(401, "missing or invalid bearer token", None)
            return _error(exc.status, exc.message, None)
        if not authenticated:
            return _error(401, "missing or invalid bearer token", encoding)
        if self.stopping:
            return _error(503, "the collector is shutting down", encoding)
        try:
            compression = check_content_encoding(request.headers.get("Content-Encoding"))
        except BodyError as exc:
            return _error(exc.status, exc.message, encoding)
        length = request.content_length
        if length is not None and length > self.max_body:
            return _error(413, f"the body is larger than the limit of {self.max_body} bytes", encoding)
        # Reserve before reading (a chunked body: as it arrives), so that memory for bodies is
        # bounded even while they are in transit.
        reservation = _Reservation(self.ingest.writer)
        try:
            if length is not None and not reservation.admit(length):
                self.metrics.throttled.labels("http").inc()
                return _error(503, "the collector is saturated; retry later", encoding)
        except WriterClosed:
            return _error(503, "the collector is shutting down", encoding)
        handed_over = False
        try:
            raw = await self._read(request, reservation if length is None else None)
            body = decompress(raw, compression, self.max_body, reservation.admit)
            del raw
            handed_over = True
            outcome = await self.ingest.export(signal, body, encoding, reservation.weight)
        except BodyError as exc:
            if exc.status == 503:
                self.metrics.throttled.labels("http").inc()
            return _error(exc.status, exc.message, encoding)
        except Undecodable as exc:
            return _error(400, str(exc), encoding)
        except WriterClosed:
            return _error(503, "the collector is shutting down", encoding)
        except Exception as exc:
            return self._storage_error(exc, encoding)
        finally:
            if not handed_over:
                reservation.release()
        return web.Response(status=200, body=outcome.response(encoding), content_type=encoding.value)

    async def _read(self, request: web.Request, reservation: _Reservation | None) -> bytes:
        """The raw body, at most ``max_body`` bytes; each chunk reserved when one is given."""
        parts: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                async for chunk in request.content.iter_any():
                    size += len(chunk)
                    if size > self.max_body:
                        raise BodyError(413, f"the body is larger than the limit of {self.max_body} bytes")
                    if reservation is not None and not reservation.admit(len(chunk)):
                        raise BodyError(503, "the collector is saturated; retry later")
                    parts.append(chunk)
        except ConnectionError:
            log.debug("a client went away while sending its body")
            raise BodyError(400, "the body did not arrive") from None
        except TimeoutError:
            log.debug("a body did not arrive within %.0fs", self.body_timeout)
            raise BodyError(408, f"the body did not arrive within {self.body_timeout:.0f}s") from None
        return b"".join(parts)

    def _storage_error(self, exc: Exception, encoding: Encoding) -> web.Response:
        if retryable(exc):
            return _error(503, "the store is unavailable; retry later", encoding)
        log.error("export failed: %s", type(exc).__name__)
        return _error(500, "the data could not be stored", encoding)


__all__ = ["BODY_TIMEOUT_SECONDS", "RETRY_AFTER_SECONDS", "HttpReceiver"]

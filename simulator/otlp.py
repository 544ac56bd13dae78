"""Where the simulator sends its telemetry: endpoint parsing, the real OTLP exporters, a pre-flight.

The pre-flight sends one empty-but-valid export request before the run, so an unreachable collector,
a wrong port or a missing token is reported in one clear sentence instead of as a minute of
exporter retries.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from simulator.emitter import OtelEmitter

Protocol = Literal["http", "grpc"]
DEFAULT_ENDPOINTS: dict[str, str] = {"http": "http://127.0.0.1:4318", "grpc": "http://127.0.0.1:4317"}


class CollectorUnavailable(RuntimeError):
    """The collector cannot take the simulator's telemetry; the message says why and what to do."""


@dataclass(frozen=True)
class Endpoint:
    protocol: Protocol
    base: str  # scheme://host:port, no path
    token: str | None = None

    @classmethod
    def parse(cls, url: str | None, protocol: Protocol = "http", token: str | None = None) -> Endpoint:
        text = (url or DEFAULT_ENDPOINTS[protocol]).strip()
        if "://" not in text:
            text = "http://" + text
        parts = urlsplit(text)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"expected an endpoint such as {DEFAULT_ENDPOINTS[protocol]}, got {url!r}")
        try:
            port = parts.port or (4318 if protocol == "http" else 4317)
        except ValueError as exc:
            raise ValueError(f"bad port in endpoint {url!r}") from exc
        path = parts.path.rstrip("/")
        if path and path not in {"/v1/traces", "/v1/metrics"}:
            raise ValueError(
                f"give the collector's base URL without a path (such as {DEFAULT_ENDPOINTS[protocol]})"
            )
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return cls(protocol, f"{parts.scheme}://{host}:{port}", token or None)

    @property
    def traces_url(self) -> str:
        return self.base + "/v1/traces"

    @property
    def metrics_url(self) -> str:
        return self.base + "/v1/metrics"

    @property
    def grpc_target(self) -> str:
        return self.base.split("://", 1)[1]

    @property
    def secure(self) -> bool:
        return self.base.startswith("https://")

    def __str__(self) -> str:
        return self.base if self.protocol == "http" else f"{self.base} (gRPC)"


def exporters(endpoint: Endpoint, timeout_s: float = 10.0) -> tuple[SpanExporter, MetricExporter]:
    """The real OTLP span and metric exporters for ``endpoint``."""
    if endpoint.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        grpc_headers = {"authorization": f"Bearer {endpoint.token}"} if endpoint.token else None
        insecure = not endpoint.secure
        return (
            GrpcSpans(
                endpoint=endpoint.grpc_target, insecure=insecure, headers=grpc_headers, timeout=timeout_s
            ),
            GrpcMetrics(
                endpoint=endpoint.grpc_target, insecure=insecure, headers=grpc_headers, timeout=timeout_s
            ),
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    headers = {"Authorization": f"Bearer {endpoint.token}"} if endpoint.token else None
    return (
        OTLPSpanExporter(endpoint=endpoint.traces_url, headers=headers, timeout=timeout_s),
        OTLPMetricExporter(endpoint=endpoint.metrics_url, headers=headers, timeout=timeout_s),
    )


def otlp_emitter(
    endpoint: Endpoint, *, seed: int, metrics: bool = True, retry_for_s: float = 60.0
) -> OtelEmitter:
    """An emitter that sends through the real OTLP exporters to ``endpoint``."""
    span_exporter, metric_exporter = exporters(endpoint)
    return OtelEmitter(
        span_exporter,
        metric_exporter if metrics else None,
        retry_for_s=retry_for_s,
        resource_attributes={"vitals.simulator.seed": seed},
    )


def _probe_request() -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans()])
    return bytes(request.SerializeToString())


def preflight(endpoint: Endpoint, timeout_s: float = 5.0) -> None:
    """Raise :class:`CollectorUnavailable` unless the collector accepts an (empty) export."""
    if endpoint.protocol == "grpc":
        _preflight_grpc(endpoint, timeout_s)
        return
    request = urllib.request.Request(
        endpoint.traces_url,
        data=_probe_request(),
        method="POST",
        headers={
            "Content-Type": "application/x-protobuf",
            **({"Authorization": f"Bearer {endpoint.token}"} if endpoint.token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        _explain_status(endpoint, exc.code)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CollectorUnavailable(
            f"cannot reach the collector at {endpoint} ({reason}). Start it with `vitals serve` "
            f"(or `vitals demo`), or point --endpoint at a running one."
        ) from exc


def _explain_status(endpoint: Endpoint, status: int) -> None:
    if status in {400, 429, 503}:
        return  # it is there and speaks OTLP; the exporters retry 429/503 themselves
    if status in {401, 403}:
        hint = (
            "pass its token with --token"
            if not endpoint.token
            else "the token given with --token was refused"
        )
        raise CollectorUnavailable(f"the collector at {endpoint} requires authentication ({status}): {hint}.")
    if status in {404, 405}:
        raise CollectorUnavailable(
            f"{endpoint.traces_url} answered {status}: this is not an OTLP/HTTP receiver. Is the port the "
            f"collector's HTTP port (4318 by default), and is --protocol right?"
        )
    raise CollectorUnavailable(f"the collector at {endpoint} answered HTTP {status} to an empty export.")


def _preflight_grpc(endpoint: Endpoint, timeout_s: float) -> None:
    import grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

    channel = (
        grpc.secure_channel(endpoint.grpc_target, grpc.ssl_channel_credentials())
        if endpoint.secure
        else grpc.insecure_channel(endpoint.grpc_target)
    )
    try:
        metadata = [("authorization", f"Bearer {endpoint.token}")] if endpoint.token else None
        TraceServiceStub(channel).Export(  # type: ignore[no-untyped-call]
            ExportTraceServiceRequest(), timeout=timeout_s, metadata=metadata
        )
    except grpc.RpcError as exc:
        code = exc.code()
        if code in {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}:
            hint = (
                "pass its token with --token"
                if not endpoint.token
                else "the token given with --token was refused"
            )
            raise CollectorUnavailable(
                f"the collector at {endpoint} requires authentication: {hint}."
            ) from exc
        if code in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}:
            raise CollectorUnavailable(
                f"cannot reach the collector at {endpoint} ({code.name}). Start it with `vitals serve` "
                f"(or `vitals demo`), or point --endpoint at a running one."
            ) from exc
        if code == grpc.StatusCode.UNIMPLEMENTED:
            raise CollectorUnavailable(f"{endpoint} does not implement OTLP TraceService/Export.") from exc
        if code != grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise CollectorUnavailable(f"the collector at {endpoint} answered {code.name}.") from exc
    finally:
        channel.close()


__all__ = ["DEFAULT_ENDPOINTS", "CollectorUnavailable", "Endpoint", "exporters", "otlp_emitter", "preflight"]

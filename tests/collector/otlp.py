"""Builders of OTLP protobuf requests for the collector's tests."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

T0 = 1_750_000_000_000_000_000


def any_value(value: Any) -> AnyValue:
    out = AnyValue()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, list):
        out.array_value.values.extend(any_value(item) for item in value)
    elif isinstance(value, dict):
        out.kvlist_value.values.extend(key_values(value))
    else:
        out.string_value = str(value)
    return out


def key_values(attrs: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attrs.items()]


def span(
    name: str = "op",
    *,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    parent: bytes = b"",
    start: int = T0,
    duration: int = 5_000_000,
    attributes: Mapping[str, Any] | None = None,
    kind: int = Span.SPAN_KIND_SERVER,
    status: int = 0,
    message: str = "",
) -> Span:
    out = Span(
        trace_id=os.urandom(16) if trace_id is None else trace_id,
        span_id=os.urandom(8) if span_id is None else span_id,
        parent_span_id=parent,
        name=name,
        kind=Span.SpanKind.ValueType(kind),  # open enum: tests also send values outside it
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration,
    )
    out.attributes.extend(key_values(attributes or {}))
    out.status.code = Status.StatusCode.ValueType(status)
    out.status.message = message
    return out


def trace_request(
    *spans: Span, service: str = "billing", resource: Mapping[str, Any] | None = None, scope: str = "tests"
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values({"service.name": service, **(resource or {})}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    scope_spans.spans.extend(spans)
    return request


def gauge_request(
    name: str, points: list[tuple[int, float, Mapping[str, Any]]], service: str = "engine"
) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(key_values({"service.name": service}))
    metric = resource_metrics.scope_metrics.add().metrics.add()
    metric.name = name
    metric.unit = "1"
    for time_unix_nano, value, attrs in points:
        point = metric.gauge.data_points.add()
        point.time_unix_nano = time_unix_nano
        point.as_double = value
        point.attributes.extend(key_values(attrs))
    return request

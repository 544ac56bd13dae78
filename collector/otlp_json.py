"""OTLP/JSON request bodies -> the protobuf request messages the converters read.

OTLP/JSON is protobuf's JSON mapping with one exception that matters: trace and span ids are
hex strings, where protobuf's own parser expects base64 for ``bytes`` fields (and would read a
32-digit hex id as 24 garbage bytes). We rewrite the ids to base64 first and let protobuf's
parser do the rest (int64 as strings, enums as integers, camelCase or snake_case keys).
An id that is not valid hex becomes empty, which the converters reject with a reason.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_ID_FIELDS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
#: The field names in protobuf's parse error ("Failed to parse intValue field: ..."); everything else
#: in that message may be the sender's own value, which an error body must never echo.
_FAILED_FIELD = re.compile(r"Failed to parse (\w+) field")
#: protobuf's JSON parser stops at 100 levels of nested messages (as its binary parser does), so
#: the converters' recursion over nested attribute values is bounded; this is how it says so.
_TOO_DEEP = "Message too deep"
#: orjson's own limit (1024 levels of arrays and objects), met before protobuf's.
_TOO_DEEP_JSON = "depth limit exceeded"
#: The answer to a body nested deeper than that (nested arrays or key/value lists in an attribute).
NESTED_TOO_DEEPLY = (
    "the request is nested too deeply: protobuf's limit is 100 levels of messages, about 30 "
    "nested key/value lists or 45 nested arrays in an attribute value"
)
_METRIC_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram")


class JsonDecodeError(ValueError):
    """The body is not OTLP/JSON; the message is safe to return to the sender."""


def _hex_to_base64(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        return ""


def _fix_ids(item: Any) -> None:
    if isinstance(item, dict):
        for name in _ID_FIELDS:
            if name in item:
                item[name] = _hex_to_base64(item[name])


def _children(node: Any, *names: str) -> list[Any]:
    """``node[name]`` for the first of ``names`` present (camelCase or snake_case), as a list."""
    if not isinstance(node, dict):
        return []
    for name in names:
        value = node.get(name)
        if isinstance(value, list):
            return value
    return []


def _load(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if _TOO_DEEP_JSON in str(exc):
            raise JsonDecodeError(NESTED_TOO_DEEPLY) from None
        raise JsonDecodeError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise JsonDecodeError("an OTLP/JSON request must be a JSON object")
    return data


def _parse(data: dict[str, Any], message: Any) -> Any:
    try:
        return json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        if _TOO_DEEP in str(exc):
            raise JsonDecodeError(NESTED_TOO_DEEPLY) from None
        # Exporters log error bodies: name the field's path, never the value the parser quotes.
        path = ".".join(_FAILED_FIELD.findall(str(exc))[:20])
        where = f": invalid value at {path}" if path else ""
        raise JsonDecodeError(f"the body is not an OTLP/JSON request{where}") from None


def traces_from_json(body: bytes) -> ExportTraceServiceRequest:
    data = _load(body)
    for resource_spans in _children(data, "resourceSpans", "resource_spans"):
        for scope_spans in _children(resource_spans, "scopeSpans", "scope_spans"):
            for span in _children(scope_spans, "spans"):
                _fix_ids(span)
                for link in _children(span, "links"):
                    _fix_ids(link)
    request: ExportTraceServiceRequest = _parse(data, ExportTraceServiceRequest())
    return request


def metrics_from_json(body: bytes) -> ExportMetricsServiceRequest:
    data = _load(body)
    for resource_metrics in _children(data, "resourceMetrics", "resource_metrics"):
        for scope_metrics in _children(resource_metrics, "scopeMetrics", "scope_metrics"):
            for metric in _children(scope_metrics, "metrics"):
                for kind in _METRIC_KINDS:
                    for point in _children(
                        metric.get(kind) if isinstance(metric, dict) else None, "dataPoints", "data_points"
                    ):
                        for exemplar in _children(point, "exemplars"):
                            _fix_ids(exemplar)
    request: ExportMetricsServiceRequest = _parse(data, ExportMetricsServiceRequest())
    return request


def response_json(partial_field: str, rejected: int, message: str) -> bytes:
    """An ``Export*ServiceResponse`` in OTLP/JSON: ``{}`` when everything was accepted."""
    if not rejected and not message:
        return b"{}"
    return orjson.dumps({"partialSuccess": {partial_field: str(rejected), "errorMessage": message}})


__all__ = ["NESTED_TOO_DEEPLY", "JsonDecodeError", "metrics_from_json", "response_json", "traces_from_json"]

"""OTLP spans -> rows of ``spans`` and ``span_keys``, redacted on the way.

This is the collector's hot path (every span passes here once), so it works on the decoded
protobuf directly, serialises each resource's attributes once, and builds tuples in
``SPAN_COLUMNS`` order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.attributes import attributes, clean_text, json_text
from collector.redaction import HASHED_KEY_PREFIX, Redactor
from collector.rejections import Rejections
from collector.rows import SPAN_LIFTED_ATTRIBUTES, Row, WriteBatch
from vitals.kernel.units import optional_float

KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")

#: Largest value a BIGINT column holds; OTLP times are unsigned 64-bit.
MAX_INT64 = 2**63 - 1
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_KEY_NAME_MAX = 64
_MAX_INT64_DIGITS = len(str(MAX_INT64))
#: Lifted text attributes (``hc_*`` columns) that the attributes JSON does not repeat when the
#: column holds them exactly (a plain string); readers put them back (``collector.rows.lifted_attributes``).
_LIFTED_TEXT = tuple(a for c, a in SPAN_LIFTED_ATTRIBUTES.items() if c.startswith("hc_") and c != "hc_amount")


@dataclass
class ConvertedSpans:
    batch: WriteBatch = field(default_factory=WriteBatch)
    received: int = 0
    rejections: Rejections = field(default_factory=Rejections)

    @property
    def accepted(self) -> int:
        return len(self.batch.spans)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text: str = value if value.__class__ is str else str(value)
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def occurred_at(value: Any) -> int | None:
    """``hc.occurred_at`` in Unix nanoseconds: an integer (or its text) or an ISO-8601 time."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not 0 < value <= MAX_INT64:
            return None
        result = int(value)
    elif isinstance(value, str):
        text = value.strip()
        # ASCII digits only ("²".isdigit() is true), and no more than a nanosecond time has:
        # int() of thousands of digits raises rather than answering.
        if text.isascii() and text.isdigit():
            if len(text) > _MAX_INT64_DIGITS:
                return None
            result = int(text)
        else:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except (ValueError, OverflowError):
                return None
            if moment.tzinfo is None:
                return None
            result = int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
    else:
        return None
    return result if 0 < result <= MAX_INT64 else None


def _reject_reason(trace_id: bytes, span_id: bytes, parent: bytes, start: int, end: int) -> str | None:
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return "invalid_trace_id"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return "invalid_span_id"
    if parent and len(parent) != 8:
        return "invalid_parent_span_id"
    if not start:
        return "missing_start_time"
    if not end:
        return "missing_end_time"
    if start > MAX_INT64 or end > MAX_INT64:
        return "time_out_of_range"
    if end < start:
        return "end_before_start"
    return None


def _events(span: Span, redactor: Redactor) -> str:
    return json_text(
        [
            {
                "time_unix_nano": event.time_unix_nano,
                "name": redactor.name(event.name),
                "attributes": redactor.attributes(attributes(event.attributes)),
            }
            for event in span.events
        ]
    )


def _links(span: Span, redactor: Redactor) -> str:
    return json_text(
        [
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "attributes": redactor.attributes(attributes(link.attributes)),
            }
            for link in span.links
        ]
    )


def _unlift(attrs: dict[str, Any], amount: float | None) -> dict[str, Any]:
    """``attrs`` without the ``hc.*`` values its ``hc_*`` columns hold exactly, so a stored span
    carries each of them once (about 150 bytes of a span's JSON): a plain string, and an amount
    that is a number or the text of the float stored (it reads back as that float)."""
    for key in _LIFTED_TEXT:
        value = attrs.get(key)
        if value.__class__ is str and "\x00" not in value:
            del attrs[key]
    if amount is not None:
        raw = attrs.get("hc.amount")
        if raw.__class__ in (int, float) or (raw.__class__ is str and raw == repr(amount)):
            del attrs["hc.amount"]
    return attrs


def convert_spans(
    request: ExportTraceServiceRequest, redactor: Redactor, received_at_unix_nano: int
) -> ConvertedSpans:
    """Rows for every valid span of ``request``; invalid ones are counted in ``rejections``."""
    out = ConvertedSpans()
    rows: list[Row] = out.batch.spans
    keys: list[Row] = out.batch.span_keys
    rejections = out.rejections
    received = 0
    hashed: list[tuple[str, str]] = []
    for ri, resource_spans in enumerate(request.resource_spans):
        resource = redactor.attributes(attributes(resource_spans.resource.attributes))
        service = _text(resource.get("service.name")) or "unknown_service"
        resource_json = json_text(resource)
        for si, scope_spans in enumerate(resource_spans.scope_spans):
            scope_name = _text(redactor.name(scope_spans.scope.name)) if scope_spans.scope.name else None
            for pi, span in enumerate(scope_spans.spans):
                received += 1
                trace_bytes, span_bytes, parent = span.trace_id, span.span_id, span.parent_span_id
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                # The common case first: well-formed ids and times, checked without a call.
                if not (
                    len(trace_bytes) == 16
                    and len(span_bytes) == 8
                    and (not parent or len(parent) == 8)
                    and 0 < start <= end <= MAX_INT64
                    and trace_bytes != _ZERO_TRACE
                    and span_bytes != _ZERO_SPAN
                ):
                    reason = _reject_reason(trace_bytes, span_bytes, parent, start, end)
                    if reason is not None:
                        rejections.add(reason, f"resource_spans[{ri}].scope_spans[{si}].spans[{pi}]")
                        continue
                trace_id = trace_bytes.hex()
                span_id = span_bytes.hex()
                hashed.clear()
                attrs = redactor.attributes(attributes(span.attributes), hashed)
                get = attrs.get
                occurred = get("hc.occurred_at")
                event_time = start
                if occurred is not None:
                    parsed = occurred_at(occurred)
                    if parsed is None:
                        rejections.ignore("hc.occurred_at", "not a time")
                    else:
                        event_time = parsed
                raw_amount = get("hc.amount")
                amount = optional_float(raw_amount)
                if amount is None and raw_amount is not None:
                    rejections.ignore("hc.amount", "not a finite number")
                stage = _text(get("hc.stage"))
                status = span.status
                message = status.message
                kind = span.kind
                code = status.code
                workflow, system = _text(get("hc.workflow")), _text(get("hc.system"))
                message_type, facility = _text(get("hc.message.type")), _text(get("hc.facility"))
                line, denial = _text(get("hc.service_line")), _text(get("hc.denial.code"))
                destination = _text(get("messaging.destination.name"))
                rows.append(
                    (
                        trace_id,
                        span_id,
                        parent.hex() if parent and parent != _ZERO_SPAN else None,
                        clean_text(redactor.name(span.name)),
                        service,
                        KINDS[kind] if 0 <= kind < 6 else "unspecified",
                        start,
                        end,
                        end - start,
                        event_time,
                        STATUS_CODES[code] if 0 <= code < 3 else "unset",
                        clean_text(redactor.message(message)) if message else None,
                        json_text(_unlift(attrs, amount)),
                        resource_json,
                        _events(span, redactor) if span.events else None,
                        _links(span, redactor) if span.links else None,
                        scope_name,
                        workflow,
                        stage,
                        system,
                        message_type,
                        facility,
                        line,
                        amount,
                        denial,
                        destination,
                        received_at_unix_nano,
                        1,  # sample_weight: the span stands for itself
                    )
                )
                for key, value in hashed:
                    name = clean_text(key[len(HASHED_KEY_PREFIX) :])[:_KEY_NAME_MAX]
                    keys.append((name, value, trace_id, span_id, stage, event_time))
    out.received = received
    return out


__all__ = ["KINDS", "MAX_INT64", "STATUS_CODES", "ConvertedSpans", "convert_spans", "occurred_at"]

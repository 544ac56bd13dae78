"""One bad value never loses the good ones: a malformed business attribute keeps its span.

An exporter does not retry a 500 / INTERNAL, so a whole batch would be lost for one value; the
span is stored instead and the answer names the attribute (never its value) in partial_success.
"""

from __future__ import annotations

import socket
from pathlib import Path

import grpc
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.rows import json_object
from collector.service import Collector
from collector.spans import occurred_at
from collector.tables import metric_points, spans, spans_with_resources
from tests.collector.harness import post, running_collector, span_count
from tests.collector.otlp import T0, gauge_request, span, trace_request
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

TOKEN = "billing-token-0123456789abcdef"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

BAD_TIMES: list[object] = ["²", "9" * 5000, float("nan"), float("inf"), float("-inf"), "١٢٣", 10.0**300]


@pytest.mark.parametrize(
    "value", BAD_TIMES, ids=["superscript", "5000-digits", "nan", "inf", "-inf", "arabic", "1e300"]
)
def test_a_malformed_occurred_at_is_no_time(value: object) -> None:
    assert occurred_at(value) is None


def _http(collector: Collector, body: bytes, content_type: str) -> tuple[int, str, int]:
    status, _, answer = post(f"http://127.0.0.1:{collector.http_port}/v1/traces", body, content_type)
    if content_type == "application/json":
        partial = orjson.loads(answer).get("partialSuccess", {}) if status == 200 else {}
        return status, str(partial.get("errorMessage", "")), int(partial.get("rejectedSpans", 0))
    response = (
        ExportTraceServiceResponse.FromString(answer) if status == 200 else ExportTraceServiceResponse()
    )
    return status, response.partial_success.error_message, response.partial_success.rejected_spans


def _grpc(collector: Collector, body: bytes) -> tuple[int, str, int]:
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        response = ExportTraceServiceResponse.FromString(bytes(channel.unary_unary(EXPORT)(body, timeout=30)))
    return 200, response.partial_success.error_message, response.partial_success.rejected_spans


def _json_body(name: str, key: str, value: object) -> bytes:
    attribute: dict[str, object] = {"key": key, "value": {"stringValue": value}}
    if isinstance(value, float):
        attribute["value"] = {"doubleValue": str(value).replace("inf", "Infinity").replace("nan", "NaN")}
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "5b8efff798038103d269b633813fc60c",
                                    "spanId": "eee19b7ec3c1b174",
                                    "name": name,
                                    "startTimeUnixNano": str(T0),
                                    "endTimeUnixNano": str(T0 + 1000),
                                    "attributes": [attribute],
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    )


@pytest.mark.parametrize("transport", ["protobuf", "json", "grpc"])
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("hc.occurred_at", "²"),
        ("hc.occurred_at", "9" * 5000),
        ("hc.occurred_at", float("nan")),
        ("hc.occurred_at", float("inf")),
        ("hc.amount", "lots-of-money"),
        ("hc.amount", float("inf")),
    ],
    ids=["superscript", "5000-digits", "nan", "infinity", "amount-text", "amount-inf"],
)
def test_a_bad_business_value_keeps_the_span_and_is_reported(
    collector: Collector, store: Engine, transport: str, key: str, value: object
) -> None:
    good = span("good neighbour")
    bad = span("bad value", attributes={key: value})
    if transport == "json":
        status, message, rejected = _http(collector, _json_body("bad value", key, value), "application/json")
    else:
        body = trace_request(good, bad).SerializeToString()
        if transport == "grpc":
            status, message, rejected = _grpc(collector, body)
        else:
            status, message, rejected = _http(collector, body, "application/x-protobuf")
    assert status == 200
    assert rejected == 0
    assert key in message
    assert str(value)[:20] not in message
    with store.connect() as conn:
        row = conn.execute(select(spans).where(spans.c.name == "bad value")).mappings().one()
    assert row["event_time_unix_nano"] == T0
    assert row["hc_amount"] is None
    assert span_count(store) == (1 if transport == "json" else 2)


def _raw_http_status(port: int, authorization: bytes, body: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/x-protobuf\r\nAuthorization: "
            + authorization
            + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def test_any_authorization_header_is_401_or_accepted(sqlite_url: str, tmp_path: Path) -> None:
    config = f"tokens:\n  - name: billing\n    token: {TOKEN}\n"
    with running_collector(sqlite_url, tmp_path, config) as running:
        body = trace_request(span("secured")).SerializeToString()
        port = running.http_port
        assert _raw_http_status(port, b"Bearer \xff\xfe\xfd", body) == 401
        assert _raw_http_status(port, b"\xc3\x28 " + TOKEN.encode(), body) == 401
        for scheme in (b"Bearer", b"bearer", b"BEARER"):
            fresh = trace_request(span("secured")).SerializeToString()
            assert _raw_http_status(port, scheme + b" " + TOKEN.encode(), fresh) == 200
        with grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            channel.unary_unary(EXPORT)(body, metadata=(("authorization", f"bEaReR {TOKEN}"),), timeout=30)
        engine = create_engine(sqlite_url)
        assert span_count(engine) == 4
        engine.dispose()


PLANTED = "MRN-4417"


def _spans_json(span_fields: dict[str, object]) -> bytes:
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span_fields]}]}]})


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status"),
    [
        (_spans_json({"startTimeUnixNano": PLANTED}), "application/json", {}, 400),
        (
            _spans_json({"attributes": [{"key": "k", "value": {"intValue": PLANTED}}]}),
            "application/json",
            {},
            400,
        ),
        (_spans_json({"name": {PLANTED: 1}}), "application/json", {}, 400),
        (b'{"' + PLANTED.encode() + b'" 1}', "application/json", {}, 400),
        (PLANTED.encode() * 3, "application/x-protobuf", {}, 400),
        (b"x", f"text/{PLANTED}", {}, 415),
        (b"x", "application/x-protobuf", {"Content-Encoding": PLANTED}, 415),
        (PLANTED.encode(), "application/x-protobuf", {"Content-Encoding": "gzip"}, 400),
    ],
    ids=["json-time", "json-int", "json-name", "json-syntax", "protobuf", "type", "encoding", "gzip"],
)
def test_error_bodies_never_echo_what_was_sent(
    collector: Collector,
    body: bytes,
    content_type: str,
    headers: dict[str, str],
    status: int,
) -> None:
    got, _, answer = post(f"http://127.0.0.1:{collector.http_port}/v1/traces", body, content_type, headers)
    assert got == status
    assert PLANTED.encode() not in answer
    assert PLANTED.lower().encode() not in answer.lower()


def test_a_nul_character_is_stored_alike_on_every_store(collector: Collector, store: Engine) -> None:
    """PostgreSQL's TEXT and JSONB refuse NUL; every store keeps U+FFFD in its place instead."""
    nul = "a\x00b"
    stored = "a\ufffdb"
    traced = span(
        nul,
        attributes={"note": nul, f"key{nul}": 1, "hc.workflow": nul, "nested": {"x": [nul]}},
        message=nul,
    )
    traced.events.add(time_unix_nano=T0, name=nul)
    request = trace_request(traced, service=nul, resource={"site": nul}, scope=nul)
    status, _, _ = post(f"http://127.0.0.1:{collector.http_port}/v1/traces", request.SerializeToString())
    assert status == 200
    points = gauge_request(nul, [(T0, 1.0, {"queue": nul, "label": nul})], service=nul)
    points.resource_metrics[0].scope_metrics[0].metrics[0].unit = nul
    status, _, _ = post(f"http://127.0.0.1:{collector.http_port}/v1/metrics", points.SerializeToString())
    assert status == 200
    with store.connect() as conn:
        row = conn.execute(spans_with_resources()).mappings().one()
        point = conn.execute(select(metric_points)).mappings().one()
    assert (row["name"], row["service_name"], row["scope_name"], row["status_message"]) == (stored,) * 4
    assert row["hc_workflow"] == stored
    attrs = json_object(row["attributes"])
    assert attrs["note"] == stored and attrs[f"key{stored}"] == 1 and attrs["nested"] == {"x": [stored]}
    assert json_object(row["resource_attributes"])["site"] == stored
    assert "\x00" not in str(row["events"]) and stored in str(row["events"])
    assert (point["name"], point["service_name"], point["unit"], point["queue"]) == (stored,) * 4
    assert json_object(point["attributes"]) == {"queue": stored, "label": stored}
    assert json_object(point["resource_attributes"])["service.name"] == stored

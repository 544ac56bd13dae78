"""A bounded fuzz run against a real collector through real sockets: a few hundred mutated and
random bodies over OTLP/HTTP (protobuf and JSON, plain, gzip and deflate, some corrupt) and
OTLP/gRPC, from a seeded generator. Every answer is a 4xx the sender can act on or a 200, never a
5xx / INTERNAL; ``/healthz`` keeps answering; and the valid requests sent in between are stored,
every acknowledged span exactly once."""

from __future__ import annotations

import random
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.body import Encoding
from collector.ingest import Signal
from collector.service import Collector
from collector.tables import spans
from tests.collector.harness import get, post, running_collector
from tests.collector.otlp import T0, span, trace_request
from vitals.kernel.db import create_engine
from vitals.shell.bench.fuzz import fuzz_input

pytestmark = pytest.mark.e2e

SEED = 20261203
HTTP_REQUESTS = 300
GRPC_REQUESTS = 120
#: Small, so that a decompression bomb is cheap to make.
MAX_BODY = 1 << 20
CONFIG = f"limits:\n  max_body: {MAX_BODY}\n  max_in_flight: {8 * MAX_BODY}\n"
VALID_SERVICE = "fuzz-valid"
HTTP_ANSWERS = {200, 400, 413, 415}
GRPC_ANSWERS = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
PATHS = {Signal.TRACES: "/v1/traces", Signal.METRICS: "/v1/metrics"}
GRPC_METHODS = {
    Signal.TRACES: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    Signal.METRICS: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}


@pytest.fixture
def fuzzed(store_url: str, tmp_path: Path) -> Iterator[tuple[Collector, Engine]]:
    engine = create_engine(store_url)
    with running_collector(store_url, tmp_path, CONFIG) as collector:
        yield collector, engine
    engine.dispose()


def valid_body() -> bytes:
    """Three ordinary spans of the service whose rows are counted at the end."""
    request = trace_request(*(span(f"valid {i}") for i in range(3)), service=VALID_SERVICE)
    return request.SerializeToString()


def encoded(rng: random.Random, body: bytes) -> tuple[bytes, dict[str, str]]:
    """The body as sent: plain, gzip, deflate, a corrupt or truncated stream, a bomb, or with an
    encoding or a content type the collector does not speak."""
    kind = rng.randrange(10)
    if kind == 0:
        return zlib.compress(body), {"Content-Encoding": "deflate"}
    if kind in (1, 2):
        data = zlib.compress(body, wbits=31)
        if kind == 2:
            cut = rng.randrange(len(data))
            data = (
                data[:cut] + bytes([data[cut] ^ 0x55]) + data[cut + 1 :] if rng.random() < 0.5 else data[:cut]
            )
        return data, {"Content-Encoding": "gzip"}
    if kind == 3:
        return zlib.compress(bytes(MAX_BODY + 1), wbits=31), {"Content-Encoding": "gzip"}
    if kind == 4:
        return body, {"Content-Encoding": "br"}
    if kind == 5:
        return body, {"Content-Type": rng.choice(["text/plain", "application/grpc", ""])}
    return body, {}


def test_fuzzed_requests_get_4xx_never_5xx_and_every_acknowledged_span_is_stored(
    fuzzed: tuple[Collector, Engine],
) -> None:
    collector, engine = fuzzed
    rng = random.Random(SEED)
    base = f"http://127.0.0.1:{collector.http_port}"
    answers: Counter[str] = Counter()
    acknowledged = 0
    for i in range(HTTP_REQUESTS):
        if i % 10 == 0:
            status, _, _ = post(f"{base}/v1/traces", valid_body())
            assert status == 200
            acknowledged += 3
            continue
        body, encoding, signal = fuzz_input(rng)
        data, headers = encoded(rng, body)
        content_type = headers.pop("Content-Type", encoding.value)
        status, _, answer = post(f"{base}{PATHS[signal]}", data, content_type, headers)
        assert status in HTTP_ANSWERS, (i, status, answer[:200])
        answers[f"http {status}"] += 1
        if i % 25 == 0:
            assert get(f"{base}/healthz")[0] == 200

    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        for i in range(GRPC_REQUESTS):
            if i % 10 == 0:
                channel.unary_unary(GRPC_METHODS[Signal.TRACES])(valid_body(), timeout=60)
                acknowledged += 3
                continue
            body, encoding, signal = fuzz_input(rng)
            if encoding is not Encoding.PROTOBUF:
                body = rng.randbytes(len(body) % 512)
            try:
                channel.unary_unary(GRPC_METHODS[signal])(body, timeout=60)
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
            assert code in GRPC_ANSWERS, (i, code)
            answers[f"grpc {code.name}"] += 1

    assert get(f"{base}/healthz")[0] == 200
    # Each kind of answer was met, so the run tried what it says it tried.
    assert {"http 200", "http 400", "http 413", "http 415", "grpc OK", "grpc INVALID_ARGUMENT"} <= set(
        answers
    )
    with engine.connect() as conn:
        stored = conn.execute(
            select(func.count()).select_from(spans).where(spans.c.service_name == VALID_SERVICE)
        ).scalar_one()
    assert stored == acknowledged


def deep_protobuf() -> bytes:
    """A span whose attribute nests 48 arrays: protobuf builds it, and refuses to read it back."""
    value = AnyValue(string_value="leaf")
    for _ in range(48):
        outer = AnyValue()
        outer.array_value.values.append(value)
        value = outer
    deep = span("deep")
    deep.attributes.append(KeyValue(key="a", value=value))
    return trace_request(deep).SerializeToString()


def deep_json(depth: int) -> bytes:
    value = '{"arrayValue":{"values":[' * depth + '{"stringValue":"x"}' + "]}}" * depth
    deep = {
        "traceId": "01" * 16,
        "spanId": "02" * 8,
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 1),
        "attributes": [{"key": "a", "value": "VALUE"}],
    }
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [deep]}]}]}
    return orjson.dumps(document).replace(b'"VALUE"', value.encode())


def test_a_request_nested_too_deeply_is_a_400_that_says_so(fuzzed: tuple[Collector, Engine]) -> None:
    collector, _ = fuzzed
    url = f"http://127.0.0.1:{collector.http_port}/v1/traces"
    for body, content_type in [
        (deep_protobuf(), "application/x-protobuf"),
        (deep_json(60), "application/json"),
        (deep_json(5000), "application/json"),
    ]:
        status, _, answer = post(url, body, content_type)
        assert status == 400
        assert b"nested too deeply" in answer
    with (
        grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        channel.unary_unary(GRPC_METHODS[Signal.TRACES])(deep_protobuf(), timeout=60)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "nested too deeply" in (refused.value.details() or "")
    assert get(f"http://127.0.0.1:{collector.http_port}/healthz")[0] == 200

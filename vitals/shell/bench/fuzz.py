"""``vitals bench fuzz``: decoding, conversion and redaction of adversarial requests, per MiB.

Every shape of hostile request is built at each size (default 64 KiB to 4 MiB) in OTLP protobuf
and OTLP/JSON and run through what the collector does with a body it has read: decode, convert,
redact (``Ingest.convert`` with the default redaction policy, no store). The figure is the time
per MiB of body, so a shape whose cost grows faster than its size shows as a rate that rises with
the size; linear work keeps it flat. ``--seconds`` adds a bounded random fuzz run (mutated and
random bodies from the seeded generator) that counts the inputs tried, refused and stored, and
the crashes: an exception other than ``Undecodable`` would be a 500 to the sender.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import orjson
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client import CollectorRegistry

from collector.body import Encoding
from collector.ingest import Ingest, Signal, Undecodable, decode
from collector.redaction import RedactionPolicy, Redactor
from collector.self_metrics import CollectorMetrics
from collector.sink import InMemorySink
from collector.writer import GroupCommitWriter
from vitals.kernel.units import parse_size
from vitals.shell.bench.common import BENCH_SECRET, Figure, Stopwatch, out_option, report, say

MIB = 1 << 20
#: A fixed span start (2025-06-15), so bodies are the same for a seed whatever the date.
T0 = 1_750_000_000_000_000_000
#: Nesting that protobuf still accepts (it stops at 100 levels of messages).
KVLIST_DEPTH = 28
ARRAY_DEPTH = 44


# -- shapes ---------------------------------------------------------------------------------------


def _value(python: Any) -> AnyValue:
    out = AnyValue()
    if isinstance(python, str):
        out.string_value = python
    elif isinstance(python, bool):
        out.bool_value = python
    elif isinstance(python, int):
        out.int_value = python
    elif isinstance(python, float):
        out.double_value = python
    elif isinstance(python, list):
        out.array_value.values.extend(_value(item) for item in python)
    else:
        out.kvlist_value.values.extend(KeyValue(key=k, value=_value(v)) for k, v in python.items())
    return out


def _span(i: int, attributes: dict[str, Any], name: str = "fuzz") -> Span:
    span = Span(
        trace_id=i.to_bytes(8, "big") + b"\x01" * 8,
        span_id=(i + 1).to_bytes(8, "big"),
        name=name,
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=T0 + i,
        end_time_unix_nano=T0 + i + 1000,
    )
    span.attributes.extend(KeyValue(key=k, value=_value(v)) for k, v in attributes.items())
    return span


def _request(spans: Sequence[Span]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=AnyValue(string_value="fuzz"))
    resource_spans.scope_spans.add().spans.extend(spans)
    return request


def _nested(depth: int, wrap: Callable[[Any], Any]) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = wrap(value)
    return value


def _repeat(size: int, unit: Callable[[int], Span]) -> ExportTraceServiceRequest:
    """As many spans made by ``unit`` as fit in ``size`` bytes of protobuf."""
    one = len(_request([unit(0)]).SerializeToString())
    return _request([unit(i) for i in range(max(1, size // one))])


def deep_kvlists(size: int) -> ExportTraceServiceRequest:
    return _repeat(size, lambda i: _span(i, {"deep": _nested(KVLIST_DEPTH, lambda v: {"k": v})}))


def deep_arrays(size: int) -> ExportTraceServiceRequest:
    return _repeat(size, lambda i: _span(i, {"deep": _nested(ARRAY_DEPTH, lambda v: [v])}))


def tiny_attributes(size: int) -> ExportTraceServiceRequest:
    count = max(1, size // 12)
    return _request([_span(0, {f"k{i}": "v" for i in range(count)})])


def giant_attribute(size: int) -> ExportTraceServiceRequest:
    """One attribute of ``a@`` repeated: what once made the e-mail detector quadratic."""
    return _request([_span(0, {"note": ("a@" * (size // 2 + 1))[:size]})])


def many_spans(size: int) -> ExportTraceServiceRequest:
    return _repeat(size, lambda i: _span(i, {"hc.stage": "registered", "http.route": f"/r/{i}"}, f"op {i}"))


def long_keys(size: int) -> ExportTraceServiceRequest:
    key = 4096
    count = max(1, size // (key + 8))
    return _request([_span(0, {f"{i:08d}" + "k" * key: "v" for i in range(count)})])


def identifier_text(size: int) -> ExportTraceServiceRequest:
    """Attributes dense with identifiers: every few bytes a candidate the redactor replaces."""
    line = "Patient: DOE^JANE MRN: QZ88421X DOB 04/12/1961 call (555) 867-5309 "
    return _repeat(size, lambda i: _span(i, {"note": line * 4}))


#: name -> builder of a request of about the given size in protobuf.
SHAPES: dict[str, Callable[[int], ExportTraceServiceRequest]] = {
    "deep kvlists": deep_kvlists,
    "deep arrays": deep_arrays,
    "many tiny attributes": tiny_attributes,
    "one giant attribute": giant_attribute,
    "many spans": many_spans,
    "long keys": long_keys,
    "identifier-dense text": identifier_text,
}


def _json_of(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON of a request (hex ids, int64 as strings), as exporters write it."""

    def value(v: AnyValue) -> dict[str, Any]:
        kind = v.WhichOneof("value")
        if kind == "array_value":
            return {"arrayValue": {"values": [value(x) for x in v.array_value.values]}}
        if kind == "kvlist_value":
            return {"kvlistValue": {"values": [kv(x) for x in v.kvlist_value.values]}}
        if kind == "int_value":
            return {"intValue": str(v.int_value)}
        if kind == "double_value":
            return {"doubleValue": v.double_value}
        if kind == "bool_value":
            return {"boolValue": v.bool_value}
        return {"stringValue": v.string_value}

    def kv(pair: KeyValue) -> dict[str, Any]:
        return {"key": pair.key, "value": value(pair.value)}

    resource_spans = []
    for rs in request.resource_spans:
        scope_spans = []
        for ss in rs.scope_spans:
            spans = [
                {
                    "traceId": s.trace_id.hex(),
                    "spanId": s.span_id.hex(),
                    "name": s.name,
                    "kind": s.kind,
                    "startTimeUnixNano": str(s.start_time_unix_nano),
                    "endTimeUnixNano": str(s.end_time_unix_nano),
                    "attributes": [kv(a) for a in s.attributes],
                }
                for s in ss.spans
            ]
            scope_spans.append({"spans": spans})
        resource_spans.append(
            {"resource": {"attributes": [kv(a) for a in rs.resource.attributes]}, "scopeSpans": scope_spans}
        )
    return orjson.dumps({"resourceSpans": resource_spans})


def huge_numbers_json(size: int) -> bytes:
    """OTLP/JSON whose attribute values are numbers of hundreds of digits, as JSON numbers and as
    text (``hc.amount`` and ``hc.occurred_at`` are parsed by the converter)."""
    digits = "9" * 300
    attributes = (
        f'{{"key":"a","value":{{"doubleValue":0.{digits}}}}},'
        f'{{"key":"b","value":{{"doubleValue":{digits}e-300}}}},'
        '{"key":"c","value":{"intValue":"9223372036854775807"}},'
        f'{{"key":"hc.amount","value":{{"stringValue":"{digits}"}}}},'
        f'{{"key":"hc.occurred_at","value":{{"stringValue":"{digits}"}}}}'
    )
    ids = f'"traceId":"{"01" * 16}","startTimeUnixNano":"{T0}","endTimeUnixNano":"{T0 + 1}"'
    template = f'{{{ids},"spanId":"%016x","name":"n","attributes":[{attributes}]}}'
    count = max(1, size // len(template % 1))
    spans = ",".join(template % (i + 1) for i in range(count))
    return f'{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{spans}]}}]}}]}}'.encode()


# -- the measured step ----------------------------------------------------------------------------


def make_ingest() -> Ingest:
    """The collector's decode -> convert + redact step with the default policy; no store."""
    writer = GroupCommitWriter(InMemorySink(), max_in_flight_bytes=1 << 30)
    return Ingest(
        Redactor(RedactionPolicy(), BENCH_SECRET.encode()), writer, CollectorMetrics(CollectorRegistry())
    )


def run_once(ingest: Ingest, body: bytes, encoding: Encoding, signal: Signal = Signal.TRACES) -> str:
    """``stored N``, ``rejected N`` or ``400``: what the sender would be told."""
    try:
        request = decode(signal, body, encoding)
    except Undecodable:
        return "400"
    _, received, rejections = ingest.convert(signal, request)
    return f"{received - rejections.total} stored" + (
        f", {rejections.total} rejected" if rejections.total else ""
    )


def seconds_per_mib(body: bytes, encoding: Encoding) -> tuple[float, str]:
    """Seconds per MiB of body: the best of a few runs of small bodies, one of large ones, each on
    a new redactor (its caches cold, as for a sender who never repeats itself)."""
    runs = max(1, min(5, (4 * MIB) // max(1, len(body))))
    best = float("inf")
    answer = ""
    for _ in range(runs):
        ingest = make_ingest()
        watch = Stopwatch()
        answer = run_once(ingest, body, encoding)
        best = min(best, watch.seconds)
    return best / (len(body) / MIB), answer


# -- random fuzzing -------------------------------------------------------------------------------


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randint(0, len(out))
        op = rng.randrange(4)
        if op == 0 and i < len(out):
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[i:i] = rng.randbytes(rng.randint(1, 6))
        elif op == 2:
            del out[i : i + rng.randint(1, 4)]
        else:
            out[i:i] = out[max(0, i - 16) : i]  # a repeated run, as a corrupt length would read
    return bytes(out)


_ODD = ["", "\x00", "\ufffd", "\U0001f600", "MRN: QZ88421X", "123-45-6789", "a@b.co", "9" * 40, "NaN"]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 4 else 5)
    if kind == 0:
        return rng.choice(_ODD) + "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 8)))
    if kind == 1:
        return rng.randint(-(2**63), 2**63 - 1)
    if kind == 2:
        return rng.choice([0.0, -0.0, 1e308, float("nan"), float("inf"), rng.random()])
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return rng.choice(_ODD)
    if kind == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(_ODD) + str(i): _random_value(rng, depth + 1) for i in range(rng.randint(0, 3))}


def random_request(rng: random.Random) -> ExportTraceServiceRequest:
    spans = []
    for _ in range(rng.randint(1, 4)):
        span = _span(
            rng.randint(0, 2**40),
            {rng.choice(_ODD) + f"k{j}": _random_value(rng) for j in range(rng.randint(0, 5))},
        )
        if rng.random() < 0.2:
            span.trace_id = rng.randbytes(rng.choice([0, 8, 15, 16, 17]))
        if rng.random() < 0.2:
            span.end_time_unix_nano = rng.choice([0, 2**63, 2**64 - 1])
        span.name = rng.choice(_ODD)
        spans.append(span)
    return _request(spans)


def fuzz_input(rng: random.Random) -> tuple[bytes, Encoding, Signal]:
    """One random input: a mutated valid request (protobuf or JSON), random bytes, or random JSON."""
    kind = rng.randrange(5)
    request = random_request(rng)
    if kind == 0:
        return _mutate(rng, request.SerializeToString()), Encoding.PROTOBUF, Signal.TRACES
    if kind == 1:
        return _mutate(rng, _json_of(request)), Encoding.JSON, Signal.TRACES
    if kind == 2:
        encoding = rng.choice([Encoding.PROTOBUF, Encoding.JSON])
        return rng.randbytes(rng.randint(0, 256)), encoding, rng.choice([Signal.TRACES, Signal.METRICS])
    if kind == 3:
        metrics = ExportMetricsServiceRequest()
        metric = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name=rng.choice(_ODD))
        point = metric.gauge.data_points.add(time_unix_nano=rng.choice([0, T0, 2**64 - 1]))
        point.as_double = rng.choice([float("nan"), 1.0, -1e308])
        return _mutate(rng, metrics.SerializeToString()), Encoding.PROTOBUF, Signal.METRICS
    return _json_of(request), Encoding.JSON, Signal.TRACES


def random_fuzz(ingest: Ingest, seconds: float, seed: int) -> Counter[str]:
    """Random inputs for ``seconds``: counts of tried, refused (400), stored and crashed."""
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body, encoding, signal = fuzz_input(rng)
        counts["tried"] += 1
        try:
            answer = run_once(ingest, body, encoding, signal)
        except Exception as exc:  # the bug this run looks for: a 500 to the sender
            counts["crashes"] += 1
            if counts["crashes"] <= 5:
                say(f"crash: {type(exc).__name__} on a {len(body)}-byte {encoding.name} body (seed {seed})")
            continue
        counts["undecodable (400)" if answer == "400" else "decoded"] += 1
    counts.setdefault("crashes", 0)
    return counts


def _as_protobuf(build: Callable[[int], ExportTraceServiceRequest]) -> Callable[[int], bytes]:
    return lambda size: build(size).SerializeToString()


def _as_json(build: Callable[[int], ExportTraceServiceRequest]) -> Callable[[int], bytes]:
    """The shape in OTLP/JSON at about ``size`` bytes of JSON (it is larger than protobuf)."""

    def json_body(size: int) -> bytes:
        body = _json_of(build(size))
        return _json_of(build(size * size // len(body))) if len(body) > size * 1.1 else body

    return json_body


@click.command()
@click.option(
    "--sizes",
    default="64KiB,256KiB,1MiB,4MiB",
    show_default=True,
    help="Body sizes to build each shape at (comma-separated; KiB and MiB are powers of two).",
)
@click.option(
    "--seconds",
    type=float,
    default=0.0,
    show_default=True,
    help="Also run random fuzzing (mutated and random bodies) for this long and count crashes.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the random fuzz inputs.")
@out_option()
def fuzz(sizes: str, seconds: float, seed: int, out: Path | None) -> None:
    """Time per MiB to decode, convert and redact adversarial requests at growing sizes."""
    try:
        chosen = [(part.strip(), parse_size(part.strip())) for part in sizes.split(",") if part.strip()]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sizes") from None
    figures: list[Figure] = []
    builders: list[tuple[str, Callable[[int], bytes], Encoding]] = []
    for shape, request_of in SHAPES.items():
        builders.append((f"{shape}, protobuf", _as_protobuf(request_of), Encoding.PROTOBUF))
        builders.append((f"{shape}, JSON", _as_json(request_of), Encoding.JSON))
    builders.append(("huge numbers, JSON", huge_numbers_json, Encoding.JSON))
    for measure, build, encoding in builders:
        first = ""
        for label, size in chosen:
            say(f"{measure} at {label} ...")
            body = build(size)
            rate, answer = seconds_per_mib(body, encoding)
            name = f"{measure} @ {label}"
            first = first or name
            figures.append(
                Figure(
                    name,
                    rate * 1000,
                    "ms/MiB",
                    digits=0,
                    detail=f"{len(body) / MIB:.2f} MiB, {answer}",
                    reference="" if name == first else first,
                )
            )
    parameters: dict[str, Any] = {"sizes": sizes, "seconds": seconds, "seed": seed}
    if seconds > 0:
        say(f"random fuzzing for {seconds:g} s (seed {seed}) ...")
        counts = random_fuzz(make_ingest(), seconds, seed)
        for key in ("tried", "undecodable (400)", "decoded", "crashes"):
            figures.append(
                Figure(f"random fuzz: {key}", counts[key], "inputs", detail=f"{seconds:g} s, seed {seed}")
            )
        report(figures, out, parameters)
        if counts["crashes"]:
            raise click.ClickException(f"{counts['crashes']} inputs crashed the decoder or converter")
        return
    report(figures, out, parameters)


__all__ = ["SHAPES", "fuzz", "fuzz_input", "huge_numbers_json", "make_ingest", "random_fuzz", "run_once"]

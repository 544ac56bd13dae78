"""The load the ingest benchmarks send, and what they compare it with.

Shared by ``vitals bench ingest``, ``scale`` and ``soak``: realistic OTLP/HTTP requests of the
demo estate (generated before anything is timed), the two in-process references (decode and
convert; insert only, with the collector's own SQL sink), and the client processes that POST the
requests and count what was acknowledged.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.redaction import RedactionPolicy, Redactor
from collector.rows import WriteBatch
from collector.spans import convert_spans
from collector.sql_sink import SqlSink
from vitals.shell.bench.common import BENCH_SECRET, Stopwatch, migrated_engine

#: (service, span name, hc.stage, hc.message.type, queue, correlation keys)
_OPERATIONS = (
    ("ehr", "ehr.procedure.document", "procedure.documented", None, None, ("encounter", "charge")),
    (
        "integration-engine",
        "HL7 ADT^A01 process",
        "encounter.admitted",
        "ADT^A01",
        "adt-inbound",
        ("encounter",),
    ),
    ("integration-engine", "HL7 DFT^P03 process", "charge.sent", "DFT^P03", "charges-outbound", ("charge",)),
    ("billing", "billing.charge.post", "charge.posted", None, "charges-outbound", ("charge", "encounter")),
    (
        "clearinghouse",
        "clearinghouse.claim.submit",
        "claim.submitted",
        "X12-837",
        "claims-outbound",
        ("claim",),
    ),
    ("payer-gateway", "payer.eligibility.check", "eligibility.checked", "X12-270", None, ("encounter",)),
    ("erp-finance", "erp.gl.post", "gl.posted", None, "gl-postings", ("claim",)),
    ("erp-supply", "erp.inventory.adjust", "inventory.adjusted", None, "inventory-sync", ("item",)),
)
_FACILITIES = ("north-campus", "south-campus", "lakeside-asc")
_LINES = ("cardiology", "orthopedics", "general-surgery", "emergency", "oncology", "imaging")


def make_request(seed: int, spans: int) -> bytes:
    """One OTLP/HTTP protobuf body: ``spans`` spans of one service, deterministic for ``seed``."""
    rng = random.Random(seed)
    service, name, stage, message_type, queue_name, keys = _OPERATIONS[seed % len(_OPERATIONS)]
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    for key, value in (
        ("service.name", service),
        ("service.version", "4.2.1"),
        ("service.instance.id", f"{service}-{seed % 3}"),
        ("host.name", f"{service}-0{seed % 3}.corp.example"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.language", "python"),
        ("deployment.environment", "production"),
    ):
        kv = resource_spans.resource.attributes.add()
        kv.key, kv.value.string_value = key, value
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "vitals.bench"
    base = 1_750_000_000_000_000_000 + seed * 1_000_000_000
    for i in range(spans):
        span = scope_spans.spans.add()
        span.trace_id = rng.randbytes(16)
        span.span_id = rng.randbytes(8)
        span.parent_span_id = rng.randbytes(8)
        span.name = name
        span.kind = Span.SPAN_KIND_SERVER if i % 3 else Span.SPAN_KIND_CONSUMER
        span.start_time_unix_nano = base + i * 1_000_000
        span.end_time_unix_nano = span.start_time_unix_nano + rng.randint(1_000_000, 900_000_000)
        span.status.code = Status.STATUS_CODE_ERROR if rng.random() < 0.01 else Status.STATUS_CODE_OK
        attrs: list[tuple[str, Any]] = [
            ("hc.workflow", "patient-to-cash"),
            ("hc.stage", stage),
            ("hc.system", service.split("-")[0]),
            ("hc.facility", rng.choice(_FACILITIES)),
            ("hc.service_line", rng.choice(_LINES)),
            ("hc.amount", f"{rng.randint(20, 9000)}.{rng.randint(0, 99):02d}"),
            ("net.peer.name", f"{service}-db.corp.example"),
            ("code.function", f"handle_{stage.replace('.', '_')}"),
            ("thread.id", rng.randint(1, 64)),
            ("retry.count", rng.randint(0, 2)),
        ]
        if message_type:
            attrs.append(("hc.message.type", message_type))
        if queue_name:
            attrs += [
                ("messaging.system", "rabbitmq"),
                ("messaging.destination.name", queue_name),
                ("messaging.operation.type", "process"),
            ]
        for key in keys:
            attrs.append((f"hc.key.{key}", f"{key.upper()}-{rng.randint(0, 10**9):09d}"))
        for key, value in attrs:
            kv = span.attributes.add()
            kv.key = key
            if isinstance(value, int):
                kv.value.int_value = value
            else:
                kv.value.string_value = value
    return request.SerializeToString()


def renewed(template: ExportTraceServiceRequest, rng: random.Random, start_ns: int) -> bytes:
    """``template`` with new trace and span ids and its spans moved to start at ``start_ns``: a
    request never sent before, at a fraction of ``make_request``'s cost (for paced clients)."""
    request = ExportTraceServiceRequest()
    request.CopyFrom(template)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for i, span in enumerate(scope_spans.spans):
                duration = span.end_time_unix_nano - span.start_time_unix_nano
                span.trace_id = rng.randbytes(16)
                span.span_id = rng.randbytes(8)
                span.start_time_unix_nano = start_ns + i * 1_000_000
                span.end_time_unix_nano = span.start_time_unix_nano + duration
    return request.SerializeToString()


def make_requests(count: int, spans: int, first_seed: int = 0) -> list[bytes]:
    return [make_request(first_seed + i, spans) for i in range(count)]


# -- references --------------------------------------------------------------------------------

# -- references --------------------------------------------------------------------------------


def convert_reference(requests: list[bytes]) -> tuple[float, list[WriteBatch]]:
    redactor = Redactor(RedactionPolicy(), BENCH_SECRET.encode())
    watch = Stopwatch()
    batches = [
        convert_spans(ExportTraceServiceRequest.FromString(body), redactor, time.time_ns()).batch
        for body in requests
    ]
    return watch.seconds, batches


def insert_reference(url: str, batches: list[WriteBatch], per_commit: int) -> float:
    with migrated_engine(url) as engine:
        sink = SqlSink(engine)
        try:
            groups: list[WriteBatch] = []
            for batch in batches:
                if not groups or len(groups[-1].spans) >= per_commit:
                    groups.append(WriteBatch())
                groups[-1].extend(batch)
            watch = Stopwatch()
            for group in groups:
                sink.write(group)
            return watch.seconds
        finally:
            sink.close()


# -- clients -----------------------------------------------------------------------------------


@dataclass
class ClientResult:
    acked_spans: int
    requests: int
    retries: int
    latencies: list[float]


async def drive(url: str, bodies: list[bytes], spans_per_request: int, concurrency: int) -> ClientResult:
    import aiohttp

    result = ClientResult(0, 0, 0, [])
    pending: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        pending.put_nowait(body)
    headers = {"Content-Type": "application/x-protobuf"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            while not pending.empty():
                body = pending.get_nowait()
                while True:
                    started = time.perf_counter()
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        if response.status == 200:
                            result.latencies.append(time.perf_counter() - started)
                            result.acked_spans += spans_per_request
                            result.requests += 1
                            break
                        if response.status not in (429, 503):
                            raise RuntimeError(f"unexpected status {response.status}")
                        result.retries += 1
                        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result


def client_process(
    url: str, seeds: list[int], spans: int, concurrency: int, sync: tuple[Any, Any, Any]
) -> None:
    ready, go, out = sync
    bodies = [make_request(seed, spans) for seed in seeds]
    ready.release()
    go.wait()
    out.put(asyncio.run(drive(url, bodies, spans, concurrency)))


def check_clients(workers: list[Any]) -> None:
    failed = [worker for worker in workers if worker.exitcode not in (None, 0)]
    if failed:
        for worker in workers:
            worker.kill()
        raise click.ClickException(f"{len(failed)} client process(es) failed (see their traceback above)")


def run_clients(
    target: str,
    seeds: list[int],
    spans: int,
    *,
    clients: int,
    concurrency: int,
    before_go: Callable[[], object] | None = None,
) -> tuple[float, list[ClientResult]]:
    """POST the requests of ``seeds`` to ``target`` from ``clients`` processes, ``concurrency`` in
    flight each, as fast as they are acknowledged: the seconds from the start signal to the last
    answer, and what each client counted. The clients generate their requests before the start;
    ``before_go`` runs just before it (to read the collector's CPU time, say)."""
    mp = multiprocessing.get_context("spawn")
    ready, go, out = mp.Semaphore(0), mp.Event(), mp.Queue()
    workers = [
        mp.Process(
            target=client_process, args=(target, seeds[i::clients], spans, concurrency, (ready, go, out))
        )
        for i in range(clients)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        while not ready.acquire(timeout=1):
            check_clients(workers)
    if before_go is not None:
        before_go()
    watch = Stopwatch()
    go.set()
    results: list[ClientResult] = []
    while len(results) < len(workers):
        try:
            results.append(out.get(timeout=1))
        except queue.Empty:
            check_clients(workers)
    seconds = watch.seconds
    for worker in workers:
        worker.join()
    return seconds, results


def percentile_ms(latencies: list[float], share: float) -> float:
    """The ``share`` (0.5, 0.99) percentile of latencies in seconds, in milliseconds (0 if none)."""
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else 0.0


__all__ = [
    "ClientResult",
    "check_clients",
    "client_process",
    "convert_reference",
    "drive",
    "insert_reference",
    "make_request",
    "make_requests",
    "percentile_ms",
    "renewed",
    "run_clients",
]

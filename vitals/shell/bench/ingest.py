"""``vitals bench ingest``: how fast OTLP/HTTP spans reach the store, against two references.

1. *decode + convert*: the collector's own decode, conversion and redaction of the same requests,
   in this process, with no HTTP and no database;
2. *insert only*: the rows that conversion produced, written with the collector's SQL sink into a
   fresh store with the same schema, in transactions of ``--insert-batch`` spans;
3. *end to end*: a ``vitals serve`` subprocess on a fresh store, driven by separate client
   processes that POST the same requests as OTLP/HTTP protobuf and count what was acknowledged
   (200); the store is checked to hold exactly that many spans afterwards.

The requests are generated before anything is timed: realistic integration spans of the demo
estate (12-15 attributes, hc.* business attributes and correlation keys), 512 per request like the
SDK's BatchSpanProcessor.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.redaction import RedactionPolicy, Redactor
from collector.rows import WriteBatch
from collector.spans import convert_spans
from collector.sql_sink import SqlSink
from simulator.options import seed_option
from vitals.shell.bench.common import (
    BENCH_SECRET,
    Figure,
    Stopwatch,
    children,
    collector_process,
    cpu_seconds,
    db_option,
    fresh_store,
    migrated_engine,
    out_option,
    peak_rss_kib,
    report,
    say,
    scratch_dir,
    store_kind,
    stored_spans,
)

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


def make_requests(count: int, spans: int, first_seed: int = 0) -> list[bytes]:
    return [make_request(first_seed + i, spans) for i in range(count)]


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


# -- end to end --------------------------------------------------------------------------------


@dataclass
class ClientResult:
    acked_spans: int
    requests: int
    retries: int
    latencies: list[float]


async def _drive(url: str, bodies: list[bytes], spans_per_request: int, concurrency: int) -> ClientResult:
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


def _client_process(
    url: str, seeds: list[int], spans: int, concurrency: int, sync: tuple[Any, Any, Any]
) -> None:
    ready, go, out = sync
    bodies = [make_request(seed, spans) for seed in seeds]
    ready.release()
    go.wait()
    out.put(asyncio.run(_drive(url, bodies, spans, concurrency)))


def _check_clients(workers: list[Any]) -> None:
    failed = [worker for worker in workers if worker.exitcode not in (None, 0)]
    if failed:
        for worker in workers:
            worker.kill()
        raise click.ClickException(f"{len(failed)} client process(es) failed (see their traceback above)")


@dataclass
class EndToEnd:
    seconds: float
    acked_spans: int
    stored_spans: int
    retries: int
    #: Peak RSS of the collector's processes: the receiver and its store writer child.
    peak_rss_kib: tuple[int, int]
    #: CPU seconds the receiver and the writer used during the run.
    cpu_seconds: tuple[float, float]
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.acked_spans / self.seconds


def end_to_end(
    url: str, workdir: Path, *, seeds: list[int], spans: int, clients: int, concurrency: int
) -> EndToEnd:
    with collector_process(url, workdir) as collector:
        server = collector.process
        mp = multiprocessing.get_context("spawn")
        ready, go, out = mp.Semaphore(0), mp.Event(), mp.Queue()
        target = f"{collector.http_base}/v1/traces"
        workers = [
            mp.Process(
                target=_client_process,
                args=(target, seeds[i::clients], spans, concurrency, (ready, go, out)),
            )
            for i in range(clients)
        ]
        for worker in workers:
            worker.start()
        for _ in workers:
            while not ready.acquire(timeout=1):
                _check_clients(workers)
        (writer,) = children(server.pid)
        cpu_before = (cpu_seconds(server.pid), cpu_seconds(writer))
        watch = Stopwatch()
        go.set()
        results: list[ClientResult] = []
        while len(results) < len(workers):
            try:
                results.append(out.get(timeout=1))
            except queue.Empty:
                _check_clients(workers)
        seconds = watch.seconds
        cpu = (cpu_seconds(server.pid) - cpu_before[0], cpu_seconds(writer) - cpu_before[1])
        for worker in workers:
            worker.join()
        rss = (peak_rss_kib(server.pid), peak_rss_kib(writer))
    latencies = sorted(lat for result in results for lat in result.latencies)
    return EndToEnd(
        seconds=seconds,
        acked_spans=sum(r.acked_spans for r in results),
        stored_spans=stored_spans(url),
        retries=sum(r.retries for r in results),
        peak_rss_kib=rss,
        cpu_seconds=cpu,
        p50_ms=latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
    )


def _say_run(run: int, result: EndToEnd, total: int) -> None:
    receiver_rss, writer_rss = result.peak_rss_kib
    receiver_cpu, writer_cpu = result.cpu_seconds
    say(
        f"  end to end run {run}: {result.rate:,.0f} spans/s; acknowledged {result.acked_spans:,}, "
        f"stored {result.stored_spans:,}, {result.retries} retried (503); latency p50 "
        f"{result.p50_ms:.0f} ms, p99 {result.p99_ms:.0f} ms; peak RSS receiver "
        f"{receiver_rss / 1024:.0f} MiB + writer {writer_rss / 1024:.0f} MiB; CPU per span receiver "
        f"{receiver_cpu / total * 1e6:.1f} us, writer {writer_cpu / total * 1e6:.1f} us"
    )


def figures_of(
    *, kind: str, total: int, insert_batch: int, convert_s: float, insert_s: float, runs: list[EndToEnd]
) -> list[Figure]:
    """The table: the two references, then the end-to-end runs' median compared with the slower."""
    convert_rate, insert_rate = total / convert_s, total / insert_s
    slower_name, slower = min(
        (("decode + convert", convert_rate), ("insert only", insert_rate)), key=lambda pair: pair[1]
    )
    ordered = sorted(runs, key=lambda run: run.rate)
    middle = ordered[len(ordered) // 2]
    median = statistics.median(run.rate for run in runs)
    receiver_rss = max(run.peak_rss_kib[0] for run in runs) / 1024
    writer_rss = max(run.peak_rss_kib[1] for run in runs) / 1024
    receiver_cpu, writer_cpu = middle.cpu_seconds
    return [
        Figure("decode + convert + redact, 1 thread", convert_rate, "spans/s", reference="a reference"),
        Figure(
            f"insert only, {kind}, {insert_batch} spans/commit",
            insert_rate,
            "spans/s",
            reference="a reference",
        ),
        Figure(
            f"end to end, {kind}, median of {len(runs)}",
            median,
            "spans/s",
            detail=f"best {ordered[-1].rate:,.0f}",
            reference=f"{median / slower:.0%} of the slower reference ({slower_name}, {slower:,.0f} spans/s)",
        ),
        Figure("request latency p50 (median run)", middle.p50_ms, "ms"),
        Figure("request latency p99 (median run)", middle.p99_ms, "ms"),
        Figure(
            "collector peak RSS",
            receiver_rss + writer_rss,
            "MiB",
            detail=f"receiver {receiver_rss:.0f} + store writer {writer_rss:.0f}",
        ),
        Figure("receiver CPU per span (median run)", receiver_cpu / total * 1e6, "us", digits=1),
        Figure("store writer CPU per span (median run)", writer_cpu / total * 1e6, "us", digits=1),
        Figure(
            "spans stored",
            middle.stored_spans,
            "",
            detail=f"{sum(run.retries for run in runs)} requests retried after 503",
            reference="= spans acknowledged, in every run",
        ),
    ]


@click.command()
@db_option()
@click.option("--requests", "count", default=400, show_default=True, help="Requests to send.")
@click.option("--batch", "spans", default=512, show_default=True, help="Spans per request.")
@click.option("--clients", default=2, show_default=True, help="Client processes.")
@click.option("--concurrency", default=8, show_default=True, help="Requests in flight per client.")
@click.option(
    "--insert-batch",
    default=4096,
    show_default=True,
    help="Spans per transaction in the insert-only reference.",
)
@click.option(
    "--repeat",
    default=3,
    show_default=True,
    type=click.IntRange(1),
    help="End-to-end runs (each on a fresh store); their median is compared with the references.",
)
@seed_option(default=0, help="Seed of the generated requests: the same seed gives the same requests.")
@out_option()
def ingest(
    *,
    db: str,
    count: int,
    spans: int,
    clients: int,
    concurrency: int,
    insert_batch: int,
    repeat: int,
    seed: int,
    out: Path | None,
) -> None:
    """OTLP/HTTP ingest: end-to-end spans/s and the collector's peak RSS, against references.

    The references are decode-and-convert only and insert-only of the same spans.
    """
    total = count * spans
    kind = store_kind(db)
    say(f"generating {count} requests x {spans} spans = {total:,} spans ...")
    requests = make_requests(count, spans, seed)
    megabytes = sum(len(body) for body in requests) / 1e6
    say(f"  {megabytes:.1f} MB of OTLP protobuf ({megabytes * 1e6 / total:.0f} bytes/span)")
    with scratch_dir() as workdir:
        convert_s, batches = convert_reference(requests)
        del requests
        with fresh_store(db, workdir, "insert") as url:
            insert_s = insert_reference(url, batches, insert_batch)
        del batches
        runs: list[EndToEnd] = []
        for run in range(1, repeat + 1):
            with fresh_store(db, workdir, f"e2e{run}") as url:
                result = end_to_end(
                    url,
                    workdir,
                    seeds=list(range(seed, seed + count)),
                    spans=spans,
                    clients=clients,
                    concurrency=concurrency,
                )
            _say_run(run, result, total)
            if result.stored_spans != result.acked_spans:
                raise click.ClickException("the store does not hold exactly the acknowledged spans")
            runs.append(result)
    report(
        figures_of(
            kind=kind,
            total=total,
            insert_batch=insert_batch,
            convert_s=convert_s,
            insert_s=insert_s,
            runs=runs,
        ),
        out,
    )


__all__ = ["ingest", "make_request", "make_requests"]

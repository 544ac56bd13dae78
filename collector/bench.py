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
import contextlib
import multiprocessing
import os
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
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
from vitals.kernel.db import create_engine, migrate, normalize_url

_SECRET = b"vitals-bench-secret-0123456789abcdef"

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
    service, name, stage, message_type, queue, keys = _OPERATIONS[seed % len(_OPERATIONS)]
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
        if queue:
            attrs += [
                ("messaging.system", "rabbitmq"),
                ("messaging.destination.name", queue),
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


# -- stores ------------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_store(db: str, workdir: Path, label: str) -> Iterator[str]:
    """A URL of an empty store: a new SQLite file, or a throwaway database on the given server."""
    if db == "sqlite":
        yield f"sqlite:///{workdir / f'{label}.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(normalize_url(db))
    name = f"vitals_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stored_spans(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM spans").scalar_one())
    finally:
        engine.dispose()


# -- references --------------------------------------------------------------------------------


def convert_reference(requests: list[bytes]) -> tuple[float, list[WriteBatch]]:
    redactor = Redactor(RedactionPolicy(), _SECRET)
    started = time.perf_counter()
    batches = [
        convert_spans(ExportTraceServiceRequest.FromString(body), redactor, time.time_ns()).batch
        for body in requests
    ]
    return time.perf_counter() - started, batches


def insert_reference(url: str, batches: list[WriteBatch], per_commit: int) -> float:
    engine = create_engine(url)
    migrate(engine)
    sink = SqlSink(engine)
    try:
        groups: list[WriteBatch] = []
        for batch in batches:
            if not groups or len(groups[-1].spans) >= per_commit:
                groups.append(WriteBatch())
            groups[-1].extend(batch)
        started = time.perf_counter()
        for group in groups:
            sink.write(group)
        return time.perf_counter() - started
    finally:
        sink.close()
        engine.dispose()


# -- end to end --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ClientResult:
    acked_spans: int
    requests: int
    retries: int
    latencies: list[float]


async def _drive(url: str, bodies: list[bytes], spans_per_request: int, concurrency: int) -> ClientResult:
    import aiohttp

    result = ClientResult(0, 0, 0, [])
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Content-Type": "application/x-protobuf"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
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


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return children


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException("the collector exited during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise click.ClickException("the collector did not become ready")


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


def end_to_end(
    url: str, workdir: Path, *, count: int, spans: int, clients: int, concurrency: int
) -> EndToEnd:
    http_port, grpc_port = _free_port(), _free_port()
    env = {**os.environ, "VITALS_HASH_SECRET": _SECRET.decode(), "VITALS_LOG_LEVEL": "WARNING"}
    command = [
        sys.executable, "-m", "vitals", "serve", "--db", url, "--config", str(workdir / "config"),
        "--http-port", str(http_port), "--grpc-port", str(grpc_port), "--components", "none",
    ]  # fmt: skip
    (workdir / "config").mkdir(exist_ok=True)
    log_file = (workdir / "collector.log").open("wb")
    server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_ready(http_port, server)
        mp = multiprocessing.get_context("spawn")
        ready, go, out = mp.Semaphore(0), mp.Event(), mp.Queue()
        target = f"http://127.0.0.1:{http_port}/v1/traces"
        seeds = [list(range(count))[i::clients] for i in range(clients)]
        workers = [
            mp.Process(target=_client_process, args=(target, part, spans, concurrency, (ready, go, out)))
            for part in seeds
        ]
        for worker in workers:
            worker.start()
        for _ in workers:
            while not ready.acquire(timeout=1):
                _check_clients(workers)
        (writer,) = _children(server.pid)
        cpu_before = (_cpu_seconds(server.pid), _cpu_seconds(writer))
        started = time.perf_counter()
        go.set()
        results: list[ClientResult] = []
        while len(results) < len(workers):
            try:
                results.append(out.get(timeout=1))
            except queue.Empty:
                _check_clients(workers)
        seconds = time.perf_counter() - started
        cpu = (_cpu_seconds(server.pid) - cpu_before[0], _cpu_seconds(writer) - cpu_before[1])
        for worker in workers:
            worker.join()
        rss = (_peak_rss_kib(server.pid), _peak_rss_kib(writer))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log_file.close()
    latencies = sorted(lat for result in results for lat in result.latencies)
    return EndToEnd(
        seconds=seconds,
        acked_spans=sum(r.acked_spans for r in results),
        stored_spans=_stored_spans(url),
        retries=sum(r.retries for r in results),
        peak_rss_kib=rss,
        cpu_seconds=cpu,
        p50_ms=latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
    )


def _report_run(run: int, kind: str, result: EndToEnd, share: float, total: int) -> None:
    rate = result.acked_spans / result.seconds
    receiver_rss, writer_rss = result.peak_rss_kib
    receiver_cpu, writer_cpu = result.cpu_seconds
    click.echo(
        f"end to end ({kind}) run {run}: {rate:>10,.0f} spans/s ({share:.0%} of the slower reference); "
        f"acknowledged {result.acked_spans:,}, stored {result.stored_spans:,}, {result.retries} retried (503)"
    )
    click.echo(
        f"  request latency p50 {result.p50_ms:.0f} ms, p99 {result.p99_ms:.0f} ms; collector peak RSS "
        f"{(receiver_rss + writer_rss) / 1024:.0f} MiB (receiver {receiver_rss / 1024:.0f} MiB + store "
        f"writer {writer_rss / 1024:.0f} MiB)"
    )
    click.echo(
        f"  collector CPU per span: receiver {receiver_cpu / total * 1e6:.1f} us, store writer "
        f"{writer_cpu / total * 1e6:.1f} us; machine load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )


@click.command()
@click.option(
    "--db",
    default="sqlite",
    show_default=True,
    metavar="sqlite|URL",
    help="'sqlite' for fresh SQLite files, or a PostgreSQL URL whose server gets throwaway databases.",
)
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
def ingest(
    *, db: str, count: int, spans: int, clients: int, concurrency: int, insert_batch: int, repeat: int
) -> None:
    """OTLP/HTTP ingest: end-to-end spans/s and the collector's peak RSS, against decode-and-convert
    only and insert-only of the same spans."""
    total = count * spans
    kind = "SQLite" if db == "sqlite" else "PostgreSQL"
    click.echo(f"generating {count} requests x {spans} spans = {total:,} spans ...")
    requests = make_requests(count, spans)
    megabytes = sum(len(body) for body in requests) / 1e6
    click.echo(f"  {megabytes:.1f} MB of OTLP protobuf ({megabytes * 1e6 / total:.0f} bytes/span)")
    workdir = Path(tempfile.mkdtemp(prefix="vitals-bench-"))
    try:
        convert_seconds, batches = convert_reference(requests)
        del requests
        click.echo(f"decode + convert + redact (1 thread):  {total / convert_seconds:>10,.0f} spans/s")
        with fresh_store(db, workdir, "insert") as url:
            insert_seconds = insert_reference(url, batches, insert_batch)
        del batches
        click.echo(
            f"insert only ({kind}, {insert_batch} spans/commit): {total / insert_seconds:>10,.0f} spans/s"
        )
        slower = min(total / convert_seconds, total / insert_seconds)
        rates: list[float] = []
        for run in range(1, repeat + 1):
            with fresh_store(db, workdir, f"e2e{run}") as url:
                result = end_to_end(
                    url, workdir, count=count, spans=spans, clients=clients, concurrency=concurrency
                )
            if result.stored_spans != result.acked_spans:
                raise click.ClickException("the store does not hold exactly the acknowledged spans")
            rates.append(result.acked_spans / result.seconds)
            _report_run(run, kind, result, rates[-1] / slower, total)
        median = statistics.median(rates)
        click.echo(
            f"end to end ({kind}, {clients} clients x {concurrency} in flight), median of {repeat}: "
            f"{median:>10,.0f} spans/s = {median / slower:.0%} of the slower reference "
            f"(best {max(rates):,.0f})"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

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

import statistics
from dataclasses import dataclass
from pathlib import Path

import click

from simulator.options import seed_option
from vitals.kernel.storestats import bytes_per_span, measure
from vitals.shell.bench.common import (
    Figure,
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
from vitals.shell.bench.load import (
    convert_reference,
    insert_reference,
    make_request,
    make_requests,
    run_clients,
)


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
        cpu_before: list[float] = []

        def read_cpu() -> None:
            (writer,) = children(server.pid)
            cpu_before[:] = [cpu_seconds(server.pid), cpu_seconds(writer)]

        seconds, results = run_clients(
            f"{collector.http_base}/v1/traces", seeds, spans, clients=clients, concurrency=concurrency,
            before_go=read_cpu,
        )  # fmt: skip
        (writer,) = children(server.pid)
        cpu = (cpu_seconds(server.pid) - cpu_before[0], cpu_seconds(writer) - cpu_before[1])
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


def store_bytes_per_span(url: str) -> float:
    """Bytes of the span tables and their indexes per stored span, as ``vitals store stats`` counts."""
    with migrated_engine(url) as engine, engine.connect() as conn:
        per_span = bytes_per_span(measure(conn, {}))
    if per_span is None:
        raise click.ClickException("no spans were stored")
    return per_span


def figures_of(
    *,
    kind: str,
    total: int,
    insert_batch: int,
    convert_s: float,
    insert_s: float,
    runs: list[EndToEnd],
    protobuf_bytes: float,
    store_bytes: float,
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
            f"store bytes per span, {kind}",
            store_bytes,
            "bytes",
            detail="span tables and their indexes, after the insert-only run",
            reference=f"{store_bytes / protobuf_bytes:.2f} x the OTLP protobuf ({protobuf_bytes:,.0f})",
        ),
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
    protobuf_bytes = megabytes * 1e6 / total
    say(f"  {megabytes:.1f} MB of OTLP protobuf ({protobuf_bytes:.0f} bytes/span)")
    with scratch_dir() as workdir:
        convert_s, batches = convert_reference(requests)
        del requests
        with fresh_store(db, workdir, "insert") as url:
            insert_s = insert_reference(url, batches, insert_batch)
            store_bytes = store_bytes_per_span(url)
        say(
            f"  the store takes {store_bytes:,.0f} bytes/span (span tables and indexes), "
            f"the protobuf {protobuf_bytes:,.0f}"
        )
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
            protobuf_bytes=protobuf_bytes,
            store_bytes=store_bytes,
        ),
        out,
    )


__all__ = ["ingest", "make_request", "make_requests"]

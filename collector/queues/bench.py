"""``vitals bench queues``: how fast the trace-latency job turns stored spans into queue latency.

Prints figures; asserts nothing. Register as ``"queues": ("collector.queues.bench:queues", ...)``
in ``vitals/shell/bench.py``.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from collector.queues.config import TraceLatencyJob
from collector.queues.trace_latency import SqlSpanReader, TraceLatency

NS = 1_000_000_000


def _span(
    trace: str, span: str, parent: str | None, *, kind: str, start_ns: int, queue: str
) -> dict[str, Any]:
    return {
        "trace_id": trace,
        "span_id": span,
        "parent_span_id": parent,
        "name": f"{queue} {kind}",
        "service_name": "integration-engine",
        "kind": kind,
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": start_ns + NS // 2,
        "duration_ns": NS // 2,
        "event_time_unix_nano": start_ns,
        "status_code": "unset",
        "attributes": orjson.dumps({"messaging.destination.name": queue}).decode(),
        "resource_attributes": "{}",
        "messaging_destination": queue,
        "received_at_unix_nano": start_ns,
    }


@click.command()
@click.option("--pairs", default=50_000, show_default=True, help="Producer/consumer pairs to store.")
@click.option(
    "--db", "db_url", default=None, metavar="URL", help="Store URL (default: a temporary SQLite file)."
)
def queues(pairs: int, db_url: str | None) -> None:
    """Trace-derived queue latency: spans read and joined per second, and the time to summarise."""
    from collector.tables import spans
    from vitals.kernel.db import create_engine, migrate

    url = db_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    engine = create_engine(url)
    migrate(engine)
    start = 1_800_000_000 * NS
    rows = []
    for i in range(pairs):
        trace, producer = secrets.token_hex(16), secrets.token_hex(8)
        queue = f"bench-queue-{i % 5}"
        at = start + i * 10_000_000
        rows.append(_span(trace, producer, None, kind="producer", start_ns=at, queue=queue))
        rows.append(
            _span(trace, secrets.token_hex(8), producer, kind="consumer", start_ns=at + NS, queue=queue)
        )
    with engine.begin() as conn:
        for offset in range(0, len(rows), 10_000):
            conn.execute(spans.insert(), rows[offset : offset + 10_000])
    clock = [start / NS + pairs * 0.01 + 600]
    written: list[Mapping[str, Any]] = []

    def write(batch: Sequence[Mapping[str, Any]]) -> None:
        written.extend(batch)

    job = TraceLatency(
        TraceLatencyJob(type="trace-latency", lookback="30d"),
        SqlSpanReader(engine),
        write,
        clock=lambda: clock[0],
        max_batches=10_000,
    )
    began = time.perf_counter()
    job.run()
    read_s = time.perf_counter() - began
    clock[0] += 600
    began = time.perf_counter()
    job.run()
    close_s = time.perf_counter() - began
    click.echo(f"store: {engine.url.get_backend_name()}; {2 * pairs:,} messaging spans, {pairs:,} pairs")
    click.echo(f"read + join: {read_s:.2f} s = {2 * pairs / read_s:,.0f} spans/s")
    click.echo(f"summarise {len(written):,} latency points: {close_s * 1000:.0f} ms")
    engine.dispose()

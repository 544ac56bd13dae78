"""``vitals bench queues``: how fast the trace-latency job turns stored spans into queue latency.

Stores ``--pairs`` producer/consumer span pairs (one message each, a second apart, spread over
five queues and ending at ``--now``), then times the job's first run (read and join every pair)
and its next run ten minutes later (summarise the finished minutes into latency points).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import orjson

from collector.queues.config import TraceLatencyJob
from collector.queues.trace_latency import SqlSpanReader, TraceLatency
from collector.tables import spans
from simulator.options import now_option, seed_option
from vitals.kernel.units import NS
from vitals.shell.bench.common import (
    Figure,
    Stopwatch,
    db_option,
    out_option,
    report,
    say,
    scratch_store,
    store_kind,
)

#: Time between the starts of two pairs.
_PAIR_GAP_NS = 10_000_000


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


def messaging_rows(pairs: int, seed: int, end_ns: int) -> list[dict[str, Any]]:
    """``pairs`` producer spans and their consumers (a second later), the last starting before ``end_ns``."""
    rng = random.Random(seed)
    start = end_ns - pairs * _PAIR_GAP_NS
    rows = []
    for i in range(pairs):
        trace, producer = f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}"
        queue = f"bench-queue-{i % 5}"
        at = start + i * _PAIR_GAP_NS
        rows.append(_span(trace, producer, None, kind="producer", start_ns=at, queue=queue))
        consumer = f"{rng.getrandbits(64):016x}"
        rows.append(_span(trace, consumer, producer, kind="consumer", start_ns=at + NS, queue=queue))
    return rows


@click.command()
@click.option("--pairs", default=50_000, show_default=True, help="Producer/consumer pairs to store.")
@db_option()
@seed_option()
@now_option("When the last pair is stored.")
@out_option()
def queues(*, pairs: int, db: str, seed: int, now: datetime, out: Path | None) -> None:
    """Trace-derived queue latency: spans read and joined per second, and the time to summarise."""
    end_ns = int(now.timestamp()) * NS
    with scratch_store(db, "queues") as engine:
        rows = messaging_rows(pairs, seed, end_ns)
        with engine.begin() as conn:
            for offset in range(0, len(rows), 10_000):
                conn.execute(spans.insert(), rows[offset : offset + 10_000])
        kind = store_kind(engine.url)
        say(f"stored {len(rows):,} messaging spans ({pairs:,} pairs) in {kind}")
        clock = [end_ns / NS + 600]
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
        watch = Stopwatch()
        job.run()
        read_s = watch.seconds
        clock[0] += 600
        watch = Stopwatch()
        job.run()
        close_s = watch.seconds
    report(
        [
            Figure(
                f"read + join, {kind}",
                2 * pairs / read_s,
                "spans/s",
                detail=f"{2 * pairs:,} spans in {read_s:.2f} s",
            ),
            Figure(f"summarise {len(written):,} latency points", close_s * 1000, "ms"),
        ],
        out,
    )


__all__ = ["messaging_rows", "queues"]

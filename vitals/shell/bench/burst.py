"""``vitals bench burst``: a month-end burst through the durable ingest buffer, with nothing refused.

A ``vitals serve`` with a ``buffer:`` section over a throwaway three-node JetStream cluster
(replicas 3; or ``--nats URL`` for a server of your own, replicas 1) and a fresh store takes spans
at the normal rate for a while, then at ``--factor`` times it for ``--minutes``, open loop (each
request leaves on time whatever the previous ones do; none is retried). Printed: what was sent
and acknowledged, what was refused (the goal: none), acknowledgement latency at the normal rate
and in the burst, the buffer's largest lag, how long the writers took to drain it after the
burst, and whether the store then holds exactly the acknowledged spans.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from simulator.options import seed_option
from vitals.shell.bench.common import (
    Figure,
    collector_process,
    db_option,
    fresh_store,
    out_option,
    report,
    say,
    scratch_dir,
    store_kind,
    stored_spans,
)
from vitals.shell.bench.load import make_request

#: 5 million spans a day (the regional health system of issue 15), as spans per second.
NORMAL_RATE = 5_000_000 / 86_400


@dataclass
class Phase:
    name: str
    sent: int = 0
    acked_spans: int = 0
    refused: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else 0.0


@dataclass
class Lag:
    max_messages: int = 0
    max_bytes: int = 0
    samples: int = 0


async def _send_phase(
    session: Any, url: str, phase: Phase, *, rate: float, seconds: float, spans: int, seeds: Iterator[int]
) -> None:
    """Open loop: request i leaves at ``i * spans / rate`` seconds, answered or not."""
    interval = spans / rate
    started = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    headers = {"Content-Type": "application/x-protobuf"}
    loop = asyncio.get_running_loop()

    async def one(body: bytes) -> None:
        begun = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status == 200:
                    phase.latencies.append(time.perf_counter() - begun)
                    phase.acked_spans += spans
                elif response.status in (429, 503):
                    phase.refused += 1
                else:
                    phase.errors += 1
        except Exception:
            phase.errors += 1

    index = 0
    while (due := index * interval) < seconds:
        wait = started + due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        body = await loop.run_in_executor(None, make_request, next(seeds), spans)
        phase.sent += 1
        tasks.append(asyncio.create_task(one(body)))
        index += 1
    await asyncio.gather(*tasks)


async def _watch_lag(session: Any, readyz: str, lag: Lag, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            async with session.get(readyz) as response:
                buffer = (await response.json()).get("buffer") or {}
                lag.max_messages = max(lag.max_messages, int(buffer.get("pending_messages") or 0))
                lag.max_bytes = max(lag.max_bytes, int(buffer.get("pending_bytes") or 0))
                lag.samples += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _pending(session: Any, readyz: str) -> int:
    async with session.get(readyz) as response:
        buffer = (await response.json()).get("buffer") or {}
        return int(buffer.get("pending_messages", -1))


@dataclass(frozen=True)
class Load:
    """What to send: the normal rate (spans/s), the burst's factor, both phases' lengths."""

    rate: float
    factor: float
    normal_s: float
    burst_s: float
    spans: int
    seed: int


@dataclass
class Run:
    normal: Phase
    burst: Phase
    lag: Lag
    drain_s: float
    drained: bool


async def _run(base: str, load: Load) -> Run:
    import aiohttp

    url, readyz = f"{base}/v1/traces", f"{base}/readyz"
    seeds = iter(range(load.seed, load.seed + 10**9))
    rate, spans = load.rate, load.spans
    normal, burst, lag = Phase("normal"), Phase("burst"), Lag()
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch_lag(session, readyz, lag, stop))
        if load.normal_s > 0:
            say(f"normal rate: {rate:,.0f} spans/s for {load.normal_s:g}s ...")
            await _send_phase(
                session, url, normal, rate=rate, seconds=load.normal_s, spans=spans, seeds=seeds
            )
        burst_rate = rate * load.factor
        say(f"burst: {burst_rate:,.0f} spans/s for {load.burst_s:g}s ...")
        await _send_phase(
            session, url, burst, rate=burst_rate, seconds=load.burst_s, spans=spans, seeds=seeds
        )
        say("burst over; waiting for the writers to drain the buffer ...")
        ended = time.perf_counter()
        drained = False
        while time.perf_counter() - ended < max(600.0, load.burst_s):
            if await _pending(session, readyz) == 0:
                drained = True
                break
            await asyncio.sleep(0.2)
        drain_s = time.perf_counter() - ended
        stop.set()
        await watcher
    return Run(normal, burst, lag, drain_s, drained)


def _buffer_yaml(servers: list[str], replicas: int) -> str:
    # The generated spans are dated in 2025: retention would delete them while they are counted.
    return (
        "retention:\n  spans: null\n  metrics: null\n"
        "buffer:\n"
        f"  servers: [{', '.join(servers)}]\n"
        f"  replicas: {replicas}\n"
        "  stream: VITALS_BENCH_BURST\n"
        "  consumer: vitals-bench-burst\n"
        "  consumers: 2\n"
    )


@contextlib.contextmanager
def _jetstream(nats: str, workdir: Path) -> Iterator[tuple[list[str], int]]:
    if nats != "cluster":
        yield [nats], 1
        return
    from vitals.shell.bench.natscluster import nats_cluster

    with nats_cluster(workdir / "nats") as cluster:
        yield cluster.urls, 3


@click.command()
@db_option("Default: a fresh SQLite file.")
@click.option(
    "--nats",
    default="cluster",
    show_default=True,
    metavar="cluster|URL",
    help="'cluster' starts a throwaway 3-node JetStream cluster on loopback (replicas 3; needs "
    "nats-server); a URL uses that server with replicas 1 (a throwaway stream is created and left).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=1),
    default=round(NORMAL_RATE),
    show_default=True,
    help="Normal rate, spans/s (default: 5 million spans a day).",
)
@click.option(
    "--factor", type=click.FloatRange(min=1), default=10.0, show_default=True, help="Burst = rate x factor."
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0.05),
    default=10.0,
    show_default=True,
    help="How long the burst lasts (shorter for a try: --minutes 1).",
)
@click.option(
    "--normal-minutes",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Minutes at the normal rate before the burst (its latency is the reference).",
)
@click.option("--spans", type=click.IntRange(1), default=50, show_default=True, help="Spans per request.")
@seed_option(default=0, help="Seed of the generated requests.")
@out_option()
def burst(
    *,
    db: str,
    nats: str,
    rate: float,
    factor: float,
    minutes: float,
    normal_minutes: float,
    spans: int,
    seed: int,
    out: Path | None,
) -> None:
    """A month-end burst: --factor x the normal rate for --minutes through the ingest buffer,
    nothing refused; prints latency, the buffer's largest lag and the time to drain it."""
    with scratch_dir() as workdir, _jetstream(nats, workdir) as (servers, replicas):
        load = Load(rate, factor, normal_minutes * 60, minutes * 60, spans, seed)
        settings = _buffer_yaml(servers, replicas)
        with (
            fresh_store(db, workdir, "burst") as url,
            collector_process(url, workdir, collector_yaml=settings) as collector,
        ):
            run = asyncio.run(_run(collector.http_base, load))
            stored = stored_spans(url)
    acked = run.normal.acked_spans + run.burst.acked_spans
    if not run.drained:
        raise click.ClickException(f"the buffer did not drain within {run.drain_s:.0f}s after the burst")
    report(_figures(run, load, replicas=replicas, kind=store_kind(db), stored=stored), out)
    if stored != acked:
        raise click.ClickException(f"the store holds {stored:,} spans, {acked:,} were acknowledged")


def _figures(run: Run, load: Load, *, replicas: int, kind: str, stored: int) -> list[Figure]:
    burst_s, rate, factor, minutes = load.burst_s, load.rate, load.factor, load.burst_s / 60
    acked = run.normal.acked_spans + run.burst.acked_spans
    refused = run.normal.refused + run.burst.refused
    errors = run.normal.errors + run.burst.errors
    written_s = burst_s + run.drain_s
    return [
        Figure(
            "burst rate acknowledged",
            run.burst.acked_spans / burst_s,
            "spans/s",
            detail=f"offered {factor:g} x {rate:,.0f} for {minutes:g} min",
            reference="issue 15: 10x the normal rate for 10 minutes",
        ),
        Figure(
            "requests sent",
            run.normal.sent + run.burst.sent,
            "",
            reference=f"{run.burst.sent:,} in the burst",
        ),
        Figure("spans acknowledged", acked, "spans", reference=f"JetStream, {replicas} replica(s)"),
        Figure("requests refused (429/503)", refused, "", reference="goal: 0"),
        Figure("other failures", errors, "", reference="goal: 0"),
        Figure(
            "ack latency p50 / p99, burst",
            run.burst.percentile(0.5),
            "ms",
            digits=1,
            detail=f"p99 {run.burst.percentile(0.99):.1f} ms",
            reference=f"normal rate: p50 {run.normal.percentile(0.5):.1f} ms, "
            f"p99 {run.normal.percentile(0.99):.1f} ms",
        ),
        Figure(
            "largest buffer lag",
            run.lag.max_messages,
            "messages",
            detail=f"{run.lag.max_bytes / 1e6:.1f} MB",
            reference=f"sampled each second ({run.lag.samples} samples)",
        ),
        Figure("drain after the burst", run.drain_s, "s", digits=1, reference="until no message waits"),
        Figure(
            "stored by the writers",
            acked / written_s if written_s else 0.0,
            "spans/s",
            detail=f"{kind}",
            reference="acknowledged spans / (burst + drain)",
        ),
        Figure("stored = acknowledged", stored, "spans", reference=f"{acked:,} acknowledged"),
    ]


__all__ = ["burst"]

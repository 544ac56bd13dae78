"""``vitals bench soak``: a steady load for a long time, to see memory or latency creep.

One ``vitals serve`` (``--workers`` of them over PostgreSQL) with every component on (SLA engine,
alerts, rollups, queue pollers) and its retention job deleting as it goes: collector.yaml keeps
spans one hour, and the spans are sent stamped 58 minutes old, so each is deleted about two
minutes after it arrived and the store holds a steady two minutes of spans.

1. The maximum (skipped with ``--rate``): the rate this serve *sustains* as the soak runs it,
   every component and retention on, over a store at the soak's steady size. For ``--probe``
   seconds (150) requests go closed loop (16 in flight, each sent when one is answered), stamped
   59 minutes old, so retention deletes each a minute after it arrived and the store holds a
   minute of spans at the maximum: as many as two minutes at half of it, which is what the soak
   then holds. The maximum is the rate acknowledged in the probe's last ``PROBE_WINDOW_SHARE``
   (from 90 s on in 150 s: after the first deletes, with the store at that size). A burst of a
   few seconds on an empty store, the earlier definition, gave two to four times what the serve
   sustained with its components working, so "half" of it was more than the serve could take.
2. The soak: ``--minutes`` at half that rate, open loop (a request every ``batch / rate``
   seconds whatever the answers, up to 64 in flight), each request new (fresh ids, current time).
3. Start and end: the first window after the warm-up (``--warmup``, 3 min by default and at most
   a third of the run: the store fills to its steady two minutes of spans, retention starts
   deleting, the rollups' first key joins come due) and the last window, each a tenth of the
   run, 10 s to 2 min. Resident memory is the largest sum of RSS over every process of the
   serve (parent, workers, store writers) sampled in the window; latency is the p50 and p99 of
   the requests sent in it.

Flat means: the end is within 20% of the start, or within an absolute slack (16 MiB of memory,
5 ms of latency) for figures too small for a share to mean anything.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from simulator.options import seed_option
from vitals.shell.bench.common import (
    Figure,
    collector_process,
    db_option,
    fresh_store,
    out_option,
    report,
    rss_kib,
    say,
    scratch_dir,
    store_kind,
    stored_spans,
    tree_pids,
)
from vitals.shell.bench.load import make_request, percentile_ms, renewed

#: Flat: end <= start * (1 + FLAT_SHARE), or end <= start + the slack of that figure.
FLAT_SHARE = 0.20
RSS_SLACK_MIB = 16.0
LATENCY_SLACK_MS = 5.0
MAX_IN_FLIGHT = 64
#: Spans are kept an hour (the shortest retention collector.yaml takes) and sent this old.
SPAN_AGE_S = 58 * 60
#: The probe's spans are a minute older: at the maximum the store holds as many spans as the
#: soak holds at half of it (a minute of the one, two minutes of the other).
PROBE_SPAN_AGE_S = 59 * 60
#: The probe's maximum is the rate of its last 40%, and it keeps this many requests in flight.
PROBE_WINDOW_SHARE = 0.4
PROBE_IN_FLIGHT = 16
SOAK_COLLECTOR_YAML = "retention:\n  spans: 1h\n  metrics: 1h\n  interval: 10s\n"


def is_flat(start: float, end: float, slack: float) -> bool:
    return end <= start * (1 + FLAT_SHARE) or end <= start + slack


def window_seconds(total_s: float) -> float:
    """The length of the start and the end window: a tenth of the run, 10 s to 2 min (never more
    than half the run)."""
    return min(total_s / 2, max(10.0, min(120.0, total_s / 10)))


@dataclass
class Soak:
    """What the paced client saw: (seconds since start, latency s) of each acknowledged request."""

    answers: list[tuple[float, float]] = field(default_factory=list)
    refused: int = 0
    late: int = 0
    #: (seconds since start, RSS KiB of the serve's processes by role: receivers, store writers)
    rss: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    def latencies(self, start: float, end: float) -> list[float]:
        return [latency for sent, latency in self.answers if start <= sent < end]

    def peak_rss(self, start: float, end: float) -> dict[str, int]:
        """The sample of the window with the largest total RSS (KiB by role; empty if none)."""
        return max(
            (roles for at, roles in self.rss if start <= at <= end), key=lambda r: sum(r.values()), default={}
        )


async def soak_load(
    target: str,
    templates: list[ExportTraceServiceRequest],
    *,
    interval_s: float,
    seconds: float,
    seed: int,
    sample_rss: Callable[[], dict[str, int]],
) -> Soak:
    """Send a new request every ``interval_s`` for ``seconds`` (open loop), sampling RSS each 2 s."""
    import aiohttp

    rng = random.Random(seed)
    result = Soak()
    headers = {"Content-Type": "application/x-protobuf"}
    in_flight: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def send(session: aiohttp.ClientSession, body: bytes) -> None:
        sent = loop.time()
        try:
            async with session.post(target, data=body, headers=headers) as response:
                await response.read()
                ok = response.status == 200
        except aiohttp.ClientError:
            ok = False
        if ok:
            result.answers.append((sent - started, loop.time() - sent))
        else:
            result.refused += 1

    async def sample() -> None:
        while True:
            result.rss.append((loop.time() - started, sample_rss()))
            await asyncio.sleep(2.0)

    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:
        sampler = asyncio.create_task(sample())
        index = 0
        while (due := started + index * interval_s) < started + seconds:
            await asyncio.sleep(max(0.0, due - loop.time()))
            index += 1
            if len(in_flight) >= MAX_IN_FLIGHT:
                result.late += 1
                continue
            start_ns = time.time_ns() - SPAN_AGE_S * 1_000_000_000
            body = renewed(templates[index % len(templates)], rng, start_ns)
            task = asyncio.create_task(send(session, body))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight)
        result.rss.append((loop.time() - started, sample_rss()))
        sampler.cancel()
    return result


async def probe_load(
    target: str,
    templates: list[ExportTraceServiceRequest],
    *,
    seconds: float,
    seed: int,
    spans: int,
    in_flight: int = PROBE_IN_FLIGHT,
) -> list[tuple[float, int]]:
    """Send closed loop for ``seconds`` (``in_flight`` requests, each new one when one is
    answered): (seconds since start, spans) of every acknowledged answer."""
    import aiohttp

    rng = random.Random(seed + 1)
    answered: list[tuple[float, int]] = []
    headers = {"Content-Type": "application/x-protobuf"}
    loop = asyncio.get_running_loop()
    started = loop.time()
    index = iter(range(1 << 62))

    async def sender(session: aiohttp.ClientSession) -> None:
        while loop.time() - started < seconds:
            start_ns = time.time_ns() - PROBE_SPAN_AGE_S * 1_000_000_000
            body = renewed(templates[next(index) % len(templates)], rng, start_ns)
            try:
                async with session.post(target, data=body, headers=headers) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                answered.append((loop.time() - started, spans))
            else:
                await asyncio.sleep(0.5)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as session:
        await asyncio.gather(*(sender(session) for _ in range(in_flight)))
    return answered


def sustained_rate(answered: list[tuple[float, int]], seconds: float) -> float:
    """Spans/s acknowledged in the last ``PROBE_WINDOW_SHARE`` of a probe of ``seconds``."""
    window = seconds * PROBE_WINDOW_SHARE
    return sum(n for at, n in answered if seconds - window <= at <= seconds) / window


def warmup_seconds(total_s: float, asked_s: float) -> float:
    """Where the start window begins: after the warm-up asked for, at most a third of the run."""
    return max(0.0, min(asked_s, total_s / 3))


def figures_of(
    soak: Soak,
    *,
    seconds: float,
    rate: float,
    maximum: float | None,
    spans: int,
    stored: int,
    warmup_s: float = 0.0,
) -> list[Figure]:
    window = window_seconds(seconds - warmup_s)
    start, end = (warmup_s, warmup_s + window), (seconds - window, seconds + 60)
    early, late = soak.latencies(*start), soak.latencies(*end)
    first_rss, last_rss = soak.peak_rss(*start), soak.peak_rss(*end)
    rss = sum(first_rss.values()) / 1024, sum(last_rss.values()) / 1024
    by_role = ", ".join(
        f"{role} {first_rss.get(role, 0) / 1024:,.0f} -> {last_rss.get(role, 0) / 1024:,.0f}"
        for role in sorted(set(first_rss) | set(last_rss))
    )
    p50 = percentile_ms(early, 0.5), percentile_ms(late, 0.5)
    p99 = percentile_ms(early, 0.99), percentile_ms(late, 0.99)
    rows = [
        ("resident memory, all serve processes", *rss, "MiB", RSS_SLACK_MIB),
        ("request latency p50", *p50, "ms", LATENCY_SLACK_MS),
        ("request latency p99", *p99, "ms", LATENCY_SLACK_MS),
    ]
    figures = [
        Figure(
            "target rate (half the maximum)" if maximum else "target rate (--rate)",
            rate,
            "spans/s",
            detail=f"maximum {maximum:,.0f} spans/s sustained with everything on, measured first"
            if maximum
            else "",
        ),
        Figure(
            "achieved rate",
            len(soak.answers) * spans / seconds,
            "spans/s",
            detail=f"{soak.refused} refused, {soak.late} not sent ({MAX_IN_FLIGHT} in flight)",
        ),
    ]
    figures.append(
        Figure(
            "spans stored at the end",
            stored,
            "",
            detail=f"sent {SPAN_AGE_S // 60} min old, kept 1 h: about {rate * (3600 - SPAN_AGE_S):,.0f} due",
            reference="bounded by retention",
        )
    )
    flat = True
    for name, first, last, unit, slack in rows:
        ok = is_flat(first, last, slack)
        flat &= ok
        roles = f"; {by_role} MiB" if unit == "MiB" and by_role else ""
        figures.append(
            Figure(
                f"{name}, end",
                last,
                unit,
                digits=0 if unit == "MiB" else 1,
                detail=f"start {first:,.{0 if unit == 'MiB' else 1}f}{roles}",
                reference="flat"
                if ok
                else f"GREW: more than {FLAT_SHARE:.0%} (and {slack:g} {unit}) above the start",
            )
        )
    figures.append(
        Figure(
            "verdict",
            1.0 if flat else 0.0,
            "",
            detail=f"{'flat' if flat else 'NOT flat'}: {window:.0f} s after a {warmup_s:.0f} s "
            f"warm-up vs the last {window:.0f} s of {seconds / 60:.1f} min",
            reference=f"flat = end within {FLAT_SHARE:.0%} of start "
            f"(or {RSS_SLACK_MIB:g} MiB, {LATENCY_SLACK_MS:g} ms)",
        )
    )
    return figures


def _is_writer(pid: int) -> bool:
    try:
        return b"collector.writer_process" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@click.command()
@db_option("Over PostgreSQL, --workers may be more than 1.")
@click.option(
    "--minutes", default=20.0, show_default=True, type=click.FloatRange(0.1), help="Length of the soak."
)
@click.option(
    "--rate",
    type=click.FloatRange(1),
    default=None,
    help="Spans/s to send; default half the measured maximum.",
)
@click.option(
    "--probe",
    default=150.0,
    show_default=True,
    type=click.FloatRange(1),
    help="Seconds of the closed-loop probe that measures the maximum (its last 40% counts), with "
    "every component and retention on, over a store at the soak's steady size.",
)
@click.option(
    "--warmup",
    default=180.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds before the start window (at most a third of the run): the store fills to its "
    "steady size and every job has had work, so one-off growth is not counted as creep.",
)
@click.option("--batch", "spans", default=512, show_default=True, help="Spans per request.")
@click.option(
    "--components",
    default="all",
    show_default=True,
    help="vitals serve --components (retention runs whatever it says): narrow it to find what grows.",
)
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="vitals serve --workers."
)
@seed_option(default=0, help="Seed of the generated requests: the same seed gives the same requests.")
@out_option()
def soak(
    *,
    db: str,
    minutes: float,
    rate: float | None,
    warmup: float,
    probe: float,
    spans: int,
    components: str,
    workers: int,
    seed: int,
    out: Path | None,
) -> None:
    """Minutes at half the maximum rate with every component and retention on: is it flat?

    Prints resident memory (every serve process) and request latency (p50, p99) at the start and
    the end of the soak, and whether they stayed flat.
    """
    seconds = minutes * 60
    say(f"soak on {store_kind(db)}: {minutes:g} min, {workers} worker(s), components {components}")
    templates = [ExportTraceServiceRequest.FromString(make_request(seed + i, spans)) for i in range(16)]
    with (
        scratch_dir() as workdir,
        fresh_store(db, workdir, "soak") as url,
        collector_process(
            url, workdir, workers=workers, components=components, collector_yaml=SOAK_COLLECTOR_YAML
        ) as collector,
    ):
        target = f"{collector.http_base}/v1/traces"
        maximum = None
        if rate is None:
            say(
                f"  measuring the sustained maximum: {probe:g} s closed loop ({PROBE_IN_FLIGHT} requests "
                f"of {spans} spans in flight), the last {PROBE_WINDOW_SHARE:.0%} counted ..."
            )
            answered = asyncio.run(probe_load(target, templates, seconds=probe, seed=seed, spans=spans))
            maximum = sustained_rate(answered, probe)
            if maximum <= 0:
                raise click.ClickException("the probe had no request acknowledged in its window")
            rate = maximum / 2
            say(f"  maximum {maximum:,.0f} spans/s; soaking at {rate:,.0f} spans/s")

        def sample_rss() -> dict[str, int]:
            roles: dict[str, int] = {}
            for pid in tree_pids(collector.process.pid):
                role = "store writers" if _is_writer(pid) else "receivers"
                roles[role] = roles.get(role, 0) + rss_kib(pid)
            return roles

        result = asyncio.run(
            soak_load(
                target, templates, interval_s=spans / rate, seconds=seconds, seed=seed, sample_rss=sample_rss
            )
        )
        kept = stored_spans(url)
        say(f"  {len(result.answers):,} requests acknowledged; {kept:,} spans stored at the end")
    warmup_s = warmup_seconds(seconds, warmup)
    figures = figures_of(
        result, seconds=seconds, rate=rate, maximum=maximum, spans=spans, stored=kept, warmup_s=warmup_s
    )
    report(figures, out)


__all__ = [
    "Soak",
    "figures_of",
    "is_flat",
    "probe_load",
    "soak",
    "soak_load",
    "sustained_rate",
    "warmup_seconds",
    "window_seconds",
]

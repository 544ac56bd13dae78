"""``vitals bench apis``: the APIs page's query time with 10 million spans' worth of API rollups.

The rollups are written directly (the page never reads spans): ``--spans`` calls spread over
``--days`` days, ``--apis`` APIs and ``--consumers`` consumers, with a weekday-shaped daily curve,
each API with its own log-normal latency and a few error signatures. Hour and day rows cover the
whole history (their counts add up to ``--spans``); minute rows cover the last day. Then it times
the query the page and ``/api/v1/apis`` run (``analytics.query.api_stats``) over the last hour,
6 hours, day and week, per API and per consumer, and the fold's own rate on ``--fold-spans`` real
spans stored and folded (``analytics.rollup.refresh``).
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from analytics.histogram import Histogram, encode
from analytics.identity import ALL, normalise_route
from analytics.query import api_stats
from analytics.rollup import refresh
from analytics.tables import KEY_COLUMNS, api_errors, api_rollups
from simulator.options import now_option, seed_option
from vitals.shell.bench.common import (
    Figure,
    Stopwatch,
    db_option,
    out_option,
    parse_size,
    report,
    say,
    scratch_store,
    store_kind,
)

NS = 1_000_000_000
CHUNK = 5_000
RESOURCES = ("Patient", "Encounter", "Observation", "Coverage", "Condition", "MedicationRequest")
MINUTE_DAYS = 1


def _apis(count: int, rng: random.Random) -> list[tuple[dict[str, str], float, float]]:
    """(key columns, median latency s, error share) per API."""
    out = []
    for i in range(count):
        resource = RESOURCES[i % len(RESOURCES)]
        shape = i // len(RESOURCES) % 3
        route, method, interaction = (
            (f"/fhir/r4/{resource}/{{id}}", "GET", "read"),
            (f"/fhir/r4/{resource}", "GET", "search"),
            (f"/fhir/r4/{resource}", "POST", "create"),
        )[shape]
        service = f"api-{i // (len(RESOURCES) * 3)}"
        key = {
            "service": service,
            "side": "server",
            "route": normalise_route(route),
            "method": method,
            "interaction": interaction,
            "resource_type": resource,
        }
        out.append((key, 0.02 * math.exp(rng.gauss(0, 0.8)), 0.002 + rng.random() * 0.02))
    return out


def _base_histogram(median_s: float, rng: random.Random) -> list[tuple[int, float]]:
    sample = Histogram.of([median_s * NS * math.exp(rng.gauss(0, 0.6)) for _ in range(2000)])
    total = sample.total
    return [(index, count / total) for index, count in sorted(sample.counts.items())]


def _cell(count: int, base: list[tuple[int, float]]) -> tuple[int, list[list[int]]]:
    counts = {index: round(count * share) for index, share in base}
    counts = {index: c for index, c in counts.items() if c > 0} or {base[len(base) // 2][0]: count}
    histogram = Histogram(counts)
    return histogram.total, encode(histogram)


def _daily_shape(minute_of_day: int) -> float:
    hour = minute_of_day / 60
    return 0.35 + 0.65 * math.exp(-(((hour - 13) / 4.5) ** 2))


def fill(
    engine: Engine, *, spans: int, days: int, apis: int, consumers: int, end_ns: int, seed: int
) -> tuple[int, int]:
    """Write the rollup rows; (rows written, spans they stand for)."""
    rng = random.Random(seed)
    defs = _apis(apis, rng)
    bases = [_base_histogram(median, rng) for _, median, _ in defs]
    consumer_names = [f"client-{c:02d}" for c in range(consumers)]
    consumer_share = [1 / (c + 1) for c in range(consumers)]
    norm = sum(consumer_share)
    api_share = [1 / (a + 1) ** 0.7 for a in range(apis)]
    api_norm = sum(api_share)
    hour_ns = 3600 * NS
    end_hour = end_ns // hour_ns * hour_ns
    hours = days * 24
    shape = [_daily_shape(h * 60) for h in range(24)]
    per_hour = spans / (sum(shape) * days)
    written = stood_for = 0
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []

    def flush(force: bool = False) -> None:
        nonlocal rows, errors
        if rows and (force or len(rows) >= CHUNK):
            with engine.begin() as conn:
                conn.execute(insert(api_rollups), rows)
                if errors:
                    conn.execute(insert(api_errors), errors)
            rows, errors = [], []

    #: (bucket, width, key columns) -> [calls, 4xx, 5xx, histogram]: a bucket's rows, with the
    #: rows over all consumers and over all APIs (``analytics.fold.variants``) summed as they come.
    pending: dict[tuple[int, int, tuple[tuple[str, str], ...]], list[Any]] = {}

    def gather(  # noqa: PLR0917 - one cell's figures
        bucket: int, width: int, key: dict[str, str], total: int, e4: int, e5: int, hist: Any
    ) -> None:
        for variant in (
            key,
            {**key, "consumer": ALL},
            {**dict.fromkeys(KEY_COLUMNS, ALL), "consumer": key["consumer"]},
        ):
            slot = pending.setdefault((bucket, width, tuple(variant.items())), [0, 0, 0, {}])
            slot[0] += total
            slot[1] += e4
            slot[2] += e5
            for index, c in hist:
                slot[3][index] = slot[3].get(index, 0) + c

    def add(bucket: int, width: int, api: int, consumer: int, calls: float) -> int:
        count = round(calls)
        if count <= 0:
            return 0
        error_share = defs[api][2]
        total, histogram = _cell(count, bases[api])
        e5 = round(total * error_share * 0.6)
        e4 = round(total * error_share * 0.4)
        key = {**defs[api][0], "consumer": consumer_names[consumer]}
        gather(bucket, width, key, total, e4, e5, histogram)
        if width == 3600:  # the day rows are the sums of the hour rows
            gather(bucket // (86400 * NS) * (86400 * NS), 86400, key, total, e4, e5, histogram)
        return total

    def drain(width: int) -> None:
        for slot_key in [k for k in pending if k[1] == width]:
            total, e4, e5, buckets = pending.pop(slot_key)
            put(slot_key[0], width, dict(slot_key[2]), total, e4, e5, encode(Histogram(buckets)))

    def put(  # noqa: PLR0917 - one row's figures
        bucket: int,
        width: int,
        key: dict[str, str],
        total: int,
        e4: int,
        e5: int,
        histogram: list[list[int]],
    ) -> None:
        nonlocal written
        row = {"bucket_start_ns": bucket, "width_s": width, **key}
        rows.append(
            {
                **row,
                "count": total,
                "errors_4xx": e4,
                "errors_5xx": e5,
                "errors_other": 0,
                "duration_sum_ns": 0,
                "histogram": histogram,
            }
        )
        for signature, klass, n in (("503 upstream timed out after # ms", "5xx", e5), ("404", "4xx", e4)):
            if n:
                errors.append(
                    {
                        **row,
                        "signature": signature,
                        "error_class": klass,
                        "count": n,
                        "last_seen_ns": bucket,
                        "example_trace_id": "0" * 32,
                    }
                )
        written += 1
        flush()

    for h in range(hours):
        bucket = end_hour - (hours - h) * hour_ns
        hour_calls = per_hour * shape[(h % 24)]
        for api in range(apis):
            for consumer in range(consumers):
                share = api_share[api] / api_norm * consumer_share[consumer] / norm
                stood_for += add(bucket, 3600, api, consumer, hour_calls * share)
        drain(3600)
        if h % 24 == 23:
            say(f"hour rows: day {h // 24 + 1} of {days}, {written:,} rows")
    drain(86400)
    minutes = MINUTE_DAYS * 1440
    end_minute = end_ns // (60 * NS) * (60 * NS)
    for m in range(minutes):
        bucket = end_minute - (minutes - m) * 60 * NS
        minute_calls = per_hour / 60 * shape[(m // 60) % 24]
        for api in range(apis):
            for consumer in range(consumers):
                share = api_share[api] / api_norm * consumer_share[consumer] / norm
                add(bucket, 60, api, consumer, minute_calls * share * (0.7 + 0.6 * rng.random()))
        drain(60)
        if m % 240 == 239:
            say(f"minute rows: {m + 1:,} of {minutes:,} minutes, {written:,} rows")
    flush(force=True)
    return written, stood_for


def fold_rate(engine: Engine, count: int, end_ns: int, seed: int) -> float:
    """Spans per second the fold reads and writes (real spans stored first)."""
    import orjson

    from collector.tables import spans as spans_table

    rng = random.Random(seed)
    start = end_ns - 3600 * NS
    batch: list[dict[str, Any]] = []
    for i in range(count):
        resource = RESOURCES[i % len(RESOURCES)]
        t = start + int(rng.random() * 3600 * NS)
        duration = int(0.02 * NS * math.exp(rng.gauss(0, 0.8)))
        attrs = {
            "http.route": f"/fhir/r4/{resource}/{{id}}",
            "http.request.method": "GET",
            "http.response.status_code": 200 if rng.random() > 0.01 else 503,
            "client.id": f"client-{rng.randrange(8):02d}",
        }
        batch.append(
            {
                "trace_id": f"{rng.getrandbits(128):032x}",
                "span_id": f"{rng.getrandbits(64):016x}",
                "name": f"GET /fhir/r4/{resource}/{{id}}",
                "service_name": "fhir-server",
                "kind": "server",
                "start_time_unix_nano": t,
                "end_time_unix_nano": t + duration,
                "duration_ns": duration,
                "event_time_unix_nano": t,
                "status_code": "unset",
                "attributes": orjson.loads(orjson.dumps(attrs)),
                "received_at_unix_nano": t,
            }
        )
        if len(batch) >= CHUNK:
            with engine.begin() as conn:
                conn.execute(insert(spans_table), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(spans_table), batch)
    clock = Stopwatch()
    report_ = refresh(engine, horizon_s=0, clock=lambda: end_ns)
    seconds = clock.seconds
    return report_.processed / seconds if seconds > 0 else 0.0


@click.command("apis")
@click.option("--spans", "span_text", default="10M", show_default=True, help="Spans the rollups stand for.")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 400), help="Days of history.")
@click.option(
    "--apis", "api_count", default=36, show_default=True, type=click.IntRange(1, 1000), help="APIs."
)
@click.option(
    "--consumers", default=8, show_default=True, type=click.IntRange(1, 1000), help="Consumers per API."
)
@click.option(
    "--fold-spans",
    default="50k",
    show_default=True,
    help="Real spans stored and folded to time the fold (0: skip).",
)
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1, 50), help="Runs per query.")
@db_option()
@seed_option()
@now_option("End of the history.")
@out_option()
def apis(
    *,
    span_text: str,
    days: int,
    api_count: int,
    consumers: int,
    fold_spans: str,
    repeat: int,
    db: str,
    seed: int,
    now: datetime,
    out: Path | None,
) -> None:
    """Time the APIs page's query (per API and per consumer) over API rollups of 10M spans."""
    spans = parse_size(span_text)
    end_ns = int(now.timestamp()) * NS
    figures: list[Figure] = []
    with scratch_store(db, "apis") as engine:
        kind = store_kind(engine.url)
        clock = Stopwatch()
        rows, stood_for = fill(
            engine, spans=spans, days=days, apis=api_count, consumers=consumers, end_ns=end_ns, seed=seed
        )
        figures.append(
            Figure("rollups written", clock.seconds, "s", 1, f"{rows:,} rows for {stood_for:,} spans")
        )
        for label, seconds in (
            ("1 hour", 3600),
            ("6 hours", 6 * 3600),
            ("1 day", 86400),
            (f"{days} days", days * 86400),
        ):
            for by in ("api", "consumer", "api_consumer"):
                timings = []
                found = 0
                for _ in range(repeat):
                    clock.restart()
                    stats = api_stats(engine, end_ns - seconds * NS, end_ns, by=by)
                    timings.append(clock.seconds)
                    found = sum(s.requests for s in stats)
                figures.append(
                    Figure(
                        f"page query, {label}, per {by} ({kind})",
                        min(timings) * 1000,
                        "ms",
                        0,
                        f"{len(stats)} rows, {found:,} calls",
                        "under 1,000 ms",
                    )
                )
        fold_count = parse_size(fold_spans)
        if fold_count:
            say(f"storing and folding {fold_count:,} spans")
            rate = fold_rate(engine, fold_count, end_ns, seed)
            figures.append(Figure(f"fold ({kind})", rate, "spans/s", 0, f"{fold_count:,} spans"))
    report(figures, out)

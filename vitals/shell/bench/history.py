"""Simulated history in a benchmark store: the simulator's telemetry, stored as the collector would.

The demo's generator (``simulator``) emits its spans and queue gauges through the OpenTelemetry
SDK and the OTLP encoders, exactly as it does towards a running collector; here the exporters
hand each encoded request straight to the collector's own conversion, redaction and SQL sink, in
this process. So a benchmark store holds the rows ``vitals demo`` would have stored, with no
HTTP round trip and no second generator to keep in step with the simulator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from collector.metrics import convert_metrics
from collector.queues.transform import QueueMetricTransform
from collector.redaction import RedactionPolicy, Redactor
from collector.rows import WriteBatch
from collector.spans import convert_spans
from collector.sql_sink import SqlSink
from simulator.emitter import OtelEmitter
from simulator.generator import Generator
from simulator.incidents import compile_effects
from simulator.model import Item, SpanSpec
from simulator.options import now_option, seed_option
from simulator.progress import Progress
from simulator.runner import RunPlan, run
from simulator.scenario import load_scenario
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.units import DAY_NS, NS
from vitals.shell.bench.common import BENCH_SECRET, Stopwatch, say

F = TypeVar("F", bound=Callable[..., Any])

#: Spans a day of the simulator's default estate at ``rate_scale`` 1 (three facilities, weekdays and
#: weekends averaged); sizes in spans become days of history with it.
SIMULATOR_SPANS_PER_DAY = 57_000


class _Received:
    """The simulated clock of the store: the time of the newest item handed to the exporters."""

    def __init__(self) -> None:
        self.ns = 0


class _SpansIntoStore(SpanExporter):
    def __init__(self, sink: SqlSink, redactor: Redactor, received: _Received) -> None:
        self._sink, self._redactor, self._received = sink, redactor, received

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        converted = convert_spans(encode_spans(spans), self._redactor, self._received.ns)
        self._sink.write(converted.batch)
        return SpanExportResult.SUCCESS


class _MetricsIntoStore(MetricExporter):
    def __init__(self, sink: SqlSink, redactor: Redactor, received: _Received) -> None:
        super().__init__()
        self._sink, self._redactor, self._received = sink, redactor, received
        # What the queues component installs in `vitals serve`: pushed queue gauges get their queue.
        self._transforms = [QueueMetricTransform()]

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        request = encode_metrics(metrics_data)
        rows = convert_metrics(request, self._redactor, self._received.ns, self._transforms).rows
        self._sink.write(WriteBatch(metric_points=rows))
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


class StoreWriter:
    """A simulator sink that stores what it is given through the collector's conversion and sink.

    One export thread converts and writes while the caller generates, as a collector's store writer
    would; ``flush`` returns once everything emitted so far is committed.
    """

    def __init__(self, url: str, seed: int) -> None:
        self.engine = create_engine(url)
        migrate(self.engine)
        self._sink = SqlSink(self.engine)
        redactor = Redactor(RedactionPolicy(), BENCH_SECRET.encode())
        self._received = _Received()
        self._emitter = OtelEmitter(
            _SpansIntoStore(self._sink, redactor, self._received),
            _MetricsIntoStore(self._sink, redactor, self._received),
            workers=1,  # the SQL sink is used from one thread at a time
            resource_attributes={"vitals.simulator.seed": seed},
        )
        self.spans = 0
        self.metric_points = 0

    def emit(self, item: Item) -> None:
        self._received.ns = max(self._received.ns, item.time_ns)
        if isinstance(item, SpanSpec):
            self.spans += 1
        else:
            self.metric_points += 1
        self._emitter.emit(item)

    def flush(self) -> None:
        self._emitter.flush()

    def close(self) -> None:
        try:
            self._emitter.close()
        finally:
            self._sink.close()
            self.engine.dispose()


@dataclass(frozen=True)
class History:
    """What a benchmark store holds: ``days`` of simulated history back-filled up to ``start_ns +
    days``, continued with new data (if a benchmark added some) up to ``end_ns``."""

    url: str
    seed: int
    rate_scale: float
    days: float
    start_ns: int
    end_ns: int
    spans: int
    metric_points: int

    def built_as(self, plan: RunPlan) -> bool:
        """Whether this history was back-filled with ``plan``'s seed, density and length (the
        time it ends at may differ: a store is reused whatever ``--now`` says)."""
        return (
            self.seed == plan.seed
            and abs(self.rate_scale - plan.rate_scale) < 1e-9
            and abs(self.days - plan.days) < 1e-6 * max(plan.days, 1.0)
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> History | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def days_for(spans: int, rate_scale: float) -> float:
    """Days of simulated history that hold about ``spans`` spans at ``rate_scale``."""
    return spans / (SIMULATOR_SPANS_PER_DAY * rate_scale)


def plan_for(spans: int, *, seed: int, now: datetime, rate_scale: float) -> RunPlan:
    """The simulator's run (default scenario and its incidents) with about ``spans`` spans up to ``now``."""
    return RunPlan(
        seed=seed, now=now, days=days_for(spans, rate_scale), scenario=load_scenario(), rate_scale=rate_scale
    )


def write_history(url: str, plan: RunPlan) -> History:
    """Back-fill ``plan`` into the store at ``url`` (migrated first), progress on stderr."""
    writer = StoreWriter(url, plan.seed)
    progress = Progress("  simulated history", plan.now_ns - plan.start_ns)
    try:
        result = run(plan, writer, progress=progress)
    finally:
        writer.close()
    return History(
        url=url,
        seed=plan.seed,
        rate_scale=plan.rate_scale,
        days=plan.days,
        start_ns=plan.start_ns,
        end_ns=plan.now_ns,
        spans=result.spans,
        metric_points=result.metric_points,
    )


def continuation(history: History) -> Iterator[Item]:
    """The simulator's telemetry from ``history.end_ns`` on: what the same run emits next.

    A window of the generator holds what a longer run holds in it (the spans that start inside it
    and the gauges sampled inside it), so new data written after a store's history, and after
    earlier continuations, continues the same estate with the scenario's incidents where they
    were; only the few spans under way at the cut belong to neither side.
    """
    back_filled_to = history.start_ns + int(history.days * DAY_NS)
    generator = Generator(
        seed=history.seed,
        start_ns=history.end_ns,
        effects=compile_effects(load_scenario(), datetime.fromtimestamp(back_filled_to / NS, UTC)),
        rate_scale=history.rate_scale,
    )
    return generator.items()


# -- stores a benchmark keeps and reuses ---------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where one store lives: its URL, the file that describes its history, how to empty it."""

    url: str
    meta: Path
    pg_admin: str | None = None
    pg_name: str | None = None

    @classmethod
    def sqlite(cls, path: Path) -> Place:
        """A SQLite file, described by the JSON file of the same name beside it."""
        return cls(f"sqlite:///{path}", path.with_suffix(".json"))


def _empty(place: Place) -> None:
    """Remove the store (file or database) so it can be built again."""
    place.meta.unlink(missing_ok=True)
    if place.pg_admin is None:
        path = Path(place.url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(place.pg_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{place.pg_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{place.pg_name}"')


def _exists(place: Place) -> bool:
    if place.pg_admin is not None:
        return True  # the database is created (empty) with the place; its description says what it holds
    return Path(place.url.removeprefix("sqlite:///")).exists()


def store_for(
    place: Place, total: int, *, seed: int, now: datetime, spans_per_day: int, rebuild: bool
) -> History:
    """The store of ``total`` spans at ``place``: the one built earlier (with what earlier runs
    added to it), or a new one."""
    plan = plan_for(total, seed=seed, now=now, rate_scale=spans_per_day / SIMULATOR_SPANS_PER_DAY)
    found = History.load(place.meta)
    if not rebuild and found is not None and found.built_as(plan) and _exists(place):
        end = datetime.fromtimestamp(found.end_ns / NS, UTC)
        say(
            f"  reusing the store of {found.spans:,} spans up to {end:%Y-%m-%d %H:%M} UTC "
            "(--rebuild builds it again)"
        )
        return found
    _empty(place)
    say(f"  building the store: {plan.days:.1f} days of simulated history (once; reused by later runs)")
    watch = Stopwatch()
    history = write_history(place.url, plan)
    if place.pg_admin is not None:
        _analyze(place.url)
    say(
        f"  built in {watch.seconds:,.0f} s: {history.spans:,} spans and {history.metric_points:,} queue "
        f"samples over {history.days:.1f} days"
    )
    history.save(place.meta)
    return history


def _analyze(url: str) -> None:
    """What autovacuum would do after such a load: without statistics the planner scans."""
    engine = create_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def store_options(
    *, spans_per_day: int, folder: str, folder_help: str, now_help: str = ""
) -> Callable[[F], F]:
    """The options of a benchmark that keeps stores of simulated history (see ``store_for``):
    ``--spans-per-day``, ``--dir`` (``folder``), ``--rebuild``, ``--seed`` and ``--now``."""
    options = (
        click.option(
            "--spans-per-day",
            default=spans_per_day,
            show_default=True,
            type=click.IntRange(1000),
            help="Density of the simulated history (sets how many days a size covers).",
        ),
        click.option(
            "--dir",
            "folder",
            default=folder,
            show_default=True,
            type=click.Path(file_okay=False, path_type=Path),
            help=folder_help,
        ),
        click.option("--rebuild", is_flag=True, help="Build the stores again even when they exist."),
        seed_option(),
        now_option(f"End of the simulated history of a store this run builds{now_help}."),
    )

    def decorate(func: F) -> F:
        for option in reversed(options):  # the first listed is the first in --help
            func = option(func)
        return func

    return decorate


__all__ = [
    "SIMULATOR_SPANS_PER_DAY",
    "History",
    "Place",
    "StoreWriter",
    "continuation",
    "days_for",
    "plan_for",
    "store_for",
    "store_options",
    "write_history",
]

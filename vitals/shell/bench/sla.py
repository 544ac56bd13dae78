"""``vitals bench sla``: one evaluation tick with 1M and 10M stored spans, same new data in both.

Each store holds the demo estate's simulated history (:mod:`vitals.shell.bench.history`) at
``--spans-per-day``, so the 10M store is ten times the history of the 1M store. The engine first
catches up on the whole history (as a long-running service would have), then every measured
tick reads the same volume of new telemetry: the simulator's next spans and queue gauges after
the store's end. The goal: tick time grows with new data, not with history (10M <= 1.5 x 1M,
and under 1 s).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click

from simulator.model import Item, SpanSpec
from slas.loading import SlaConfig
from slas.service import engine_from, load_config_dir
from vitals.kernel.db import create_engine
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.kernel.units import MINUTE_NS
from vitals.shell.bench.common import Figure, Stopwatch, out_option, parse_sizes, report, say
from vitals.shell.bench.history import History, Place, StoreWriter, continuation, store_for, store_options

__all__ = ["sla"]

SPANS_PER_DAY = 500_000
NEW_SPANS = 5_000
#: Goals: the largest store's tick at most this many times the smallest's, and under a second.
GOAL_RATIO = 1.5
GOAL_TICK_S = 1.0


class _Store:
    """One benchmark store with a caught-up engine, ready for measured ticks."""

    def __init__(self, history: History, meta: Path, config: SlaConfig) -> None:
        self.history = history
        self.meta = meta
        self.size = history.spans
        self.new: Iterator[Item] = continuation(history)
        self.clock_ns = history.end_ns
        self.db = create_engine(history.url)
        self.engine = engine_from(self.db, config, clock=lambda: self.clock_ns)
        say(f"  {Path(history.url).name}: catching up on history (the state a running service would have)")
        watch = Stopwatch()
        self.engine.catch_up()
        self.catch_up_s = watch.seconds
        self.engine.tick()  # warm: state in memory, evaluations written once
        cold = engine_from(self.db, config, clock=lambda: self.clock_ns)
        watch = Stopwatch()
        cold.evaluate(self.clock_ns)
        self.load_s = watch.seconds
        self.writer = StoreWriter(history.url, history.seed)
        self.times: list[float] = []
        self.evaluations = 0

    def tick(self, volume: int) -> None:
        """Store the simulator's next ``volume`` spans (and the gauges between), then time one tick."""
        spans, last = 0, self.clock_ns
        while spans < volume:
            item = next(self.new)
            self.writer.emit(item)
            last = item.time_ns
            spans += isinstance(item, SpanSpec)
        self.writer.flush()
        self.history = replace(self.history, end_ns=last + 1, spans=self.history.spans + spans)
        self.clock_ns = -(-(last + 1) // MINUTE_NS) * MINUTE_NS  # the minute after the new data
        watch = Stopwatch()
        result = self.engine.tick()
        self.times.append(watch.seconds)
        self.evaluations = len(result.evaluations)
        if result.spans_read != volume:
            raise click.ClickException(f"tick read {result.spans_read} spans, expected {volume}")

    def close(self) -> None:
        self.writer.close()
        self.db.dispose()
        self.history.save(self.meta)  # the next run continues after the data written here


@click.command()
@click.option(
    "--sizes", default="1M,10M", show_default=True, help="Stored spans of each store (k and M suffixes)."
)
@click.option(
    "--new-spans",
    default=NEW_SPANS,
    show_default=True,
    help="New spans per measured tick (the same for every store).",
)
@click.option(
    "--ticks", default=9, show_default=True, help="Measured ticks per store, interleaved across the stores."
)
@store_options(
    spans_per_day=SPANS_PER_DAY,
    folder=".vitals/bench-sla",
    folder_help="Where the SQLite stores are built and kept for the next run.",
)
@click.option(
    "--config",
    "config_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Config directory whose SLAs are evaluated (default: the starter library).",
)
@out_option()
def sla(
    *,
    sizes: str,
    new_spans: int,
    ticks: int,
    spans_per_day: int,
    folder: Path,
    rebuild: bool,
    seed: int,
    now: datetime,
    config_dir: Path | None,
    out: Path | None,
) -> None:
    """One SLA evaluation tick with 1M and 10M stored spans and the same new data in both.

    Builds (once) SQLite stores of the simulated estate at --spans-per-day, lets the engine catch
    up on their history, then times ticks that each read --new-spans new spans (the simulator's
    next ones) and evaluate every SLA of the starter library, alternating between the stores so
    that other load on the machine hits them alike. Prints each store's median and minimum tick
    time and the ratio of the largest to the smallest store (the goal: at most 1.5 and under 1 s).
    """
    config = load_config_dir(config_dir or STARTER_CONFIG_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    stores: list[_Store] = []
    try:
        for label, size in parse_sizes(sizes):
            place = Place.sqlite(folder / f"spans-{size}.db")
            say(f"store with {label} spans: {place.url}")
            history = store_for(place, size, seed=seed, now=now, spans_per_day=spans_per_day, rebuild=rebuild)
            stores.append(_Store(history, place.meta, config))
        say(f"measuring {ticks} ticks per store, interleaved so background load hits every store alike")
        for _ in range(ticks):
            for store in stores:
                store.tick(new_spans)
    finally:
        for store in stores:
            store.close()
    report(_figures(stores, len(config.slas), new_spans), out)
    sys.stdout.flush()


def _figures(stores: list[_Store], slas: int, new_spans: int) -> list[Figure]:
    figures = []
    goal = f"goal: under {GOAL_TICK_S:.0f} s"
    for store in stores:
        median = statistics.median(store.times)
        figures += [
            Figure(
                f"tick, {store.size:,} stored spans ({store.history.days:.1f} days)",
                median * 1000,
                "ms",
                digits=1,
                detail=f"median; min {min(store.times) * 1000:.1f}, max {max(store.times) * 1000:.1f}; "
                f"{slas} SLAs, {store.evaluations} evaluations, {new_spans:,} new spans",
                reference=goal if median < GOAL_TICK_S else f"NOT met ({goal})",
            ),
            Figure(f"state load, {store.size:,} stored spans", store.load_s * 1000, "ms"),
            Figure(f"initial catch-up, {store.size:,} stored spans", store.catch_up_s, "s"),
        ]
    if len(stores) >= 2:
        small, large = min(stores, key=lambda s: s.size), max(stores, key=lambda s: s.size)
        ratio = statistics.median(large.times) / statistics.median(small.times)
        met = ratio <= GOAL_RATIO and statistics.median(large.times) < GOAL_TICK_S
        figures.append(
            Figure(
                f"tick ratio {large.size:,} / {small.size:,} stored spans",
                ratio,
                "x",
                digits=2,
                detail=f"min {min(large.times) / min(small.times):.2f}x",
                reference=f"goal <= {GOAL_RATIO}x and < {GOAL_TICK_S:.0f} s: {'met' if met else 'NOT met'}",
            )
        )
    return figures

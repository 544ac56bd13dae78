"""Drive a run: back-fill the history as fast as the collector takes it, then follow the clock.

The same generator feeds both phases, so live traffic continues the back-filled history exactly
(journeys begun in the past finish live). In live mode the emitter is flushed whenever the next
item lies in the future, so telemetry reaches the collector within about a second of its time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from simulator.emitter import Sink
from simulator.generator import Generator
from simulator.incidents import compile_effects
from simulator.model import SpanSpec
from simulator.progress import Progress
from simulator.scenario import Scenario
from vitals.kernel.units import NS


@dataclass(frozen=True)
class RunPlan:
    seed: int
    now: datetime
    days: float
    scenario: Scenario | None = None
    rate_scale: float = 1.0
    queue_metrics: bool = True

    @property
    def now_ns(self) -> int:
        return int(self.now.timestamp() * NS)

    @property
    def start_ns(self) -> int:
        return self.now_ns - int(self.days * 86400 * NS)

    def generator(self) -> Generator:
        return Generator(
            seed=self.seed,
            start_ns=self.start_ns,
            effects=compile_effects(self.scenario, self.now),
            rate_scale=self.rate_scale,
            queue_metrics=self.queue_metrics,
        )


@dataclass
class RunResult:
    spans: int = 0
    metric_points: int = 0
    backfill_seconds: float = 0.0
    backfill_spans: int = 0
    backfill_metric_points: int = 0
    live_seconds: float = 0.0
    stopped: bool = False


def utc_now() -> datetime:
    return datetime.now(UTC)


def run(
    plan: RunPlan,
    sink: Sink,
    *,
    live: bool = False,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    on_backfilled: Callable[[RunResult], None] | None = None,
    clock: Callable[[], float] = time.time,
    flush_every_s: float = 1.0,
) -> RunResult:
    """Back-fill ``plan.days`` up to ``plan.now``, then (``live``) keep emitting until ``stop`` is set.

    The sink is flushed (everything acknowledged) before the back-fill counts as done.
    """
    stop = stop or threading.Event()
    result = RunResult()
    items = plan.generator().items()
    started = time.monotonic()
    window = plan.now_ns - plan.start_ns
    pending = None
    for item in items:
        if stop.is_set():
            break
        if item.time_ns >= plan.now_ns:
            pending = item
            break
        sink.emit(item)
        if isinstance(item, SpanSpec):
            result.spans += 1
        else:
            result.metric_points += 1
        if progress is not None and (result.spans + result.metric_points) % 2000 == 0:
            progress.update(item.time_ns - plan.start_ns, result.spans + result.metric_points)
    sink.flush()
    result.backfill_seconds = time.monotonic() - started
    result.backfill_spans, result.backfill_metric_points = result.spans, result.metric_points
    if progress is not None:
        progress.update(window, result.spans + result.metric_points)
        rate = result.spans / result.backfill_seconds if result.backfill_seconds else 0.0
        progress.finish(
            f"back-filled {plan.days:g} day(s): {result.spans:,} spans and {result.metric_points:,} queue "
            f"samples in {result.backfill_seconds:.1f}s ({rate:,.0f} spans/s)"
        )
    if on_backfilled is not None:
        on_backfilled(result)
    if not live or stop.is_set() or pending is None:
        result.stopped = stop.is_set()
        return result

    live_started = time.monotonic()
    dirty = 0
    last_flush = time.monotonic()
    item = pending
    while not stop.is_set():
        wait = item.time_ns / NS - clock()
        if wait > 0:
            if dirty and time.monotonic() - last_flush >= flush_every_s:
                sink.flush()
                dirty, last_flush = 0, time.monotonic()
            stop.wait(min(wait, 0.25))
            continue
        sink.emit(item)
        dirty += 1
        if isinstance(item, SpanSpec):
            result.spans += 1
        else:
            result.metric_points += 1
        item = next(items)
    sink.flush()
    result.live_seconds = time.monotonic() - live_started
    result.stopped = True
    return result


__all__ = ["RunPlan", "RunResult", "run", "utc_now"]

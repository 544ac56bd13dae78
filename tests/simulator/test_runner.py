from __future__ import annotations

import io
import threading
from datetime import UTC, datetime

from simulator.emitter import ListSink
from simulator.model import Item
from simulator.progress import Progress
from simulator.runner import RunPlan, run

NOW = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)


class StoppingSink(ListSink):
    """Stops the run once it holds ``limit`` items."""

    def __init__(self, stop: threading.Event, limit: int) -> None:
        super().__init__()
        self.stop, self.limit = stop, limit

    def emit(self, item: Item) -> None:
        super().emit(item)
        if len(self.items) >= self.limit:
            self.stop.set()


def test_backfill_emits_the_window_then_flushes() -> None:
    plan = RunPlan(seed=2, now=NOW, days=0.05, rate_scale=0.5)
    sink = ListSink()
    out = io.StringIO()
    result = run(plan, sink, progress=Progress("back-fill", plan.now_ns - plan.start_ns, stream=out))
    assert sink.items and all(plan.start_ns <= item.time_ns < plan.now_ns for item in sink.items)
    assert result.spans + result.metric_points == len(sink.items) and not result.stopped
    assert sink.flushes >= 1
    assert "back-filled 0.05 day(s)" in out.getvalue()


def test_live_continues_the_same_history_following_the_clock() -> None:
    plan = RunPlan(seed=2, now=NOW, days=0.02, rate_scale=0.5)
    backfill_only = ListSink()
    run(plan, backfill_only)
    stop = threading.Event()
    sink = StoppingSink(stop, limit=len(backfill_only.items) + 300)
    ticks = iter(range(10**9))
    # a clock that runs a minute ahead on every look, so live traffic flows without real waiting
    result = run(plan, sink, live=True, stop=stop, clock=lambda: NOW.timestamp() + 60 * next(ticks))
    assert result.stopped
    assert sink.items[: len(backfill_only.items)] == backfill_only.items
    live = sink.items[len(backfill_only.items) :]
    assert len(live) == 300 and all(item.time_ns >= plan.now_ns for item in live)
    times = [item.time_ns for item in sink.items]
    assert times == sorted(times)
    assert result.live_seconds > 0

"""A benchmark store holds the simulator's telemetry exactly as the collector stores it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from collector.redaction import hash_key
from collector.tables import metric_points, span_keys, spans
from simulator.generator import Generator
from simulator.incidents import compile_effects
from simulator.model import MetricSpec, SpanSpec
from simulator.runner import RunPlan
from simulator.scenario import load_scenario
from vitals.kernel.db import create_engine
from vitals.kernel.units import HOUR_NS, NS
from vitals.shell.bench.common import BENCH_SECRET
from vitals.shell.bench.history import History, continuation, days_for, plan_for, write_history

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def _plan() -> RunPlan:
    return RunPlan(seed=11, now=NOW, days=1 / 24, scenario=load_scenario(), rate_scale=0.3)


def test_sizes_become_days_of_history_at_the_chosen_density() -> None:
    assert days_for(570_000, rate_scale=1.0) == pytest.approx(10.0)
    plan = plan_for(1_000_000, seed=7, now=NOW, rate_scale=6.0)
    assert plan.days == pytest.approx(1_000_000 / 342_000)
    assert (plan.now, plan.seed, plan.rate_scale) == (NOW, 7, 6.0)
    assert plan.scenario is not None  # the demo's incidents: late charges, a GL outage, ...


def test_the_store_holds_every_simulated_span_and_gauge_with_hashed_keys(store_url: str) -> None:
    plan = _plan()
    items = list(plan.generator().items(plan.now_ns))
    simulated = [item for item in items if isinstance(item, SpanSpec)]
    history = write_history(store_url, plan)
    assert (history.spans, history.metric_points) == (len(simulated), len(items) - len(simulated))
    assert (history.start_ns, history.end_ns, history.seed) == (plan.start_ns, plan.now_ns, 11)
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            stored = {tuple(row) for row in conn.execute(select(spans.c.trace_id, spans.c.span_id))}
            points = conn.execute(select(metric_points.c.name, metric_points.c.queue)).all()
            keys = {tuple(row) for row in conn.execute(select(span_keys.c.key_name, span_keys.c.key_hash))}
    finally:
        engine.dispose()
    assert stored == {(f"{s.trace_id:032x}", f"{s.span_id:016x}") for s in simulated}
    assert len(points) == history.metric_points
    assert all(queue for _, queue in points)  # pushed queue gauges get their queue, as in `vitals serve`
    charge = next(s.attributes["hc.key.charge"] for s in simulated if "hc.key.charge" in s.attributes)
    assert ("charge", hash_key(BENCH_SECRET, str(charge))) in keys
    assert all(len(key_hash) == 64 for _, key_hash in keys)  # HMACs, never the raw identifiers


def test_new_data_continues_the_same_estate_after_the_history(tmp_path: Path) -> None:
    """What a benchmark appends after a store's end is what a longer run of the simulator emits
    there: the spans that start after the cut and the gauges sampled after it."""
    plan = _plan()
    history = History(
        url="sqlite://",
        seed=plan.seed,
        rate_scale=plan.rate_scale,
        days=plan.days,
        start_ns=plan.start_ns,
        end_ns=plan.now_ns,
        spans=0,
        metric_points=0,
    )
    cut, until = plan.now_ns, plan.now_ns + HOUR_NS
    longer = Generator(
        seed=plan.seed, start_ns=plan.start_ns, effects=compile_effects(plan.scenario, NOW), rate_scale=0.3
    )
    expected = [
        item
        for item in longer.items(until)
        if (item.start_ns if isinstance(item, SpanSpec) else item.time_ns) >= cut
    ]
    continued = []
    for item in continuation(history):
        if item.time_ns >= until:
            break
        continued.append(item)
    assert Counter(type(item) for item in continued)[SpanSpec] > 100
    assert any(isinstance(item, MetricSpec) for item in continued)
    assert sorted(map(repr, continued)) == sorted(map(repr, expected))


def test_a_store_description_survives_a_round_trip(tmp_path: Path) -> None:
    history = History("sqlite:///x.db", 7, 6.0, 2.5, 10 * NS, 20 * NS, 1234, 56)
    history.save(tmp_path / "x.json")
    assert History.load(tmp_path / "x.json") == history
    assert History.load(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text('{"url": 1}')
    assert History.load(tmp_path / "bad.json") is None


def test_nothing_is_left_behind_in_a_fresh_store(sqlite_url: str) -> None:
    write_history(sqlite_url, _plan())
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(spans)).scalar_one() > 100
    finally:
        engine.dispose()

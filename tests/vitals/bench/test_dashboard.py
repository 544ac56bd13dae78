"""`vitals bench dashboard`: its stores come from the simulator and are reused; every page renders."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from vitals.kernel.units import DAY_NS
from vitals.shell.bench.dashboard import _place, dashboard, page_cases
from vitals.shell.bench.history import History, plan_for, store_for

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def test_every_page_over_a_day_and_a_month_and_one_trace() -> None:
    end = int(NOW.timestamp()) * 1_000_000_000
    cases = page_cases(end, "ab" * 16, "cd" * 32)
    labels = [case.label for case in cases]
    assert len(labels) == len(set(labels)) == 17
    assert {case.page for case in cases} == {
        "scorecard",
        "sla",
        "operations",
        "traces",
        "dependencies",
        "alerts",
    }
    month = next(case for case in cases if case.label == "scorecard 30d")
    assert month.params == {
        "range": "custom",
        "from": "2026-02-02T15:00",
        "to": "2026-03-04T15:00",
        "tz": "UTC",
    }
    trace = next(case for case in cases if case.label == "traces waterfall+journey")
    assert (trace.params["trace"], trace.params["key"]) == ("ab" * 16, "cd" * 32)
    assert "traces waterfall+journey" not in [case.label for case in page_cases(end, None, None)]


def test_a_store_is_reused_only_for_the_same_seed_density_and_size() -> None:
    plan = plan_for(855_000, seed=7, now=NOW, rate_scale=6.0)
    built = History("sqlite:///x.db", 7, 6.0, plan.days, 0, int(2.5 * DAY_NS), 850_000, 9_000)
    assert built.built_as(plan)
    assert built.built_as(plan_for(855_000, seed=7, now=datetime(2027, 1, 1, tzinfo=UTC), rate_scale=6.0))
    assert not built.built_as(plan_for(855_000, seed=8, now=NOW, rate_scale=6.0))
    assert not built.built_as(plan_for(855_000, seed=7, now=NOW, rate_scale=3.0))
    assert not built.built_as(plan_for(8_550_000, seed=7, now=NOW, rate_scale=6.0))


def test_the_store_is_built_from_the_simulator_once_then_reused(tmp_path: Path) -> None:
    place = _place(tmp_path, "400", None)
    first = store_for(place, 400, seed=3, now=NOW, spans_per_day=6000, rebuild=False)
    assert first.end_ns == int(NOW.timestamp()) * 1_000_000_000
    assert first.spans > 100 and first.metric_points > 0
    assert History.load(place.meta) == first
    database = Path(place.url.removeprefix("sqlite:///"))
    built_at = database.stat().st_mtime_ns
    later = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert store_for(place, 400, seed=3, now=later, spans_per_day=6000, rebuild=False) == first
    assert database.stat().st_mtime_ns == built_at
    database.unlink()  # a description without its store is not reused
    assert store_for(place, 400, seed=3, now=NOW, spans_per_day=6000, rebuild=False).spans == first.spans
    again = store_for(place, 400, seed=3, now=later, spans_per_day=6000, rebuild=True)
    assert again.end_ns == int(later.timestamp()) * 1_000_000_000


@pytest.mark.e2e
def test_the_benchmark_renders_every_page_of_a_small_store(tmp_path: Path) -> None:
    out = tmp_path / "dashboard.json"
    args = ["--spans", "300", "--spans-per-day", "6000", "--repeat", "1", "--dir", str(tmp_path)]
    result = CliRunner().invoke(dashboard, [*args, "--now", "2026-03-04T15:20:00Z", "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = {f["measure"]: f for f in json.loads(out.read_text())["figures"]}
    pages = [name for name in figures if name.startswith("300: ") and figures[name]["unit"] == "ms"]
    assert len(pages) == 17  # every page and range, and the trace waterfall of a stored GL posting
    assert "300: traces waterfall+journey" in pages
    assert figures["300: dashboard rollups catch-up"]["unit"] == "rows/s"
    assert History.load(tmp_path / "dashboard-300.json") is not None
    assert json.loads(out.read_text())["parameters"]["now"] == "2026-03-04T15:20:00+00:00"

"""`vitals bench queues`, `alerts` and `simulate` on tiny sizes: they run and report their figures
(speed is never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vitals.kernel.units import NS
from vitals.shell.bench.alerts import alerts, evaluations
from vitals.shell.bench.queues import messaging_rows, queues
from vitals.shell.bench.simulate import simulate

NOW = "2026-03-04T15:20:00Z"
NOW_NS = 1_772_637_600 * NS


def _figures(out: Path) -> dict[str, dict[str, object]]:
    return {f["measure"]: f for f in json.loads(out.read_text())["figures"]}


def test_queue_pairs_are_seeded_and_end_at_now() -> None:
    rows = messaging_rows(10, seed=4, end_ns=NOW_NS)
    assert rows == messaging_rows(10, seed=4, end_ns=NOW_NS)
    assert rows != messaging_rows(10, seed=5, end_ns=NOW_NS)
    producers, consumers = rows[0::2], rows[1::2]
    assert all(
        c["parent_span_id"] == p["span_id"] and c["trace_id"] == p["trace_id"]
        for p, c in zip(producers, consumers, strict=True)
    )
    assert max(row["start_time_unix_nano"] for row in producers) < NOW_NS


def test_the_queues_benchmark_joins_every_pair(store_url: str, tmp_path: Path) -> None:
    db = "sqlite" if store_url.startswith("sqlite") else store_url  # PostgreSQL: a throwaway database
    out = tmp_path / "queues.json"
    result = CliRunner().invoke(queues, ["--pairs", "300", "--db", db, "--now", NOW, "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = _figures(out)
    kind = "SQLite" if db == "sqlite" else "PostgreSQL"
    assert str(figures[f"read + join, {kind}"]["detail"]).startswith("600 spans in ")
    assert any(name.startswith("summarise ") for name in figures)


def test_a_tick_of_evaluations_has_a_fifth_burning() -> None:
    rows = evaluations(4, 5, at=1_772_637_600.0)
    assert len(rows) == 20
    assert sum(row["status"] == "breach" for row in rows) == 4


def test_the_alerts_benchmark_delivers_every_planned_notification(tmp_path: Path) -> None:
    out = tmp_path / "alerts.json"
    args = ["--slas", "3", "--slices", "2", "--ticks", "2", "--routing-seconds", "0.05", "--now", NOW]
    result = CliRunner().invoke(alerts, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = _figures(out)
    delivery = str(figures["outbox delivery, unpaced, in-memory receiver"]["detail"])
    delivered, _, planned = delivery.split(" rows", maxsplit=1)[0].partition(" of ")
    assert delivered == planned and int(planned) > 0
    assert (
        figures["evaluate, 6 evaluations/tick (24 alert tiers)"]["reference"]
        == "within the 5 s cycle interval"
    )


@pytest.mark.e2e
def test_the_simulate_benchmark_back_fills_a_fresh_collector(tmp_path: Path) -> None:
    out = tmp_path / "simulate.json"
    result = CliRunner().invoke(simulate, ["--days", "0.01", "--now", NOW, "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = _figures(out)
    generated = str(figures["generator only"]["detail"]).split(" spans")[0]
    acknowledged = str(figures["end to end (http, acknowledged)"]["detail"]).split(" spans")[0]
    assert generated == acknowledged  # every simulated span was acknowledged by the collector
    assert set(figures) == {"generator only", "+ SDK + OTLP encoding", "end to end (http, acknowledged)"}

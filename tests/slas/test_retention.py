"""The SLA engine's retention on SQLite and PostgreSQL: a year of history, thinned, then deleted."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from slas.engine import SlaEngine
from slas.history import sampled_evaluations, sla_history
from slas.loading import load_sla_path
from slas.model import Evaluation
from slas.service import engine_from, load_config_dir
from slas.source import MemoryTelemetrySource
from slas.spec import EvaluationSettings
from slas.store import MemoryStateStore, SqlStateStore
from slas.tables import sla_evaluations, sla_minutes, sla_retention
from tests.slas.helpers import DAY, HOUR, MIN, T0, Clock, Timeline, make_sla
from tests.slas.test_cli import GL, config
from tests.slas.test_store import store_spans
from vitals.kernel.configfile import ConfigError
from vitals.kernel.units import NS
from vitals.shell.cli import main

NOW = T0 + 420 * DAY
SETTINGS = EvaluationSettings()  # the defaults: rollups 400 days, evaluations in full 35 days


def ns(seconds_ago: float) -> int:
    return int((NOW - seconds_ago) * NS)


def evaluation(
    sla_id: str, slice_: str | None, at_ns: int, status: str, breach: int | None = None
) -> Evaluation:
    return Evaluation(
        sla_id=sla_id,
        slice=slice_,
        at_unix_nano=at_ns,
        title="t",
        domain="integration",
        owner="team",
        priority="P2",
        kind="ratio",
        window_s=86400.0,
        window_label="1d",
        objective=0.99,
        good=99.0,
        total=100.0,
        sli=0.99,
        budget_remaining=0.5 if status != "breach" else -0.2,
        time_to_exhaustion_s=None,
        burn_rates=(),
        status=status,  # type: ignore[arg-type]
        breach_started_unix_nano=breach,
    )


def history() -> list[Evaluation]:
    """Every 30 s: three hours 401 days ago, three hours 40 days ago with a breach from 1:17 to
    1:40, and an hour 10 days ago; for the SLA as a whole and one slice."""
    out: list[Evaluation] = []
    breach = ns(40 * DAY - HOUR - 17 * MIN)
    for slice_ in (None, "queue=charges"):
        for start, seconds in ((401 * DAY, 3 * HOUR), (40 * DAY, 3 * HOUR), (10 * DAY, HOUR)):
            for i in range(seconds // 30):
                at = start - i * 30  # seconds ago, newest last below
                offset = start - at
                in_breach = start == 40 * DAY and HOUR + 17 * MIN <= offset < HOUR + 40 * MIN
                status = "breach" if in_breach else "ok"
                out.append(evaluation("a", slice_, ns(at), status, breach if in_breach else None))
    return sorted(out, key=lambda e: e.at_unix_nano)


def rows(engine: Engine, lo_ago: float, hi_ago: float) -> list[tuple[str, int, str, int | None]]:
    e = sla_evaluations.c
    query = (
        select(e.slice, e.evaluated_at_unix_nano, e.status, e.breach_started_unix_nano)
        .where(e.evaluated_at_unix_nano >= ns(lo_ago), e.evaluated_at_unix_nano < ns(hi_ago))
        .order_by(e.slice, e.evaluated_at_unix_nano)
    )
    with engine.connect() as conn:
        return [(r[0], int(r[1]), r[2], r[3]) for r in conn.execute(query)]


def prune(store: SqlStateStore, now_ns: int) -> None:
    store.prune(
        now_ns,
        now_ns - int(SETTINGS.retention * NS),
        now_ns - int(SETTINGS.evaluation_retention * NS),
    )


def test_old_evaluations_are_thinned_keeping_turns_and_the_oldest_are_deleted(engine: Engine) -> None:
    store = SqlStateStore(engine, prune_batch_rows=50, pause=lambda _s: None)
    store.write_evaluations(history())
    recent_before = rows(engine, 11 * DAY, 9 * DAY)
    old_before = rows(engine, 41 * DAY, 39 * DAY)

    prune(store, ns(0))

    assert rows(engine, 500 * DAY, 400 * DAY) == []  # past the 400 days: gone
    assert rows(engine, 11 * DAY, 9 * DAY) == recent_before  # within 35 days: every tick
    old = rows(engine, 41 * DAY, 39 * DAY)
    for slice_ in ("", "queue=charges"):
        mine = [r for r in old if r[0] == slice_]
        # The last of each of the three hours, the first row, the breach's first and its end.
        assert len(mine) == 6, mine
        statuses = [r[2] for r in mine]
        assert statuses.count("breach") == 1
        first_breach = next(r for r in mine if r[2] == "breach")
        assert first_breach[1] == first_breach[3] == ns(40 * DAY - HOUR - 17 * MIN)
        assert next(r for r in old_before if r[0] == slice_ and r[2] == "breach") == first_breach
        recovered = mine[statuses.index("breach") + 1]
        assert recovered[2] == "ok" and recovered[1] == ns(40 * DAY - HOUR - 40 * MIN)
    with engine.connect() as conn:
        done = conn.execute(select(sla_retention.c.done_unix_nano)).scalar()
    assert done == ns(35 * DAY) // (3600 * NS) * 3600 * NS

    # An hourly chart of the old range still has a sample every hour.
    hours = [ns(40 * DAY - h * HOUR) for h in (1, 2, 3)]
    samples = sampled_evaluations(engine, [("a", None), ("a", "queue=charges")], hours, 3600 * NS)
    assert len(samples) == 6
    # So does a 10-minute chart of it: there, a sample is the last row of the hour before it.
    tens = [ns(40 * DAY - HOUR - m * MIN) for m in range(0, 60, 10)]
    short = sampled_evaluations(engine, [("a", None)], tens, 600 * NS)
    assert len(short) == 6
    assert [s.status for s in short] == ["ok", "ok", "breach", "breach", "ok", "ok"]
    # Where every tick is kept, a 10-minute step still looks back 10 minutes only.
    recent = sampled_evaluations(engine, [("a", None)], [ns(10 * DAY - HOUR - 15 * MIN)], 600 * NS)
    assert recent == []

    # A day later: the thinning goes on from where it stopped and keeps what it kept.
    again = store.prune(ns(-DAY), ns(-DAY) - int(SETTINGS.retention * NS), ns(-DAY) - 35 * DAY * NS)
    assert again.evaluations_thinned == 0 and again.evaluations_deleted == 0
    assert rows(engine, 41 * DAY, 39 * DAY) == old


def test_a_pass_stops_at_its_budget_and_the_next_goes_on(engine: Engine) -> None:
    ticks = iter(range(1_000_000))
    store = SqlStateStore(engine, prune_batch_rows=50, prune_budget_s=3, pause=lambda _s: None)
    store.write_evaluations(history())
    from slas.retention import prune as retention_prune

    first = retention_prune(
        engine,
        ns(0),
        ns(400 * DAY),
        ns(35 * DAY),
        batch_rows=50,
        budget_s=3,
        pause=lambda _s: None,
        monotonic=lambda: float(next(ticks)),
    )
    assert not first.finished
    prune(store, ns(0))
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(sla_evaluations)).scalar()
    assert total == 2 * 6 + 2 * 120  # six old rows a series, and the recent hour in full


def test_the_memory_store_thins_the_same_rows() -> None:
    memory = MemoryStateStore()
    memory.write_evaluations(history())
    memory.prune(ns(0), ns(400 * DAY), ns(35 * DAY))
    old = [e for e in memory.evaluations if ns(41 * DAY) <= e.at_unix_nano < ns(39 * DAY)]
    assert len(old) == 12 and len([e for e in memory.evaluations if e.at_unix_nano < ns(400 * DAY)]) == 0


def test_a_year_old_range_still_answers_and_older_rollups_go(engine: Engine) -> None:
    """What ``vitals sla report --at`` and the dashboard's SLA chart read, 300 days back, after
    the engine's retention ran with its defaults at a fixed now."""
    sla = make_sla(
        id="a",
        objective="99%",
        window="1d",
        sli={"ratio": {"total": {"span": "op"}, "bad": {"status": "error"}}},
    )
    timeline = Timeline()
    spans = [
        *timeline.spans(range(int(19 * DAY), int(20 * DAY), MIN), status="unset"),  # 401 days ago
        *timeline.spans(range(int(120 * DAY), int(121 * DAY), MIN), status="unset"),  # 300 days ago
        *timeline.spans(range(int(120 * DAY), int(120 * DAY) + 30 * MIN, MIN), status="error"),
    ]
    clock = Clock(420 * DAY)
    sla_engine = SlaEngine(
        [sla], SqlStateStore(engine, pause=lambda _s: None), MemoryTelemetrySource(spans), clock=clock
    )
    sla_engine.catch_up()
    at = int((T0 + 121 * DAY) * NS)
    before = sla_engine.evaluate(at)[0]
    sla_engine.tick()  # the tick runs the retention at the fixed now (400 days)

    after = sla_engine.evaluate(at)[0]
    assert after == replace(before, at_unix_nano=at)
    assert after.total > 1400 and after.status == "breach"
    assert sla_engine.evaluate(int((T0 + 20 * DAY) * NS))[0].total == 0  # 400 days passed it
    with engine.connect() as conn:
        oldest = conn.execute(select(func.min(sla_minutes.c.minute_unix_nano))).scalar()
    assert oldest == int((T0 + 120 * DAY) * NS)

    found = sla_history(engine, sla, None, start_ns=int((T0 + 110 * DAY) * NS), end_ns=at, points=12)
    assert found.usable and found.points[-1].total == after.total


def test_vitals_sla_report_answers_300_days_back_after_the_retention_ran(
    engine: Engine, store_url: str, tmp_path: Path
) -> None:
    """``vitals sla report --at`` on a store whose engine ran its retention at a fixed now
    (420 days after the first spans): 300 days back it answers, 401 days back the rollups are gone."""
    timeline = Timeline()
    store_spans(
        engine,
        [
            *timeline.spans(range(19 * DAY, 20 * DAY, 10 * MIN), name="erp.gl.post", hc__facility="north"),
            *timeline.spans(range(120 * DAY, 121 * DAY, 10 * MIN), name="erp.gl.post", hc__facility="north"),
            *timeline.spans(range(120 * DAY, 120 * DAY + HOUR, 10 * MIN), name="erp.gl.post", status="error"),
        ],
    )
    cfg = config(tmp_path, GL)
    sla_engine = engine_from(engine, load_config_dir(cfg), clock=Clock(420 * DAY))
    sla_engine.catch_up()
    sla_engine.tick()
    with engine.connect() as conn:
        oldest = conn.execute(select(func.min(sla_minutes.c.minute_unix_nano))).scalar()
    assert oldest == int((T0 + 120 * DAY) * NS)

    def report(at: str) -> dict[str | None, dict[str, object]]:
        args = ["sla", "report", "--db", store_url, "--config", str(cfg), "--json", "--at", at]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        return {row["slice"]: row for row in json.loads(result.stdout)["slas"]}

    year_old = report("2026-07-01T00:00:00Z")  # T0 + 121 days: 300 days before the fixed now
    # The window (at - 1d, at] leaves out the first minute of the day.
    assert year_old[None]["total"] == 143 + 5 and year_old[None]["good"] == 143
    assert year_old["hc.facility=north"]["total"] == 143
    expired = report("2026-03-21T00:00:00Z")  # T0 + 19 days: past the 400 days
    assert all(row["total"] == 0 for row in expired.values())


def test_the_retentions_are_set_in_the_evaluation_block_and_checked(tmp_path: Path) -> None:
    folder = tmp_path / "slas"
    folder.mkdir()
    (folder / "a.yaml").write_text("evaluation:\n  retention: 730d\n  evaluation_retention: 7d\n")
    settings = load_sla_path(folder).evaluation
    assert (settings.retention, settings.evaluation_retention) == (730 * DAY, 7 * DAY)
    assert (EvaluationSettings().retention, EvaluationSettings().evaluation_retention) == (
        400 * DAY,
        35 * DAY,
    )
    (folder / "a.yaml").write_text("evaluation:\n  interval: 30s\n  evaluation_retention: 12h\n")
    with pytest.raises(ConfigError) as exc:
        load_sla_path(folder)
    (issue,) = exc.value.issues
    assert (Path(issue.file).name, issue.line, issue.field) == (
        "a.yaml",
        3,
        "evaluation.evaluation_retention",
    )
    assert "at least 1d" in issue.message

"""``vitals sla`` commands, in-process through click, against both stores."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from slas.tables import sla_evaluations, sla_minutes
from tests.slas.helpers import HOUR, MIN, T0, Timeline
from tests.slas.test_store import store_spans
from vitals.shell.cli import main

GL = """\
slas:
  - id: gl-posting-errors
    title: GL postings succeed
    domain: finance
    owner: finance-systems
    priority: P2
    objective: 90%
    window: 1d
    slice_by: [hc.facility]
    sli:
      ratio:
        total: {span: erp.gl.post}
        bad: {status: error}
"""

ADT = """\
slas:
  - id: adt-silence
    title: ADT keeps flowing
    domain: clinical-operations
    owner: integration-engineering
    priority: P1
    objective: 99%
    window: 1d
    sli:
      freshness:
        select: {message_type: "ADT^*"}
        max_age: 10m
"""


def config(tmp_path: Path, text: str, name: str = "slas.yaml") -> Path:
    folder = tmp_path / "config" / "slas"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return tmp_path / "config"


def test_check_reports_ok_and_errors_with_file_line_field(tmp_path: Path) -> None:
    runner = CliRunner()
    good = config(tmp_path, GL)
    result = runner.invoke(main, ["sla", "check", str(good)])
    assert result.exit_code == 0 and "OK: 1 SLA(s) in 1 file(s): gl-posting-errors" in result.output
    single = runner.invoke(main, ["sla", "check", str(good / "slas" / "slas.yaml")])
    assert single.exit_code == 0
    bad = config(tmp_path, GL.replace("objective: 90%", "objective: ninety"), "bad.yaml")
    result = runner.invoke(main, ["sla", "check", "--config", str(bad)])
    assert result.exit_code == 1
    assert f"{bad / 'slas' / 'bad.yaml'}:7: slas[0].objective: expected a percentage" in result.output
    assert "1 problem(s) in the SLA files" in result.output


def test_report_json_shape_and_values(engine: Engine, store_url: str, tmp_path: Path) -> None:
    tl = Timeline()
    spans = tl.spans([HOUR + i * MIN for i in range(5)], name="erp.gl.post", hc__facility="north-campus")
    spans += [tl.span(HOUR + 5 * MIN, name="erp.gl.post", status="error", hc__facility="north-campus")]
    spans += tl.spans([2 * HOUR + i * MIN for i in range(4)], name="erp.gl.post", hc__facility="south-campus")
    store_spans(engine, spans)
    cfg = config(tmp_path, GL)
    runner = CliRunner()
    args = [
        "sla",
        "report",
        "--db",
        store_url,
        "--config",
        str(cfg),
        "--json",
        "--at",
        "2026-03-02T04:00:00Z",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["at"] == "2026-03-02T04:00:00Z"
    rows = {row["slice"]: row for row in document["slas"]}
    assert set(rows) == {None, "hc.facility=north-campus", "hc.facility=south-campus"}
    keys = {
        "id",
        "slice",
        "title",
        "priority",
        "sli",
        "good",
        "total",
        "objective",
        "budget_remaining",
        "burn_rates",
        "status",
        "at_risk_amount",
    }
    assert all(set(row) == keys for row in rows.values())
    whole = rows[None]
    assert (whole["id"], whole["title"], whole["priority"], whole["good"], whole["total"]) == (
        "gl-posting-errors",
        "GL postings succeed",
        "P2",
        9,
        10,
    )
    assert whole["sli"] == 0.9 and whole["objective"] == 0.9 and whole["status"] == "ok"
    assert whole["budget_remaining"] == 0.0  # 10% bad spends exactly the 10% budget
    north = rows["hc.facility=north-campus"]
    assert north["sli"] == 5 / 6 and north["status"] == "breach" and north["at_risk_amount"] is None
    assert set(whole["burn_rates"]) == {"2m/1m", "12m/1m", "48m/4m", "2h24m/12m"}
    assert set(whole["burn_rates"]["2m/1m"]) == {"long", "short", "threshold", "severity", "firing"}

    # a report catches the engine's state up in the store, but writes no evaluations
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sla_evaluations)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(sla_minutes)).scalar_one() > 0
    table = runner.invoke(
        main, ["sla", "report", "--db", store_url, "--config", str(cfg), "--at", "2026-03-02T04:00:00Z"]
    )
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["SLA", "SLICE", "STATUS", "SLI"]
    assert any(
        line.startswith("gl-posting-errors") and "hc.facility=north-campus" in line and "breach" in line
        for line in lines
    )


def test_report_rejects_unknown_ids_and_future_times(engine: Engine, store_url: str, tmp_path: Path) -> None:
    cfg = config(tmp_path, GL)
    runner = CliRunner()
    unknown = runner.invoke(main, ["sla", "report", "--db", store_url, "--config", str(cfg), "--sla", "nope"])
    assert unknown.exit_code == 1 and "unknown SLA id(s): nope" in unknown.output
    future = runner.invoke(
        main, ["sla", "report", "--db", store_url, "--config", str(cfg), "--at", "2999-01-01"]
    )
    assert future.exit_code == 2 and "cannot evaluate in the future" in future.output
    bad_time = runner.invoke(
        main, ["sla", "report", "--db", store_url, "--config", str(cfg), "--at", "yesterday"]
    )
    assert bad_time.exit_code == 2 and "expected now, -2h" in bad_time.output


def test_backtest_prints_when_it_would_have_breached(engine: Engine, store_url: str, tmp_path: Path) -> None:
    tl = Timeline()
    minutes = [m for m in range(6 * 60) if not 3 * 60 <= m < 3 * 60 + 30]  # silent 03:00-03:30
    store_spans(engine, tl.spans([m * MIN for m in minutes], hc__message__type="ADT^A01"))
    sla_file = config(tmp_path, ADT) / "slas" / "slas.yaml"
    runner = CliRunner()
    args = ["sla", "backtest", str(sla_file), "--db", store_url, "--from", "2026-03-02T01:00:00Z"]
    result = runner.invoke(main, [*args, "--to", "2026-03-02T06:00:00Z", "--step", "1m"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Back-test of adt-silence from 2026-03-02T01:00:00Z to 2026-03-02T06:00:00Z, every 1m" in out
    # last message 02:59, stale from 03:09; the 2m/1m tier pages from then until 03:30
    assert "2026-03-02T03:09:00Z  ok -> breach" in out
    assert "alert page 2m/1m: 2026-03-02T03:09:00Z .. 2026-03-02T03:30:00Z" in out
    as_json = runner.invoke(main, [*args, "--to", "2026-03-02T06:00:00Z", "--json"])
    document = json.loads(as_json.stdout)
    (whole,) = document["slas"][0]["slices"]
    assert whole["slice"] is None and any(t["to"] == "breach" for t in whole["transitions"])
    assert T0 > 0
    backwards = runner.invoke(main, [*args, "--to", "2026-03-01T00:00:00Z"])
    assert backwards.exit_code == 2 and "--to must be after --from" in backwards.output

"""The store edge and ``vitals capacity report`` against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from capacity import config as capacity_config
from capacity.history import InMemoryHistory, SqlHistory
from capacity.service import report_from
from tests.capacity import history
from vitals.kernel.configfile import ConfigError
from vitals.shell.cli import main

NOW = datetime.fromtimestamp(history.NOW_S, UTC).isoformat()
CONFIG = """\
time_zone: America/Chicago
queues:
  charges-outbound:
    per_hour: 9000
    deadline: "18:00"
    label: charges cut-off
interfaces:
  charge.posted:
    per_second: 0.01
"""


def test_sql_history_reads_gauges_and_stage_counts(engine: Engine) -> None:
    history.fill(engine)
    series = {s.name: s for s in SqlHistory(engine).series(history.NOW_S - 40 * 86400, history.NOW_S)}
    assert set(series) == {"charges-outbound", "gl-postings", "charge.posted"}
    charges = series["charges-outbound"]
    assert charges.kind == "queue"
    known = [v for _, v in charges.volume if v is not None]
    assert known and all(v == pytest.approx(7200) for v in known)  # 2/s published, every hour
    assert max(r for _, r in charges.drain) == pytest.approx(2.0)
    assert charges.backlog is not None
    assert charges.backlog.depth == 1800
    assert charges.backlog.drain_per_s == pytest.approx(1.0)
    assert charges.backlog.arrival_per_s == pytest.approx(2.0)
    assert charges.backlog.oldest_age_s == 600
    posted = series["charge.posted"]
    assert posted.kind == "interface" and posted.backlog is None
    assert {v for _, v in posted.volume} == {3.0}
    assert len(posted.volume) == 240
    # the in-memory source gives the core the same rows
    same = InMemoryHistory(series.values()).series(history.NOW_S - 40 * 86400, history.NOW_S)
    assert {s.name for s in same} == set(series)


def test_report_from_the_store(engine: Engine, tmp_path: Path) -> None:
    history.fill(engine)
    (tmp_path / "capacity.yaml").write_text(CONFIG)
    rows = {r.name: r for r in report_from(SqlHistory(engine), capacity_config.load(tmp_path), history.NOW_S)}
    charges = rows["charges-outbound"]
    assert charges.capacity_source == "configured" and charges.measured_per_hour == pytest.approx(7200)
    assert charges.peak is not None and charges.peak.peak_per_hour == pytest.approx(7200, rel=0.02)
    assert charges.headroom == pytest.approx(0.2, abs=0.02)
    assert charges.backlog is not None and charges.backlog.clear_s is None  # drains slower than it fills
    assert charges.backlog.clears_before_deadline is False
    gl = rows["gl-postings"]
    assert gl.capacity_source == "measured" and gl.measured_per_hour == pytest.approx(1800)


def test_cli_report_text_json_csv(sqlite_engine: Engine, sqlite_url: str, tmp_path: Path) -> None:
    history.fill(sqlite_engine)
    (tmp_path / "capacity.yaml").write_text(CONFIG)
    runner = CliRunner()
    base = ["capacity", "report", "--db", sqlite_url, "--config", str(tmp_path), "--now", NOW]
    text = runner.invoke(main, base)
    assert text.exit_code == 0, text.output
    assert "charges-outbound" in text.output and "MISSES it" in text.output
    as_json = runner.invoke(main, [*base, "--format", "json", "--days", "10", "--hourly"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    by_name = {s["name"]: s for s in document["series"]}
    assert len(by_name["charges-outbound"]["days"]) == 10
    assert by_name["charges-outbound"]["backlog"]["depth"] == 1800
    hours = by_name["charges-outbound"]["hours"]
    assert len(hours) == 10 * 24 and hours[0][0].startswith("2026-12-04T00:00:00-06:00")
    assert sum(v for _, v in hours[:24]) == pytest.approx(
        by_name["charges-outbound"]["days"][0]["total"], rel=1e-3
    )
    as_csv = runner.invoke(main, [*base, "--format", "csv"])
    assert as_csv.exit_code == 0
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {r["name"] for r in table} == {"charges-outbound", "gl-postings", "charge.posted"}


def test_config_errors_name_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "capacity.yaml").write_text("queues:\n  charges:\n    per_hour: 10\n    deadline: '25:00'\n")
    with pytest.raises(ConfigError) as caught:
        capacity_config.load(tmp_path)
    issue = caught.value.issues[0]
    assert (
        issue.file.endswith("capacity.yaml") and issue.line == 4 and issue.field == "queues.charges.deadline"
    )
    (tmp_path / "capacity.yaml").write_text("queues:\n  charges:\n    per_hour: 10\n    per_second: 1\n")
    with pytest.raises(ConfigError, match="per_hour or per_second"):
        capacity_config.load(tmp_path)
    assert capacity_config.load(tmp_path / "absent").queues == {}

"""``vitals alerts`` commands against a real SQLite store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import alerts as alerts_cli
from alerts.sqlstore import SqlStore
from tests.alerts.factories import evaluation, insert_evaluations
from vitals.kernel.db import create_engine, migrate

CONFIG = """
route:
  receiver: console
  group_by: [sla, slice]
  group_wait: 0s
receivers:
  - name: console
    console_configs:
      - path: {log}
alerting:
  objective_alerts: false
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "alerts.yaml").write_text(CONFIG.format(log=tmp_path / "console.log"))
    return {"VITALS_DB": f"sqlite:///{tmp_path / 'vitals.db'}", "VITALS_CONFIG": str(tmp_path)}


def invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(alerts_cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_run_list_ack_and_audit(env: dict[str, str], tmp_path: Path) -> None:
    engine = create_engine(env["VITALS_DB"])
    migrate(engine)
    insert_evaluations(engine, [evaluation(at=time.time())])
    out = invoke(env, "run", "--once", "--drain-timeout", "10")
    assert "delivered 1" in out
    assert (
        "[vitals alert] firing -> console: [FIRING] P1 GL postings succeed"
        in (tmp_path / "console.log").read_text()
    )
    listed = invoke(env, "list")  # incidents: one line each, the group ref to acknowledge in brackets
    assert listed.startswith("firing") and "GL postings succeed -> console" in listed
    assert "gl-posting-errors [1h/5m]" in invoke(env, "list", "--alerts")  # and their alerts
    (alert,) = SqlStore(engine).open_alerts()
    assert "acknowledged" in invoke(
        env, "ack", alert.fingerprint, "--by", "kim", "-c", "rebooting ERP adapter"
    )
    (incident,) = json.loads(invoke(env, "list", "--json"))
    assert incident["state"] == "acknowledged" and incident["acknowledged_by"] == "kim"
    (info,) = incident["alerts"]
    assert info["state"] == "acknowledged" and info["acknowledged_by"] == "kim"
    result = CliRunner().invoke(alerts_cli, ["ack", "deadbeef", "--by", "kim"], env=env)
    assert result.exit_code == 1 and "no alert with id or fingerprint 'deadbeef'" in result.output
    assert "cli       kim acknowledge alert:" in invoke(env, "audit")
    outbox = invoke(env, "outbox")
    assert "sent" in outbox and "console/console_configs[0]" in outbox and "total: sent=1" in outbox


def test_silences_from_the_command_line(env: dict[str, str]) -> None:
    sid = invoke(
        env,
        "silence",
        "add",
        'sla="gl-posting-errors"',
        'facility=~"north.*"',
        "--duration",
        "3h",
        "--author",
        "lee",
        "--comment",
        "ERP patching",
        "--expire-on-resolve",
        "--recurring",
        "{weekdays: [saturday], times: [{start_time: '02:00', end_time: '04:00'}], "
        "location: America/Chicago}",
    ).strip()
    assert sid.isdigit()
    listed = invoke(env, "silence", "list")
    assert f"{sid} active" in listed and 'sla="gl-posting-errors" facility=~"north.*"' in listed
    assert "by lee: ERP patching [expire-on-resolve, recurring]" in listed
    (silence,) = json.loads(invoke(env, "silence", "list", "--json"))
    assert silence["time_intervals"][0]["location"] == "America/Chicago"
    bad = CliRunner().invoke(
        alerts_cli, ["silence", "add", 'sla=~".*"', "--comment", "x", "--author", "lee"], env=env
    )
    assert bad.exit_code == 1 and "must not match the empty string" in bad.output
    bad = CliRunner().invoke(alerts_cli, ["silence", "add", 'sla="x', "--comment", "x"], env=env)
    assert bad.exit_code == 1 and "unterminated" in bad.output
    assert f"expired silence {sid}" in invoke(env, "silence", "expire", sid, "--by", "lee")
    assert invoke(env, "silence", "list").strip() == "no silences"
    assert "expired" in invoke(env, "silence", "list", "--expired")
    audit = invoke(env, "audit")
    assert "lee silence.expire" in audit and "lee silence.create" in audit


def test_routes_at_takes_an_iso_time(env: dict[str, str]) -> None:
    """A plain Alertmanager tree (no ``pages``, no escalation) answers as amtool does; ``--at``
    must be an ISO 8601 time."""
    ok = CliRunner().invoke(alerts_cli, ["routes", "test", "sla=x", "--at", "2026-03-07T14:00:00Z"], env=env)
    assert ok.exit_code == 0 and ok.output == "console\n", ok.output
    bad = CliRunner().invoke(alerts_cli, ["routes", "show", "--at", "saturday"], env=env)
    assert bad.exit_code == 2 and "ISO 8601" in bad.output, bad.output

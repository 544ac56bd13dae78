"""``vitals exceptions`` against a real SQLite store and the stand-in Mirth server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from access.audit import SqlAuditLog
from exceptions.standin import StandIn
from tests.exceptions.support import ALERTS_YAML, T0, failed_charge
from tests.support.factories import insert_spans
from vitals.kernel.db import create_engine, migrate
from vitals.shell.cli import main

NOW = str(int(T0 + 3600))


@pytest.fixture
def setup(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[list[str], StandIn]]:
    standin = StandIn(username="vitals", password="pw")
    url = standin.start()
    config = tmp_path / "config"
    config.mkdir()
    (config / "alerts.yaml").write_text(ALERTS_YAML)
    (config / "exceptions.yaml").write_text(
        "interfaces:\n"
        "  - name: charges-to-erp\n"
        "    stage: charge.post\n"
        "    labels: {owner: finance-systems}\n"
        f"    target: {{kind: mirth, url: '{url}/api', channel_id: ch-1, username: vitals, password: pw}}\n"
    )
    engine = create_engine(sqlite_url)
    migrate(engine)
    insert_spans(engine, [failed_charge(i, at=T0 + i) for i in range(4)])
    engine.dispose()
    try:
        yield ["--db", sqlite_url, "--config", str(config)], standin
    finally:
        standin.stop()


def _run(args: list[str]) -> str:
    result = CliRunner().invoke(main, ["exceptions", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_list_show_assign_replay_resolve(setup: tuple[list[str], StandIn], sqlite_url: str) -> None:
    common, standin = setup
    listed = _run(["list", *common, "--now", NOW, "--json"])
    (group,) = [json.loads(line) for line in listed.splitlines()]
    assert (group["count"], group["amount"], group["team"], group["state"]) == (
        4,
        400.0,
        "finance-systems",
        "new",
    )
    gid = group["id"]
    table = _run(["list", *common, "--now", NOW])
    assert gid in table and "$400.00" in table and "charge.post / erp: ERP rejected charge <n>" in table
    assert "is assigned, owner bob (by ana" in _run(
        ["assign", gid, "--to", "bob", "--actor", "ana", *common, "--now", NOW]
    )
    out = _run(["replay", gid, "--limit", "3", "--actor", "ana", *common, "--now", NOW])
    assert "3 sent, 0 refused, 0 failed to send, 0 deferred by the rate limit" in out
    assert len(standin.received) == 3
    shown = _run(["show", gid, *common, "--now", NOW])
    assert "replaying by ana" in shown and "3 sent, 0 succeeded, 0 failed again" in shown
    assert "owner                bob" in shown
    assert "is resolved" in _run(
        ["resolve", gid, "--comment", "fixed", "--actor", "ana", *common, "--now", NOW]
    )
    assert _run(["list", *common, "--now", NOW]).startswith("no open exception groups")
    engine = create_engine(sqlite_url)
    actions = [e.action for e in SqlAuditLog(engine).query(actor="ana")]
    engine.dispose()
    assert actions == ["exception.resolve", "exception.replay", "exception.assign"]


def test_errors_are_clear(setup: tuple[list[str], StandIn]) -> None:
    common, _ = setup
    result = CliRunner().invoke(
        main, ["exceptions", "resolve", "nope", "--actor", "a", *common, "--now", NOW]
    )
    assert result.exit_code == 1 and "no exception group 'nope'" in result.output
    gid = json.loads(_run(["list", *common, "--now", NOW, "--json"]).splitlines()[0])["id"]
    _run(["ignore", gid, "--actor", "a", *common, "--now", NOW])
    result = CliRunner().invoke(
        main, ["exceptions", "assign", gid, "--to", "x", "--actor", "a", *common, "--now", NOW]
    )
    assert result.exit_code == 1 and "is ignored: it can go to new, not assigned" in result.output
    result = CliRunner().invoke(main, ["exceptions", "list", "--state", "closed", *common])
    assert result.exit_code == 2 and "expected open, all or states among" in result.output

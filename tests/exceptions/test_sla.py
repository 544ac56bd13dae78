"""The SLA "failed charges are replayed within 4 h" in the existing lag kind: a failed charge
posting starts the clock, the first successful posting of the same charge (the replay that went
through) stops it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.exceptions.support import T0, failed_charge
from tests.support.factories import insert_spans
from vitals.kernel.db import create_engine, migrate
from vitals.shell.cli import main

SLA = """\
slas:
  - id: failed-charges-replayed
    title: Failed charges are replayed within 4 h
    description: >-
      A charge whose posting failed must post successfully (a replay from the exception work
      queue, or the engine's own retry) within four hours; the money at risk is its hc.amount.
    domain: revenue-cycle
    owner: finance-systems
    priority: P2
    objective: 95%
    window: 7d
    sli:
      lag:
        from: {stage: charge.post, status: error}
        to: {stage: charge.post, status: ok}
        key: charge_id
        within: 4h
"""


def test_the_lag_kind_expresses_replayed_within_4h(tmp_path: Path, sqlite_url: str) -> None:
    config = tmp_path / "config"
    (config / "slas").mkdir(parents=True)
    (config / "slas" / "exceptions.yaml").write_text(SLA)
    engine = create_engine(sqlite_url)
    migrate(engine)
    hour = 3600.0
    insert_spans(
        engine,
        [
            # replayed after 1 h: good
            failed_charge(0, at=T0),
            failed_charge(0, at=T0 + hour, status="ok"),
            # replayed after 5 h: bad
            failed_charge(1, at=T0),
            failed_charge(1, at=T0 + 5 * hour, status="ok"),
            # never replayed: bad once its 4 h are up
            failed_charge(2, at=T0),
            # posted at the first try: not a failed charge, not counted
            failed_charge(3, at=T0, status="ok"),
        ],
    )
    engine.dispose()
    at = f"{T0 + 6 * hour:.0f}"
    result = CliRunner().invoke(
        main, ["sla", "report", "--db", sqlite_url, "--config", str(config), "--at", at, "--json"]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["slas"]
    assert row["id"] == "failed-charges-replayed"
    assert (row["good"], row["total"]) == (1, 3), row

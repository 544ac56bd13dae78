"""`vitals bench sla` on two small stores: every tick reads exactly the new spans, the next run
reuses the stores and continues the simulated estate after what the last one wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from collector.tables import spans
from vitals.kernel.db import create_engine
from vitals.shell.bench.history import History
from vitals.shell.bench.sla import sla


def _stored(path: Path) -> int:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(spans)).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.e2e
def test_ticks_read_the_new_spans_and_a_second_run_continues(tmp_path: Path) -> None:
    out = tmp_path / "sla.json"
    args = ["--sizes", "300,600", "--spans-per-day", "6000", "--ticks", "2", "--new-spans", "40"]
    args += ["--dir", str(tmp_path), "--now", "2026-03-04T15:20:00Z", "--out", str(out)]
    first = CliRunner().invoke(sla, args)
    assert first.exit_code == 0, first.output  # it fails if a tick reads other than 40 new spans
    small = History.load(tmp_path / "spans-300.json")
    assert small is not None
    assert _stored(tmp_path / "spans-300.db") == small.spans  # the history, and 2 ticks x 40 spans
    figures = [f["measure"] for f in json.loads(out.read_text())["figures"]]
    assert sum(name.startswith("tick, ") for name in figures) == 2
    assert any(name.startswith("tick ratio ") for name in figures)

    second = CliRunner().invoke(sla, args)
    assert second.exit_code == 0, second.output
    assert "reusing" in second.stderr
    after = History.load(tmp_path / "spans-300.json")
    assert after is not None
    assert after.spans == small.spans + 2 * 40
    assert after.end_ns > small.end_ns
    assert _stored(tmp_path / "spans-300.db") == after.spans

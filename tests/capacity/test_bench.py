"""``vitals bench capacity`` on a short history: it prints a MAPE per stream and overall."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vitals.shell.bench.capacity import STREAMS
from vitals.shell.cli import main


def test_bench_capacity_prints_mape_beside_the_seasonal_naive(tmp_path: Path) -> None:
    out = tmp_path / "capacity.json"
    args = ["bench", "capacity", "--history", "45", "--days", "14", "--now", "2026-12-05T00:00:00Z"]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = {f["measure"]: f for f in json.loads(out.read_text())["figures"]}
    for stream in STREAMS:
        assert f"{stream}: daily volume MAPE" in figures
    overall = figures["overall: daily volume MAPE"]
    assert 0 < overall["value"] < 100 and overall["reference"].startswith("seasonal naive")
    # the month-end stream is where the calendar regressors matter: far better than naive
    journal = figures["journal: daily volume MAPE"]
    assert journal["value"] < float(journal["reference"].split()[-2]) / 2
    again = CliRunner().invoke(main, args)
    assert "overall: daily volume MAPE" in again.stdout

"""`vitals bench apis` on a tiny size: it fills rollups that stand for the asked spans and prints figures."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from vitals.shell.cli import main


def test_bench_apis_tiny(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "apis",
            *("--spans", "5k", "--days", "1", "--apis", "3", "--consumers", "2"),
            *("--fold-spans", "300", "--repeat", "1", "--now", "2026-06-01T12:00:00Z", "--out", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "page query, 1 day, per api (SQLite)" in result.output
    assert "fold (SQLite)" in result.output
    assert out.is_file()

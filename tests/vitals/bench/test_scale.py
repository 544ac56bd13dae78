"""`vitals bench scale` runs end to end on a tiny load (its figures are not checked: speed is
measured by running the benchmark, never in tests)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.support.services import PG_ADMIN_DB, PG_HOST, PG_PORT, PG_USER, require
from vitals.shell.bench.scale import Run, _parse_workers, run_figure, scale


def _run(rate: float, workers: int = 1) -> Run:
    return Run("PostgreSQL", workers, 1.0, int(rate), int(rate), 0, 10.0, 20.0, 300 * 1024)


def test_an_end_to_end_row_is_a_share_of_its_insert_only_reference_against_the_goal() -> None:
    row = run_figure(_run(6_000), insert_rate=10_000, convert_rate=30_000, one_worker=None, cpus=2)
    assert row.measure == "end to end, PostgreSQL, 1 process"
    assert (
        row.reference == "60% of insert only; 60% of the slower reference (insert only, 10,000): goal 60% met"
    )
    row = run_figure(_run(5_000), insert_rate=10_000, convert_rate=8_000, one_worker=None, cpus=2)
    assert "62% of the slower reference (decode + convert x1, 8,000): goal 60% met" in row.reference


def test_several_workers_decode_on_as_many_cores_as_there_are() -> None:
    row = run_figure(_run(9_000, 4), insert_rate=40_000, convert_rate=8_000, one_worker=6_000, cpus=2)
    assert row.measure == "end to end, PostgreSQL, 4 processes"
    assert "(decode + convert x2, 16,000): goal 60% NOT met" in row.reference
    assert "x1.50 of 1 process" in row.detail


def test_worker_counts_are_a_list() -> None:
    assert _parse_workers("1,2,4") == [1, 2, 4]
    with pytest.raises(click.BadParameter):
        _parse_workers("1,0")


@pytest.mark.e2e
@pytest.mark.postgres
def test_the_benchmark_runs_on_both_stores_and_checks_what_was_stored(tmp_path: Path) -> None:
    require("postgresql")
    out = tmp_path / "scale.json"
    server = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_ADMIN_DB}"
    args = ["--db", server, "--workers", "1,2", "--requests", "4", "--batch", "16", "--clients", "1"]
    result = CliRunner().invoke(scale, [*args, "--concurrency", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    measures = [f["measure"] for f in json.loads(out.read_text())["figures"]]
    assert measures == [
        "decode + convert + redact, 1 thread",
        "insert only, SQLite, 4096 spans/commit",
        "insert only, PostgreSQL (COPY), 4096 spans/commit",
        "end to end, SQLite, 1 process",
        "end to end, PostgreSQL, 1 process",
        "end to end, PostgreSQL, 2 processes",
        "spans stored",
    ]
    assert "x" in result.stdout.split("end to end, PostgreSQL, 2 processes")[1].split("\n")[0]

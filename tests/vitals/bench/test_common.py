"""The shape every benchmark shares: its options, its table, its JSON result and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from simulator.options import seed_option
from vitals.shell.bench import BENCHMARKS, bench
from vitals.shell.bench.common import Figure, out_option, parse_size, parse_sizes, report, table


def test_sizes_read_k_and_m_suffixes() -> None:
    assert parse_size("1M") == 1_000_000
    assert parse_size("200k") == 200_000
    assert parse_size("2.5m") == 2_500_000
    assert parse_size("10_000") == 10_000
    assert parse_sizes("1M, 10M") == [("1M", 1_000_000), ("10M", 10_000_000)]
    with pytest.raises(click.BadParameter, match="200k or 1M"):
        parse_size("lots")


def test_a_figure_reads_with_its_unit_and_detail() -> None:
    assert Figure("x", 76_123.4, "spans/s").text() == "76,123 spans/s"
    assert Figure("x", 1.234, "x", digits=2, detail="min 1.10x").text() == "1.23 x (min 1.10x)"
    assert Figure("x", 384, "").text() == "384"


def test_the_table_puts_each_figure_beside_its_reference() -> None:
    lines = table(
        [
            Figure("decode + convert", 76_000, "spans/s", reference="a reference"),
            Figure("end to end, median of 3", 42_000, "spans/s", reference="55% of the slower reference"),
        ]
    )
    assert lines[0].split() == ["measure", "figure", "reference"]
    column = lines[0].index("reference")
    assert [line[column:] for line in lines[1:]] == ["a reference", "55% of the slower reference"]
    assert lines[2].startswith("end to end, median of 3  42,000 spans/s")


@click.command("toy")
@click.option("--size", default=10)
@click.option("--fast", is_flag=True)
@seed_option()
@out_option()
def _toy(size: int, fast: bool, seed: int, out: Path | None) -> None:
    report([Figure("things", size * 2.0, "things/s", reference="twice the size")], out)


def test_a_report_prints_the_command_and_writes_the_figures_as_json(tmp_path: Path) -> None:
    out = tmp_path / "toy.json"
    result = CliRunner().invoke(_toy, ["--size", "21", "--fast", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    first, header, row = result.stdout.splitlines()[:3]
    assert first.startswith(f"toy --size 21 --fast --out {out}  (")  # the defaults (--seed) left out
    assert header.split() == ["measure", "figure", "reference"]
    assert row.split() == ["things", "42", "things/s", "twice", "the", "size"]
    document = json.loads(out.read_text())
    assert document["benchmark"] == "toy"
    assert document["command"] == f"toy --size 21 --fast --out {out}"
    assert document["parameters"] == {"size": 21, "fast": True, "seed": 7}
    assert document["figures"] == [
        {
            "measure": "things",
            "value": 42.0,
            "unit": "things/s",
            "digits": 0,
            "detail": "",
            "reference": "twice the size",
        }
    ]
    assert document["machine"]["cpus"] >= 1


def test_vitals_bench_lists_every_benchmark() -> None:
    result = CliRunner().invoke(bench, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Benchmarks:")[1]
    assert [
        line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line[2] != " "
    ] == sorted(BENCHMARKS)


#: The options that generate data in time take --seed and --now; every benchmark takes --out.
_SHAPE = {
    "ingest": {"--out", "--seed", "--db"},
    "simulate": {"--out", "--seed", "--now", "--db"},
    "sla": {"--out", "--seed", "--now", "--rebuild"},
    "queues": {"--out", "--seed", "--now", "--db"},
    "alerts": {"--out", "--now", "--db"},
    "incidents": {"--out", "--seed", "--now", "--db"},
    "dashboard": {"--out", "--seed", "--now", "--rebuild"},
    "redaction": {"--out"},
    "attacks": {"--out"},
    "scale": {"--out", "--seed", "--db"},
    "soak": {"--out", "--seed", "--db"},
    "fuzz": {"--out", "--seed"},
    "burst": {"--out", "--seed", "--db", "--minutes"},
    "capacity": {"--out", "--seed", "--now"},
    "apis": {"--out", "--seed", "--now", "--db"},
}


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_benchmark_has_the_common_options(name: str) -> None:
    assert set(_SHAPE) == set(BENCHMARKS)
    result = CliRunner().invoke(bench, [name, "--help"])
    assert result.exit_code == 0, result.output
    command = bench.get_command(click.Context(bench), name)
    assert command is not None
    options = {opt for param in command.params for opt in param.opts}
    assert _SHAPE[name] <= options

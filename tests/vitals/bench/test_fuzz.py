"""`vitals bench fuzz` on tiny sizes: a time per MiB for every shape at every size, and a bounded
random fuzz run that counts its inputs and finds no crash (speed is never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vitals.shell.bench.fuzz import SHAPES, fuzz


def test_the_fuzz_benchmark_reports_a_rate_per_shape_and_size_and_no_crash(tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    result = CliRunner().invoke(fuzz, ["--sizes", "2KiB,4KiB", "--seconds", "0.5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = {f["measure"]: f for f in json.loads(out.read_text())["figures"]}
    rates = [f for f in figures.values() if f["unit"] == "ms/MiB"]
    assert len(rates) == (2 * len(SHAPES) + 1) * 2
    assert all(f["value"] > 0 and "stored" in f["detail"] for f in rates)
    assert figures["random fuzz: tried"]["value"] > 0
    assert figures["random fuzz: crashes"]["value"] == 0
    assert (
        figures["random fuzz: undecodable (400)"]["value"] + figures["random fuzz: decoded"]["value"]
        == figures["random fuzz: tried"]["value"]
    )

"""`vitals bench redaction` on a tiny size: it scans every shape and reports a rate for each
(speed is never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vitals.shell.bench.redaction import SHAPES, redaction


def test_the_redaction_benchmark_reports_a_rate_per_shape(tmp_path: Path) -> None:
    out = tmp_path / "redaction.json"
    result = CliRunner().invoke(redaction, ["--size", "4k", "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())["figures"]
    assert [f["measure"] for f in figures] == list(SHAPES)
    assert all(f["unit"] == "MiB/s" and f["value"] > 0 for f in figures)
    assert "MiB/s" in result.output

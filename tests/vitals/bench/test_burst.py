"""`vitals bench burst` runs end to end on a short burst (its figures are not checked: speed is
measured by running the benchmark, never in tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from vitals.shell.bench.burst import burst
from vitals.shell.bench.natscluster import nats_server_binary


@pytest.mark.e2e
@pytest.mark.brokers
def test_a_short_burst_through_a_three_node_buffer(tmp_path: Path) -> None:
    if nats_server_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("nats-server is not installed", pytrace=False)
        pytest.skip("nats-server is not installed")
    out = tmp_path / "burst.json"
    args = ["--minutes", "0.1", "--normal-minutes", "0.05", "--rate", "40", "--spans", "10"]
    result = CliRunner().invoke(burst, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = {figure["measure"]: figure for figure in json.loads(out.read_text())["figures"]}
    acknowledged = figures["spans acknowledged"]["value"]
    assert acknowledged > 0
    assert figures["stored = acknowledged"]["value"] == acknowledged
    assert {"requests refused (429/503)", "largest buffer lag", "drain after the burst"} <= set(figures)

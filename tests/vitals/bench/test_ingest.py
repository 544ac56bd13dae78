"""`vitals bench ingest` runs end to end on a small load (its figures are not checked: speed is
measured by running the benchmark, never in tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from vitals.shell.bench.ingest import ingest, make_request, make_requests


def test_generated_requests_are_realistic_and_deterministic() -> None:
    body = make_request(7, 64)
    assert body == make_request(7, 64)
    request = ExportTraceServiceRequest.FromString(body)
    spans = request.resource_spans[0].scope_spans[0].spans
    assert len(spans) == 64
    keys = [kv.key for kv in spans[0].attributes]
    assert 10 <= len(keys) <= 15
    assert any(key.startswith("hc.key.") for key in keys)
    assert {"hc.stage", "hc.facility", "hc.amount"} <= set(keys)
    assert len({span.trace_id for span in spans}) == 64


def test_the_seed_chooses_the_requests() -> None:
    assert make_requests(2, 8, first_seed=5) == [make_request(5, 8), make_request(6, 8)]
    assert make_requests(2, 8, first_seed=5) != make_requests(2, 8, first_seed=0)


@pytest.mark.e2e
def test_the_benchmark_runs_and_checks_what_was_stored(tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    args = ["--requests", "6", "--batch", "64", "--clients", "2", "--concurrency", "2", "--repeat", "1"]
    result = CliRunner().invoke(ingest, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {line.split("  ")[1].strip(): line for line in result.stdout.splitlines()[2:]}
    assert "decode + convert + redact, 1 thread" in rows
    assert "insert only, SQLite, 4096 spans/commit" in rows
    assert "of the slower reference" in rows["end to end, SQLite, median of 1"]
    assert "collector peak RSS" in rows
    figures = {f["measure"]: f for f in json.loads(out.read_text())["figures"]}
    assert figures["spans stored"]["value"] == 384  # 6 requests x 64 spans, each acknowledged once
    assert figures["spans stored"]["reference"] == "= spans acknowledged, in every run"
    assert figures["collector peak RSS"]["value"] > 0
    # The store's bytes per span, beside the protobuf bytes per span of the same spans.
    stored = figures["store bytes per span, SQLite"]
    assert stored["value"] > 0 and "x the OTLP protobuf" in stored["reference"]

"""`vitals bench ingest` runs end to end on a small load (its figures are not checked: speed is
measured by running the benchmark, never in tests)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.bench import ingest, make_request


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


@pytest.mark.e2e
def test_the_benchmark_runs_and_checks_what_was_stored() -> None:
    args = ["--requests", "6", "--batch", "64", "--clients", "2", "--concurrency", "2", "--repeat", "1"]
    result = CliRunner().invoke(ingest, args)
    assert result.exit_code == 0, result.output
    assert re.search(r"decode \+ convert \+ redact \(1 thread\): +[\d,]+ spans/s", result.output)
    assert re.search(r"insert only \(SQLite, 4096 spans/commit\): +[\d,]+ spans/s", result.output)
    assert "acknowledged 384, stored 384" in result.output
    assert "collector peak RSS" in result.output

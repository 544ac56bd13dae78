"""`vitals bench attacks` on tiny sizes: each attack runs against its own collector and reports the
answers it got and a peak RSS (the figures are measured by running the benchmark, never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from vitals.shell.bench.attacks import attacks, large_request, long_key_request


def test_generated_bodies_are_otlp_of_the_asked_size() -> None:
    body = large_request(256 * 1024)
    assert 200 * 1024 < len(body) <= 256 * 1024
    assert ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans
    keys = [
        ExportTraceServiceRequest.FromString(long_key_request(i, 4096))
        .resource_spans[0]
        .scope_spans[0]
        .spans[0]
        .attributes[0]
        .key
        for i in range(2)
    ]
    assert len(keys[0]) == 4096
    assert keys[0] != keys[1]


@pytest.mark.e2e
def test_the_benchmark_reports_each_attack(tmp_path: Path) -> None:
    out = tmp_path / "attacks.json"
    args = ["--only", "grpc-unauthenticated,http-long-value", "--unauthenticated", "2", "--size", "64KiB"]
    result = CliRunner().invoke(attacks, [*args, "--value-size", "4KiB", "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = {f["measure"]: f for f in json.loads(out.read_text())["figures"]}
    unauthenticated = figures["gRPC: 2 unauthenticated senders of 64 KiB"]
    assert unauthenticated["detail"].startswith("4 sent: 4 UNAUTHENTICATED")
    assert unauthenticated["value"] > 0
    assert figures["HTTP: 8 requests with a 4 KiB one-letter attribute"]["detail"].startswith("8 sent: 8 200")
    assert figures["HTTP: 8 requests with a 4 KiB one-letter attribute: slowest /healthz"]["unit"] == "ms"


def test_unknown_attacks_are_refused() -> None:
    result = CliRunner().invoke(attacks, ["--only", "grpc-large,nonsense"])
    assert result.exit_code == 2
    assert "nonsense" in result.output

"""The SLA engine inside a real ``vitals serve``: OTLP spans in, evaluations out, report agrees."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode
from sqlalchemy import select

from slas.tables import sla_evaluations
from tests.support.services import free_port
from tests.support.sla_files import GL
from vitals.kernel.db import create_engine


def _ready(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
        body = json.loads(response.read())
    assert isinstance(body, dict)
    return body


def _wait(condition: Callable[[], object], deadline_s: float, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.e2e
def test_serve_evaluates_collected_spans_and_report_agrees(tmp_path: Path) -> None:
    (tmp_path / "cfg" / "slas").mkdir(parents=True)
    (tmp_path / "cfg" / "slas" / "gl.yaml").write_text(GL)
    db_url = f"sqlite:///{tmp_path / 'vitals.db'}"
    http_port, grpc_port = free_port(), free_port()
    vitals = [sys.executable, "-m", "vitals"]
    server = subprocess.Popen(
        [
            *vitals,
            "serve",
            "--db",
            db_url,
            "--config",
            str(tmp_path / "cfg"),
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
            "--components",
            "slas",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: _ready(http_port).get("status") == "ready", 60, "vitals serve to be ready")
        provider = TracerProvider(resource=Resource.create({"service.name": "erp-finance"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces"))
        )
        tracer = provider.get_tracer("test")
        for _ in range(9):
            with tracer.start_as_current_span("erp.gl.post", attributes={"hc.stage": "gl.posted"}):
                pass
        with tracer.start_as_current_span("erp.gl.post") as span:
            span.set_status(Status(StatusCode.ERROR, "503 from the GL API"))
        provider.shutdown()
        engine = create_engine(db_url)

        def evaluated() -> bool:
            with engine.connect() as conn:
                rows = conn.execute(select(sla_evaluations.c.total)).scalars().all()
            return bool(rows) and rows[-1] == 10

        _wait(evaluated, 30, "an evaluation of the 10 spans")
        with engine.connect() as conn:
            row = (
                conn.execute(select(sla_evaluations).order_by(sla_evaluations.c.id.desc()).limit(1))
                .mappings()
                .one()
            )
        engine.dispose()
        assert (row["sla_id"], row["slice"], row["good"], row["total"], row["status"]) == (
            "gl-posting-errors",
            "",
            9,
            10,
            "ok",
        )
        components = _ready(http_port)["components"]
        assert isinstance(components, dict) and "1 SLAs" in str(components["slas"])
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output.decode(errors="replace")
    report = subprocess.run(
        [
            *vitals,
            "--log-level",
            "WARNING",
            "sla",
            "report",
            "--db",
            db_url,
            "--config",
            str(tmp_path / "cfg"),
            "--json",
        ],
        capture_output=True,
        check=True,
    )
    (whole,) = json.loads(report.stdout)["slas"]
    assert (whole["good"], whole["total"], whole["sli"], whole["status"]) == (9, 10, 0.9, "ok")

"""``vitals serve`` runs the API on --api-port from the collector's event loop, and stops it cleanly;
with --workers N (PostgreSQL) the workers share the API port as they share the OTLP ports."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.collector.harness import SECRET, config_dir, wait_until
from vitals.shell.cli import main

pytestmark = pytest.mark.e2e

API = re.compile(r"API listening on http://127\.0\.0\.1:(\d+)/api/v1")
WORKERS_API = re.compile(r"workers listening on .*; the API on 127\.0\.0\.1:(\d+)")


@contextmanager
def serving(
    db_url: str, tmp_path: Path, pattern: re.Pattern[str], *args: str, **environ: str
) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    log_path = tmp_path / "serve.log"
    command = [
        sys.executable, "-m", "vitals", "serve", "--db", db_url, "--config", str(config_dir(tmp_path, None)),
        "--http-port", "0", "--grpc-port", "0", "--api-port", "0", "--components", "none",
        "--shutdown-timeout", "10", *args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "VITALS_HASH_SECRET": SECRET, **environ},
        )
    try:
        wait_until(
            lambda: pattern.search(log_path.read_text()) is not None or process.poll() is not None,
            timeout=90,
            message="the API listening",
        )
        found = pattern.search(log_path.read_text())
        assert found is not None, log_path.read_text()
        yield int(found[1]), process, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_runs_the_api_and_stops_it_with_the_collector(sqlite_url: str, tmp_path: Path) -> None:
    # The retired shared token, still set in an old unit file: a warning naming what replaced it.
    retired = {"VITALS_ALERTS_API_TOKEN": "an-old-shared-token"}
    with serving(sqlite_url, tmp_path, API, **retired) as (port, process, log_path):
        warned = log_path.read_text()
        assert "VITALS_ALERTS_API_TOKEN is set but no longer read" in warned
        assert "vitals tokens create NAME --scope read" in warned and "an-old-shared-token" not in warned
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", verify=False, trust_env=False) as client:
            assert client.get("/api/v1/slas").json() == {"slas": []}
            assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "Vitals API"
            assert client.get("/docs").status_code == 404
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log_path.read_text()
        assert "collector stopped" in log_path.read_text()


def test_a_busy_api_port_stops_the_start(sqlite_url: str, tmp_path: Path) -> None:
    with serving(sqlite_url, tmp_path, API) as (port, _, _):
        command = [
            sys.executable, "-m", "vitals", "serve", "--db", f"sqlite:///{tmp_path / 'other.db'}",
            "--config", str(config_dir(tmp_path, None)), "--http-port", "0", "--grpc-port", "0",
            "--api-port", str(port), "--components", "none",
        ]  # fmt: skip
        env = {**os.environ, "VITALS_HASH_SECRET": SECRET}
        second = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120, env=env)
    assert second.returncode == 2
    assert f"cannot listen for the API on 127.0.0.1:{port}" in second.stderr + second.stdout


@pytest.mark.postgres
def test_workers_share_the_api_port(pg_url: str, tmp_path: Path) -> None:
    with serving(pg_url, tmp_path, WORKERS_API, "--workers", "2") as (port, process, log_path):
        for _ in range(6):  # new connections: the kernel spreads them over the workers
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", verify=False, trust_env=False) as client:
                assert client.get("/api/v1/alerts").json() == {"alerts": []}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, log_path.read_text()


def test_serve_help_names_the_api_port() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--api-port" in result.output and "VITALS_API_PORT" in result.output
    assert "/api/v1/openapi.json" in result.output

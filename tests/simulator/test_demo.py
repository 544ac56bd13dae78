"""``vitals demo`` as a user runs it: one process tree that starts, fills the store and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.simulator.conftest import ready, wait_for
from tests.support.services import free_port, port_open
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e


class Output:
    """Collects a child's stderr in a thread so the test can poll it."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self.lines.append(line)

    def close(self) -> None:
        self.thread.join(10)
        assert self.process.stderr is not None
        self.process.stderr.close()

    @property
    def text(self) -> str:
        return "".join(self.lines)


def stored_spans(db: Path) -> int:
    if not db.exists():
        return 0
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT COUNT(*) FROM spans")).scalar_one())
    except Exception:  # the collector may still be creating the schema
        return 0
    finally:
        engine.dispose()


def backfilled_spans(output: Output) -> int:
    """The spans the demo's back-fill reports as acknowledged by its collector.

    The demo runs on the real clock (its SLA engine and alerting evaluate live), so how much
    history it generates depends on the hour: tests compare the store with this, not a constant.
    """
    found = re.search(r"back-filled [\d.]+ day\(s\): ([\d,]+) spans", output.text)
    assert found, output.text
    return int(found.group(1).replace(",", ""))


def start_demo(cwd: Path, *extra: str) -> tuple[subprocess.Popen[str], Output]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vitals",
            "demo",
            "--seed",
            "7",
            "--days",
            "0.05",
            "--rate-scale",
            "0.5",
            *extra,
        ],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VITALS_HASH_SECRET": "demo-test"},
    )
    return process, Output(process)


def test_demo_starts_everything_receives_data_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    grpc_port, dashboard_port = free_port(), free_port()
    with socket.socket() as busy:  # the HTTP port is taken: the demo must pick another and say so
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        process, output = start_demo(
            tmp_path, "--http-port", str(taken), "--grpc-port", str(grpc_port), "--dashboard-port",
            str(dashboard_port), "--no-dashboard",
        )  # fmt: skip
        try:
            wait_for(
                lambda: "Vitals demo is running" in output.text or process.poll() is not None,
                100,
                "the banner",
            )
            assert process.poll() is None, output.text
            assert f"port {taken} (OTLP/HTTP) is busy: using" in output.text
            db = tmp_path / ".vitals" / "demo.db"
            backfilled = backfilled_spans(output)
            assert backfilled > 0
            wait_for(lambda: stored_spans(db) >= backfilled, 30, "every back-filled span in the demo store")
            http_port = int(output.text.split("(OTLP/HTTP) is busy: using ")[1].split()[0])
            assert port_open("127.0.0.1", http_port)
            assert "incidents of scenario 'default'" in output.text
            assert "charge-interface-stall" in output.text and "queue-stuck" in output.text
            api = re.search(r"JSON API +(http://\S+/api/v1/slas)", output.text)
            assert api, output.text
            with urllib.request.urlopen(api.group(1), timeout=10) as response:  # loopback, no token: open
                assert response.status == 200
            # The evaluators start only once the history is in, in the restarted collector.
            assert "history loaded; restarting the collector with the SLA engine and alerting" in output.text
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=5) as response:
                components = json.load(response)["components"]
            assert {"collector", "slas", "alerts", "queues", "dashboards"} <= set(components)
            # The planted engine outage: the stand-in answers 503 once the history is loaded.
            assert "planted incident: the stand-in integration engine is DOWN for 5m" in output.text
            standin = re.search(r"stand-in engine +(http://\S+/webhook)", output.text)
            assert standin, output.text
            request = urllib.request.Request(standin.group(1), data=b"{}", method="POST")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)  # loopback
            assert refused.value.code == 503 and b"is down" in refused.value.read()
            refused.value.close()
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(60)
    output.close()
    assert code == 0, output.text
    assert "demo stopped cleanly" in output.text
    assert "serve stopped (exit code 0)" in output.text
    assert not port_open("127.0.0.1", http_port)
    assert "Traceback" not in output.text


def test_demo_reruns_from_a_fresh_store_and_stops_on_sigterm(tmp_path: Path) -> None:
    old = tmp_path / ".vitals" / "demo.db"
    old.parent.mkdir()
    old.write_bytes(b"not a database")  # a previous run's store, even a broken one, is replaced
    process, output = start_demo(
        tmp_path,
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        "--dashboard-port",
        "0",
        "--no-dashboard",
        "--no-live",
    )
    try:
        wait_for(
            lambda: "Vitals demo is running" in output.text or process.poll() is not None, 100, "the banner"
        )
        assert process.poll() is None, output.text
        assert stored_spans(old) == backfilled_spans(output) > 0  # no live traffic: exactly the history
        assert "no live traffic (--no-live)" in output.text
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    output.close()
    assert code == 0, output.text
    assert "demo stopped cleanly" in output.text


def test_demo_starts_the_dashboard_and_stops_it_with_the_rest(tmp_path: Path) -> None:
    dashboard_port = free_port()
    process, output = start_demo(
        tmp_path,
        "--days",
        "0.02",
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        "--dashboard-port",
        str(dashboard_port),
    )
    try:
        wait_for(
            lambda: "Vitals demo is running" in output.text or process.poll() is not None, 100, "the banner"
        )
        assert process.poll() is None, output.text
        assert f"dashboard        http://127.0.0.1:{dashboard_port}" in output.text
        wait_for(lambda: ready(f"http://127.0.0.1:{dashboard_port}/_stcore/health"), 60, "the dashboard")
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(60)
    output.close()
    assert code == 0, output.text
    assert "dashboard stopped (exit code 0)" in output.text
    assert not port_open("127.0.0.1", dashboard_port)

"""A running collector (``vitals serve`` in a subprocess on free ports) for the end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.support.services import free_port
from vitals.kernel.db import create_engine


@dataclass
class RunningCollector:
    http: str
    grpc_port: int
    db_url: str
    db_path: Path
    process: subprocess.Popen[bytes]
    log: Path

    def engine(self) -> Engine:
        return create_engine(self.db_url)


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def running_collector(tmp_path: Path, config_dir: Path | None = None) -> Iterator[RunningCollector]:
    """``vitals serve`` on free ports with a SQLite store in ``tmp_path``; stopped with SIGTERM."""
    http_port, grpc_port = free_port(), free_port()
    db_path = tmp_path / "collector.db"
    log = tmp_path / "serve.log"
    env = {**os.environ, "VITALS_HASH_SECRET": "test-secret-0123456789"}
    config = ["--config", str(config_dir)] if config_dir else []
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "vitals", "serve", "--db", f"sqlite:///{db_path}", *config,
             "--components", "none", "--http-port", str(http_port), "--grpc-port", str(grpc_port)],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, env=env,
        )  # fmt: skip
    running = RunningCollector(
        f"http://127.0.0.1:{http_port}", grpc_port, f"sqlite:///{db_path}", db_path, process, log
    )
    try:
        wait_for(lambda: ready(f"{running.http}/readyz") or process.poll() is not None, 60, "the collector")
        if process.poll() is not None:
            raise AssertionError(f"vitals serve exited: {log.read_text()}")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    with running_collector(tmp_path) as running:
        yield running

"""A real collector for tests: in this process on ephemeral ports, or as a ``vitals serve`` subprocess."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.config import load_collector_config
from collector.service import Collector, CollectorThread, ServeOptions
from collector.tables import spans
from tests.support.services import free_port
from vitals.kernel.settings import Settings

SECRET = "collector-tests-hash-secret-0123"


def wait_until(condition: Callable[[], bool], timeout: float = 60, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout}s")
        time.sleep(0.02)


def config_dir(tmp_path: Path, collector_yaml: str | None) -> Path:
    directory = tmp_path / "config"
    directory.mkdir(exist_ok=True)
    if collector_yaml is not None:
        (directory / "collector.yaml").write_text(collector_yaml)
    return directory


@contextmanager
def running_collector(
    db_url: str,
    tmp_path: Path,
    collector_yaml: str | None = None,
    *,
    components: Sequence[str] = (),
    environ: dict[str, str] | None = None,
) -> Iterator[Collector]:
    """A collector in this process (own event loop thread), listening on ephemeral ports."""
    env = {"VITALS_HASH_SECRET": SECRET, **(environ or {})}
    directory = config_dir(tmp_path, collector_yaml)
    config = load_collector_config(directory, env)
    modules = tuple(importlib.import_module(name) for name in components)
    options = ServeOptions(http_port=0, grpc_port=0, components=modules, shutdown_timeout=10)
    thread = CollectorThread(Collector(Settings(db_url, directory), config, options))
    collector = thread.start()
    try:
        yield collector
    finally:
        thread.stop()


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def served(
    db_url: str,
    tmp_path: Path,
    collector_yaml: str | None = None,
    *,
    extra_args: Sequence[str] = (),
    environ: dict[str, str] | None = None,
    log_level: str = "INFO",
    new_session: bool = False,
) -> Iterator[Served]:
    """``vitals serve`` as a subprocess on free ports; its log goes to a file the test can read."""
    http_port, grpc_port = free_port(), free_port()
    directory = config_dir(tmp_path, collector_yaml)
    log_path = tmp_path / f"serve-{http_port}.log"
    env = {**os.environ, "VITALS_HASH_SECRET": SECRET, "VITALS_COMPONENTS": "none", **(environ or {})}
    command = [
        sys.executable, "-m", "vitals", "--log-level", log_level, "serve",
        "--db", db_url, "--config", str(directory),
        "--http-port", str(http_port), "--grpc-port", str(grpc_port), *extra_args,
    ]  # fmt: skip
    log_file: IO[bytes] = log_path.open("wb")
    process = subprocess.Popen(
        command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=new_session
    )
    try:
        wait_until(
            lambda: _ready(http_port) or process.poll() is not None, timeout=90, message="collector ready"
        )
        if process.poll() is not None:
            raise AssertionError(f"vitals serve exited with {process.returncode}:\n{log_path.read_text()}")
        yield Served(process, http_port, grpc_port, log_path)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log_file.close()


def post(
    url: str, body: bytes, content_type: str = "application/x-protobuf", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """POST and return status, headers and body, whatever the status."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def metrics_text(collector: Collector) -> str:
    """What a scrape of /metrics reads, from the process (with tokens configured, /metrics needs a
    store token with the read scope: tests/access/test_matrix.py)."""
    from prometheus_client import generate_latest

    return generate_latest(collector.registry).decode()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def child_pids(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return children


def span_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(spans)).scalar_one())


def metric_value(metrics_text: str, name: str, **labels: str) -> float:
    """A sample's value from Prometheus text (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if "{" in series:
            metric, _, rest = series.partition("{")
            found = ",".join(sorted(rest.rstrip("}").split(",")))
        else:
            metric, found = series, ""
        if metric == name and all(part in found.split(",") for part in wanted.split(",") if part):
            total += float(value)
    return total

"""``vitals serve`` with collector.yaml's ``tls:``: the OTLP/HTTP port and the API port answer only
over HTTPS with the configured certificate; a broken ``tls:`` stops it at start with file, line and
field."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.collector.harness import SECRET
from tests.support.services import free_port, postgres_database
from tests.support.tls import Certs, make_certs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@dataclass
class Ports:
    http: int
    grpc: int
    api: int


def serve_command(tmp_path: Path, ports: Ports, db_url: str | None = None) -> list[str]:
    return [
        sys.executable, "-m", "vitals", "serve",
        "--db", db_url or f"sqlite:///{tmp_path / 'vitals.db'}", "--config", str(tmp_path / "config"),
        "--http-port", str(ports.http), "--grpc-port", str(ports.grpc), "--api-port", str(ports.api),
        "--components", "none",
    ]  # fmt: skip


def answers(url: str, verify: ssl.SSLContext) -> bool:
    try:
        return httpx.get(url, verify=verify, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def served_over_tls(tmp_path: Path, certs: Certs) -> Iterator[Ports]:
    with serving(tmp_path, certs, []) as ports:
        yield ports


@contextmanager
def serving(tmp_path: Path, certs: Certs, extra: list[str], db_url: str | None = None) -> Iterator[Ports]:
    config = tmp_path / "config"
    config.mkdir()
    (config / "collector.yaml").write_text(f"tls:\n  cert_file: {certs.cert}\n  key_file: {certs.key}\n")
    ports = Ports(free_port(), free_port(), free_port())
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*serve_command(tmp_path, ports, db_url), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "VITALS_HASH_SECRET": SECRET},
        )
        try:
            deadline = time.monotonic() + 90
            trusted = ssl.create_default_context(cafile=str(certs.ca))
            while not answers(f"https://127.0.0.1:{ports.http}/readyz", trusted):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"vitals serve not ready:\n{log_path.read_text(errors='replace')}")
                time.sleep(0.1)
            yield ports
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert "OTLP/HTTP https://127.0.0.1:" in log_path.read_text(errors="replace")


def test_the_api_and_otlp_ports_speak_https(served_over_tls: Ports, certs: Certs) -> None:
    trusted = ssl.create_default_context(cafile=str(certs.ca))
    document = httpx.get(
        f"https://127.0.0.1:{served_over_tls.api}/api/v1/openapi.json", verify=trusted, timeout=10
    )
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.")
    assert answers(f"https://127.0.0.1:{served_over_tls.http}/healthz", trusted)
    stranger = ssl.create_default_context(cafile=str(certs.other_ca))
    for port in (served_over_tls.api, served_over_tls.http):
        assert not answers(f"https://127.0.0.1:{port}/healthz", stranger)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)


@pytest.mark.postgres
@pytest.mark.timeout(240)  # two workers start over PostgreSQL: 45 s on the shared CI machine
def test_every_worker_serves_tls(tmp_path: Path, certs: Certs) -> None:
    """``--workers 2``: each worker builds its listeners and the API from the same ``tls:``."""
    trusted = ssl.create_default_context(cafile=str(certs.ca))
    with postgres_database() as url, serving(tmp_path, certs, ["--workers", "2"], url) as ports:
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        while seen != {"0", "1"} and time.monotonic() < deadline:
            # A new connection each time: the kernel spreads connections over the workers.
            response = httpx.get(f"https://127.0.0.1:{ports.http}/healthz", verify=trusted, timeout=5)
            seen.add(response.headers["Vitals-Worker"])
        assert seen == {"0", "1"}
        api = httpx.get(f"https://127.0.0.1:{ports.api}/api/v1/openapi.json", verify=trusted, timeout=10)
        assert api.status_code == 200
    # The parent's start-up line too (it said http:// before).
    assert "workers listening on OTLP/HTTP https://127.0.0.1:" in (tmp_path / "serve.log").read_text()


def test_a_broken_tls_section_stops_serve_at_start(tmp_path: Path, certs: Certs) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "collector.yaml").write_text(f"tls:\n  cert_file: {certs.cert}\n  key_file: missing.key\n")
    ports = Ports(free_port(), free_port(), free_port())
    result = subprocess.run(
        serve_command(tmp_path, ports), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert (
        f"collector.yaml:3: tls.key_file: key file {config / 'missing.key'} does not exist" in result.stderr
    )

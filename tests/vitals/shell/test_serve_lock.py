"""On SQLite one ``vitals serve`` at a time: a second one over the same file is refused at start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.collector.harness import SECRET, served
from tests.support.services import free_port
from vitals.shell.serve_lock import AlreadyServed, lock_path, take_serve_lock


def test_only_a_sqlite_file_store_has_a_lock_file(tmp_path: Path) -> None:
    assert lock_path(f"sqlite:///{tmp_path / 'v.db'}") == tmp_path / "v.db-serve.lock"
    assert lock_path("sqlite://") is None
    assert lock_path("sqlite:///:memory:") is None
    assert lock_path("postgresql://vitals@db/vitals") is None


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    first = take_serve_lock(url)
    assert first is not None
    with pytest.raises(AlreadyServed, match=f"pid {os.getpid()} on host {socket.gethostname()}"):
        take_serve_lock(url)
    first.release()
    again = take_serve_lock(url)
    assert again is not None
    again.release()


def _second_serve(db_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "vitals", "serve", "--db", db_url, "--config", str(tmp_path / "config"),
        "--http-port", str(free_port()), "--grpc-port", str(free_port()), "--components", "none",
    ]  # fmt: skip
    env = {**os.environ, "VITALS_HASH_SECRET": SECRET}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.mark.e2e
def test_a_second_serve_on_one_sqlite_file_is_refused_and_may_start_once_the_first_stopped(
    sqlite_url: str, tmp_path: Path
) -> None:
    database = tmp_path / "vitals.db"
    with served(sqlite_url, tmp_path) as first:
        second = _second_serve(sqlite_url, tmp_path)
        assert second.returncode == 2, second.stderr
        message = " ".join(second.stderr.split())
        assert f"another vitals serve already runs on the SQLite store {database}" in message
        assert f"pid {first.process.pid} on host {socket.gethostname()}" in message
        assert f"{database}-serve.lock" in message
        assert "use PostgreSQL" in message
        assert first.process.poll() is None  # the first one is untouched
    # Stopped (SIGTERM): the next one starts, as the demo's back-fill then restart does.
    with served(sqlite_url, tmp_path) as again:
        assert again.process.poll() is None


@pytest.mark.e2e
def test_a_killed_serve_leaves_no_stale_lock(sqlite_url: str, tmp_path: Path) -> None:
    with served(sqlite_url, tmp_path) as first:
        first.process.kill()
        first.process.wait(30)
    with served(sqlite_url, tmp_path) as again:
        assert again.process.poll() is None

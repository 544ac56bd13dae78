"""``vitals serve --workers N``: N collector processes on one port, restarted when they die."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from aiohttp import web
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry, generate_latest

from tests.collector.harness import SECRET, config_dir, post, wait_until
from vitals.kernel.db import create_engine
from vitals.kernel.runtime import ServiceContext
from vitals.kernel.settings import Settings
from vitals.shell.bench.load import make_request
from vitals.shell.workers import (
    WORKER_HEADER,
    WorkerRole,
    exit_code,
    parse_workers,
    reserve_port,
    restart_pause,
    sqlite_refusal,
)

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LISTENING = re.compile(
    r"(\d+) workers listening on OTLP/HTTP http://127\.0\.0\.1:(\d+) and OTLP/gRPC 127\.0\.0\.1:(\d+)"
)


def test_workers_are_a_count_or_auto() -> None:
    assert parse_workers("3") == 3
    assert parse_workers(" auto ") == len(os.sched_getaffinity(0))
    for wrong in ("0", "-1", "many", ""):
        with pytest.raises(ValueError, match="or 'auto'"):
            parse_workers(wrong)


def test_a_worker_dying_at_start_is_restarted_after_a_growing_pause() -> None:
    assert [restart_pause(n) for n in (1, 2, 3, 4, 5, 10)] == [0, 1, 2, 4, 8, 30]


def test_the_exit_code_is_that_of_one_vitals_serve() -> None:
    assert exit_code([0, 0]) == 0
    assert exit_code([0, 3]) == 3
    assert exit_code([0, -9]) == 3  # killed at the deadline: something was left behind
    assert exit_code([3, 2]) == 2


def _context() -> ServiceContext:
    return ServiceContext(
        settings=Settings("sqlite://", Path(".")),
        engine=create_engine("sqlite://"),
        scheduler=BackgroundScheduler(timezone="UTC"),
        http_app=web.Application(),
        registry=CollectorRegistry(),
        write_metric_points=lambda rows: None,
    )


def test_only_worker_0_keeps_the_scheduled_jobs() -> None:
    first, other = _context(), _context()
    for ctx in (first, other):
        ctx.scheduler.add_job(print, "interval", seconds=60, id="slas.tick")
    WorkerRole(0, 2).install(first)
    WorkerRole(1, 2).install(other)
    assert [job.id for job in first.scheduler.get_jobs()] == ["slas.tick"]
    assert other.scheduler.get_jobs() == []
    assert "runs the scheduled jobs" in first.status["worker"]
    assert "receives only; its 1 scheduled job(s) run in worker 0" in other.status["worker"]
    assert 'vitals_serve_worker{worker="1",workers="2"} 1.0' in generate_latest(other.registry).decode()


def test_a_reserved_port_is_shared_by_the_workers_only() -> None:
    held = reserve_port("127.0.0.1", 0)
    port = held.getsockname()[1]
    worker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        worker.bind(("127.0.0.1", port))  # a worker binds beside the parent's socket
        worker.listen()
        with pytest.raises(OSError):
            reserve_port("127.0.0.1", port)  # another vitals serve does not share it by accident
    finally:
        worker.close()
        held.close()


@dataclass
class Workers:
    process: subprocess.Popen[bytes]
    log_path: Path
    http_port: int
    grpc_port: int

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pid_of(self, index: int) -> int:
        """The newest pid worker ``index`` reported as listening."""
        found = re.findall(rf"worker {index} \(pid (\d+)\) is listening", self.log())
        return int(found[-1])


def _command(db_url: str, tmp_path: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "vitals", "serve", "--db", db_url, "--config", str(config_dir(tmp_path, None)),
        "--http-port", "0", "--grpc-port", "0", "--components", "none", "--shutdown-timeout", "10", *args,
    ]  # fmt: skip


@contextmanager
def workers(db_url: str, tmp_path: Path, count: int) -> Iterator[Workers]:
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "VITALS_HASH_SECRET": SECRET}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _command(db_url, tmp_path, "--workers", str(count)), stdout=log, stderr=subprocess.STDOUT, env=env
        )
    try:
        wait_until(
            lambda: LISTENING.search(log_path.read_text()) is not None or process.poll() is not None,
            timeout=90,
            message="workers listening",
        )
        found = LISTENING.search(log_path.read_text())
        assert found is not None, log_path.read_text()
        assert int(found[1]) == count
        yield Workers(process, log_path, int(found[2]), int(found[3]))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _send(port: int, seed: int) -> str:
    """One OTLP/HTTP request of 4 spans on a new connection; the worker that answered."""
    status, headers, body = post(f"http://127.0.0.1:{port}/v1/traces", make_request(seed, 4))
    assert status == 200, body
    return headers[WORKER_HEADER]


def _stored(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM spans").scalar_one())
    finally:
        engine.dispose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rpartition(")")[2].split()[0] != "Z"


@pytest.mark.e2e
@pytest.mark.postgres
def test_workers_share_both_ports_and_stop_cleanly_on_sigterm(pg_url: str, tmp_path: Path) -> None:
    with workers(pg_url, tmp_path, 2) as served:
        answered: list[str] = []

        def both_answered() -> bool:
            answered.append(_send(served.http_port, len(answered)))
            return set(answered) == {"0", "1"}

        # Each request opens its own connection; the kernel spreads connections over the workers.
        wait_until(both_answered, timeout=60, message="both workers answered")
        with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
            channel.unary_unary(EXPORT)(make_request(10_000, 4), timeout=30)  # raises unless OK
        assert _stored(pg_url) == 4 * (len(answered) + 1)  # each acknowledged span stored once
        with urllib.request.urlopen(f"http://127.0.0.1:{served.http_port}/metrics", timeout=10) as response:
            assert "vitals_serve_worker{" in response.read().decode()
        pids = [served.pid_of(0), served.pid_of(1)]

        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=60) == 0, served.log()
        log = served.log()
        assert "[worker 0]: collector stopped" in log
        assert "[worker 1]: collector stopped" in log
        assert "every worker stopped (exit 0)" in log
        assert not any(_alive(pid) for pid in pids)


@pytest.mark.e2e
@pytest.mark.postgres
def test_a_killed_worker_is_restarted_and_the_port_keeps_answering(pg_url: str, tmp_path: Path) -> None:
    with workers(pg_url, tmp_path, 2) as served:
        victim = served.pid_of(1)
        os.kill(victim, signal.SIGKILL)
        # Connections the dying worker had accepted, or had queued unaccepted, are reset (its
        # clients retry); once its death is seen, the port answers every request while it restarts.
        wait_until(lambda: f"(pid {victim}) died (signal SIGKILL)" in served.log(), 30, "death noticed")
        sent = 0
        while served.pid_of(1) == victim:
            assert sent < 5000, served.log()
            _send(served.http_port, sent)
            sent += 1
        assert "worker 1 restarted" in served.log()
        answered: set[str] = set()

        def both_answered() -> bool:
            answered.add(_send(served.http_port, 5000 + len(answered)))
            return answered == {"0", "1"}

        wait_until(both_answered, timeout=60, message="the restarted worker answered")
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=60) == 0, served.log()


@pytest.mark.e2e
@pytest.mark.postgres
def test_workers_end_when_the_parent_is_killed(pg_url: str, tmp_path: Path) -> None:
    with workers(pg_url, tmp_path, 2) as served:
        pids = [served.pid_of(0), served.pid_of(1)]
        served.process.kill()  # SIGKILL: no chance to stop them
        served.process.wait(30)
        wait_until(lambda: not any(_alive(pid) for pid in pids), 60, "the orphaned workers ended")


@pytest.mark.e2e
def test_sqlite_refuses_several_workers(sqlite_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "VITALS_HASH_SECRET": SECRET}
    result = subprocess.run(
        _command(sqlite_url, tmp_path, "--workers", "2"),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"Error: {sqlite_refusal(2)}" in " ".join(result.stderr.split())
    assert "needs PostgreSQL" in result.stderr


@pytest.mark.e2e
@pytest.mark.postgres
def test_workers_that_cannot_start_stop_the_parent_with_exit_2(pg_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "VITALS_HASH_SECRET": SECRET}
    command = _command(pg_url, tmp_path, "--workers", "2", "--host", "0.0.0.0")  # no tokens: refused
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert "refusing to listen on 0.0.0.0 without authentication" in result.stderr
    assert "could not start" in result.stderr

"""Native memory defaults of ``vitals serve``: fewer malloc arenas, a periodic malloc_trim."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from aiohttp import web
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry

from tests.collector.harness import SECRET, wait_until
from tests.vitals.shell.test_workers import _command
from vitals.kernel.db import create_engine
from vitals.kernel.runtime import ServiceContext
from vitals.kernel.settings import Settings
from vitals.shell.memory import (
    ARENA_ENV,
    DEFAULT_TRIM_S,
    TRIM_ENV,
    MemoryComponent,
    Trimmer,
    _glibc,
    limit_arenas,
    trim,
    trim_interval,
)

glibc = pytest.mark.skipif(_glibc() is None, reason="glibc only")


def test_two_arenas_by_default_for_the_processes_started_next() -> None:
    env: dict[str, str] = {}
    assert limit_arenas(env) == "2"
    assert env == {ARENA_ENV: "2"}


def test_an_operators_arena_count_is_kept_and_a_bad_one_left_alone() -> None:
    assert limit_arenas({ARENA_ENV: "4"}) == "4"
    assert limit_arenas({ARENA_ENV: "many"}) is None


def test_the_trim_interval_comes_from_the_environment() -> None:
    assert trim_interval({}) == DEFAULT_TRIM_S == 60.0
    assert trim_interval({TRIM_ENV: "0"}) == 0.0
    assert trim_interval({TRIM_ENV: "15"}) == 15.0
    with pytest.raises(ValueError, match=TRIM_ENV):
        trim_interval({TRIM_ENV: "-1"})
    with pytest.raises(ValueError, match=TRIM_ENV):
        trim_interval({TRIM_ENV: "often"})


@glibc
def test_malloc_trim_runs_on_glibc() -> None:
    assert trim() in (True, False)


def test_a_failing_trim_is_counted_and_does_not_raise() -> None:
    calls: list[int] = []

    def failing() -> bool:
        calls.append(1)
        raise OSError("no")

    trimmer = Trimmer(60.0, failing)
    trimmer.tick()
    trimmer.tick()
    assert trimmer.trims == 2 and len(calls) == 2


def _context() -> ServiceContext:
    return ServiceContext(
        settings=Settings("sqlite://", Path(".")),
        engine=create_engine("sqlite://"),
        scheduler=BackgroundScheduler(timezone="UTC"),
        http_app=web.Application(),
        registry=CollectorRegistry(),
        write_metric_points=lambda rows: None,
    )


@glibc
def test_the_component_trims_on_a_thread_and_stops_with_the_process() -> None:
    ctx = _context()
    MemoryComponent({ARENA_ENV: "2"}).install(ctx)
    assert ctx.status["memory"] == "malloc arenas 2; malloc_trim every 60s"
    assert any(t.name == "vitals-malloc-trim" for t in threading.enumerate())
    for hook in ctx.on_stop:
        hook()


def test_the_trim_can_be_turned_off() -> None:
    ctx = _context()
    MemoryComponent({ARENA_ENV: "2", TRIM_ENV: "0"}).install(ctx)
    assert ctx.status["memory"] == f"malloc arenas 2; no periodic malloc_trim ({TRIM_ENV}=0)"
    assert ctx.on_stop == []


@pytest.mark.e2e
def test_serve_starts_its_store_writer_with_two_arenas(tmp_path: Path) -> None:
    """The store writer is a child process: it gets the arena count through its environment."""
    env = {k: v for k, v in os.environ.items() if k != ARENA_ENV} | {"VITALS_HASH_SECRET": SECRET}
    log_path = tmp_path / "serve.log"
    command = _command(f"sqlite:///{tmp_path / 'vitals.db'}", tmp_path)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:

        def listening() -> bool:
            return "collector listening" in log_path.read_text() or process.poll() is not None

        wait_until(listening, 90, "listening")
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert children, log_path.read_text()
        environ = Path(f"/proc/{children[0]}/environ").read_bytes().split(b"\0")
        assert f"{ARENA_ENV}=2".encode() in environ
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

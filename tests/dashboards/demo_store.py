"""A store filled the way `vitals demo` fills it, at a fixed "now", for the dashboard tests.

`vitals serve` with the demo's back-fill components (the collector, queue stuck detection and
the dashboard rollups) receives the synthetic estate from `vitals simulate --now NOW --seed S`
over OTLP; the SLA engine and alerting then evaluate it at NOW in-process, as `vitals serve`'s
scheduler jobs would on their first tick. Nothing depends on the wall clock: the collector and
its jobs run on the real clock, which none of their results depends on, and everything that
judges time (the SLA engine, alerting, the pages through VITALS_DASHBOARD_NOW) is pinned to NOW.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from alerts import config as alerts_config
from alerts.engine import AlertEngine
from alerts.sqlstore import SqlStore
from collector.tables import spans
from dashboards.rollup import refresh
from dashboards.tables import rollup_state
from slas.service import engine_from, load_config_dir
from tests.support.services import free_port
from vitals.kernel.db import create_engine
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.kernel.units import NS
from vitals.shell.demo import BACKFILL_COMPONENTS


@dataclass(frozen=True)
class DemoStore:
    url: str
    config: Path
    now: str  # ISO 8601, what the SLA engine, alerting and the pages take as "now"
    root: Path

    @property
    def now_ns(self) -> int:
        return int(datetime.fromisoformat(self.now).timestamp()) * NS


def wait_for(
    check: Callable[[], bool], deadline_s: float, what: str, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``check`` until it holds (a process that exits meanwhile fails the wait at once)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} while waiting for {what}")
        if check():
            return
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not happen within {deadline_s} s")


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def build(
    root: Path,
    *,
    now: str,
    days: float,
    seed: int = 7,
    rate_scale: float = 1.0,
    simulate_timeout_s: float = 600,
) -> DemoStore:
    """Fill a fresh store under ``root`` with ``days`` of the default scenario up to ``now``."""
    config = root / "config"
    shutil.copytree(STARTER_CONFIG_DIR, config)
    # The history is months before the wall clock: the collector's retention job (which judges
    # age by the wall clock) would start deleting it ten minutes in. Keep everything.
    collector = config / "collector.yaml"
    text = collector.read_text()
    kept = text.replace("  spans: 14d", "  spans: null").replace("  metrics: 14d", "  metrics: null")
    assert kept.count(": null") >= text.count(": null") + 2, "the starter retention settings moved"
    collector.write_text(kept)
    # Fold the dashboard rollups (the dashboards.service job of `vitals serve`) every 2 s.
    (config / "dashboard.yaml").write_text("rollup_interval: 2s\n")
    url = f"sqlite:///{root / 'vitals.db'}"
    http_port, grpc_port = free_port(), free_port()
    env = {**os.environ, "VITALS_DB": url, "VITALS_CONFIG": str(config), "VITALS_LOG_LEVEL": "WARNING"}
    log = (root / "serve.log").open("wb")
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vitals",
            "serve",
            "--components",
            ",".join(BACKFILL_COMPONENTS),
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    engine = create_engine(url)
    try:
        wait_for(lambda: _ready(http_port), 60, "the collector to be ready", serve)
        simulated = subprocess.run(
            [
                sys.executable,
                "-m",
                "vitals",
                "simulate",
                "--days",
                f"{days:g}",
                "--rate-scale",
                f"{rate_scale:g}",
                "--seed",
                str(seed),
                "--now",
                now,
                "--endpoint",
                f"http://127.0.0.1:{http_port}",
                "--no-live",
                "--quiet",
            ],
            env=env,
            capture_output=True,
            timeout=simulate_timeout_s,
            check=False,
        )
        assert simulated.returncode == 0, simulated.stderr.decode()[-2000:]

        def rolled_up() -> bool:
            with engine.connect() as conn:
                newest = conn.execute(select(func.max(spans.c.id))).scalar()
                folded = conn.execute(
                    select(rollup_state.c.watermark).where(rollup_state.c.family == "spans")
                ).scalar()
            return folded is not None and folded == newest

        wait_for(rolled_up, 180, "vitals serve to fold every span into the dashboard rollups", serve)
    finally:
        # A graceful stop drains the queue stuck detection: every pushed depth sample is judged.
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=120)
        log.close()
    now_ns = int(datetime.fromisoformat(now).timestamp()) * NS
    # The graceful stop wrote the last queue.stuck samples after the rollup job's last tick: fold
    # them as the restarted `vitals serve` of the demo does (its dashboards job, first tick).
    refresh(engine, horizon_s=0, clock=lambda: now_ns)
    # The SLA engine of `vitals serve` (its scheduler job ticks the same way) and alerting, at NOW.
    slas = engine_from(engine, load_config_dir(config), clock=lambda: now_ns)
    slas.catch_up()
    assert slas.tick().evaluations
    AlertEngine(
        SqlStore(engine), lambda: alerts_config.load_for(config), clock=lambda: now_ns / NS
    ).evaluate()
    with engine.connect() as conn:  # the spans and the metrics families
        assert conn.execute(select(func.count()).select_from(rollup_state)).scalar_one() == 2
    engine.dispose()
    return DemoStore(url, config, now, root)


__all__ = ["DemoStore", "build", "wait_for"]

"""The dashboard over a store filled the real way: simulator -> OTLP -> collector -> SLA engine.

`vitals serve` (the collector and the dashboard rollups) receives a day and a half of the
synthetic estate from `vitals simulate --now NOW --seed 7`; the SLA engine and alerting then
evaluate it at NOW, and every page runs under AppTest at NOW: the scorecard's charge-lag figures
must equal what the SLA engine computed from the same spans. Nothing depends on when the test
runs (the same spans, evaluations and pages at any hour of any day).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from alerts import config as alerts_config
from alerts.engine import AlertEngine
from alerts.sqlstore import SqlStore
from collector.tables import spans
from dashboards.tables import rollup_state
from dashboards.timerange import ENV_NOW
from slas.service import engine_from, load_config_dir
from slas.tables import sla_evaluations, sla_minutes
from tests.dashboards.conftest import PAGES, no_exceptions
from tests.support.services import free_port
from vitals.kernel.db import create_engine
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.kernel.units import NS

pytestmark = pytest.mark.e2e

#: Where the simulated history ends and where the SLA engine, alerting and the pages stand:
#: Wednesday 14:00 in Chicago, a working day whose day before (with seed 7) holds charges that
#: missed their 24 h deadline. Many instants have none (a Sunday, most mornings), which is why
#: this must never be the wall clock.
NOW = "2026-03-11T19:00:00Z"
NOW_NS = int(datetime.fromisoformat(NOW).timestamp()) * NS
SEED = "7"


@dataclass
class Demo:
    url: str
    config: Path


def _wait(check: object, deadline_s: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"vitals serve exited with {proc.returncode} while waiting for {what}")
        if check():  # type: ignore[operator]
            return
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not happen within {deadline_s} s")


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("demo-store")
    config = root / "config"
    shutil.copytree(STARTER_CONFIG_DIR, config)
    # Fold the dashboard rollups (the dashboards.service job of `vitals serve`) every 2 s.
    (config / "dashboard.yaml").write_text("rollup_interval: 2s\n")
    url = f"sqlite:///{root / 'vitals.db'}"
    http_port, grpc_port = free_port(), free_port()
    env = {**os.environ, "VITALS_DB": url, "VITALS_CONFIG": str(config), "VITALS_LOG_LEVEL": "WARNING"}
    log = (root / "serve.log").open("wb")
    # The collector and its rollup job run on the real clock, which neither's result depends on;
    # the SLA engine and alerting run below, at NOW.
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vitals",
            "serve",
            "--components",
            "dashboards",
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: _ready(http_port), 60, "the collector to be ready", serve)
        simulated = subprocess.run(
            [
                sys.executable,
                "-m",
                "vitals",
                "simulate",
                "--days",
                "1.5",
                "--rate-scale",
                "0.05",
                "--seed",
                SEED,
                "--now",
                NOW,
                "--endpoint",
                f"http://127.0.0.1:{http_port}",
                "--no-live",
                "--quiet",
            ],
            env=env,
            capture_output=True,
            timeout=100,
            check=False,
        )
        assert simulated.returncode == 0, simulated.stderr.decode()[-2000:]
        engine = create_engine(url)

        def rolled_up() -> bool:
            with engine.connect() as conn:
                newest = conn.execute(select(func.max(spans.c.id))).scalar()
                folded = conn.execute(
                    select(rollup_state.c.watermark).where(rollup_state.c.family == "spans")
                ).scalar()
            return folded is not None and folded == newest

        _wait(rolled_up, 60, "vitals serve to fold every span into the dashboard rollups", serve)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        log.close()
    # The SLA engine of `vitals serve` (its scheduler job ticks the same way) and alerting, at NOW.
    slas = engine_from(engine, load_config_dir(config), clock=lambda: NOW_NS)
    slas.catch_up()
    assert slas.tick().evaluations
    AlertEngine(
        SqlStore(engine), lambda: alerts_config.load_for(config), clock=lambda: NOW_NS / NS
    ).evaluate()
    with engine.connect() as conn:  # the spans and the metrics families
        assert conn.execute(select(func.count()).select_from(rollup_state)).scalar_one() == 2
    engine.dispose()
    yield Demo(url, config)


def _open(demo: Demo, monkeypatch: pytest.MonkeyPatch, page: str, params: dict[str, str]) -> object:
    from streamlit.testing.v1 import AppTest

    from tests.dashboards.conftest import APP

    monkeypatch.setenv("VITALS_DB", demo.url)
    monkeypatch.setenv("VITALS_CONFIG", str(demo.config))
    monkeypatch.setenv("VITALS_DASHBOARD_ROLLUPS", "off")
    monkeypatch.setenv(ENV_NOW, NOW)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(params)
    at.run()
    if page != "scorecard":
        at.switch_page(PAGES[page]).run()
    return at


def _minute_range(end_ns: int) -> tuple[dict[str, str], int, int]:
    """The day before ``end_ns`` in whole minutes, as a custom range in UTC."""
    hi = end_ns // (60 * NS) * 60 * NS
    lo = hi - 86400 * NS

    def iso(ns: int) -> str:
        return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M")

    return {"range": "custom", "from": iso(lo), "to": iso(hi), "tz": "UTC"}, lo, hi


def _engine_bad(conn: Any, sla_id: str, lo: int, hi: int) -> tuple[int, float]:
    """Late objects and their money as the SLA engine counted them: bad, in the deadline's minute."""
    bad, amount = conn.execute(
        select(
            func.coalesce(func.sum(sla_minutes.c.bad), 0),
            func.coalesce(func.sum(sla_minutes.c.bad_amount), 0),
        ).where(
            sla_minutes.c.sla_id == sla_id,
            sla_minutes.c.minute_unix_nano >= lo,
            sla_minutes.c.minute_unix_nano < hi,
        )
    ).one()
    return int(bad), float(amount)


def test_scorecard_charge_lag_equals_the_sla_engine(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboards import views

    engine = create_engine(demo.url)
    with engine.connect() as conn:
        latest = conn.execute(
            select(sla_evaluations)
            .where(sla_evaluations.c.sla_id == "charge-lag", sla_evaluations.c.slice == "")
            .order_by(sla_evaluations.c.evaluated_at_unix_nano.desc())
            .limit(1)
        ).one()
        params, lo, hi = _minute_range(int(latest.evaluated_at_unix_nano))
        lag_bad, lag_amount = _engine_bad(conn, "charge-lag", lo, hi)
        late_bad, _ = _engine_bad(conn, "late-charges", lo, hi)
    engine.dispose()
    assert lag_bad > 0, "a day and a half of the demo estate has charges past their 24 h deadline"
    at: Any = _open(demo, monkeypatch, "scorecard", params)
    no_exceptions(at)
    assert at.get_by_key("tile-charge-lag").metric[0].value == views.pct(latest.sli)
    risk = at.get_by_key("headline-revenue_at_risk")
    assert risk.metric[0].value == views.money(lag_amount)
    assert f"in the {lag_bad:,} charges not posted within 1d" in risk.caption[0].value
    assert at.get_by_key("headline-late_charges").metric[0].value == f"{late_bad:,} charges"


@pytest.mark.parametrize("page", ["scorecard", "sla", "operations", "traces", "dependencies", "alerts"])
def test_every_page_renders_the_demo_estate(demo: Demo, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    at: object = _open(demo, monkeypatch, page, {"range": "1d"})
    no_exceptions(at)  # type: ignore[arg-type]
    assert not [e for e in at.error]  # type: ignore[attr-defined]
    if page in ("scorecard", "sla", "operations", "dependencies"):
        assert at.get("plotly_chart")  # type: ignore[attr-defined]

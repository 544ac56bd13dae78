"""Fixtures for the dashboard tests: a filled store and a way to run a page under AppTest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from dashboards.rollup import refresh
from dashboards.timerange import ENV_NOW
from slas.service import engine_from, load_config_dir
from tests.dashboards import estate
from vitals.kernel.units import NS

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app" / "main.py"
PAGES = {
    "scorecard": "screens/scorecard.py",
    "sla": "screens/sla.py",
    "operations": "screens/operations.py",
    "traces": "screens/traces.py",
    "dependencies": "screens/dependencies.py",
    "apis": "screens/apis.py",
    "alerts": "screens/alerts.py",
    "exceptions": "screens/exceptions.py",
    "capacity": "screens/capacity.py",
}


@dataclass
class Store:
    url: str
    engine: Engine
    config_dir: Path
    estate: estate.Estate


def fill(engine: Engine, url: str, config_dir: Path, now: float | None = None) -> Store:
    estate.write_config(config_dir)
    est = estate.build(engine, estate.NOW_S if now is None else now)
    refresh(engine, horizon_s=0, edge_timing=estate.SETTLED, clock=lambda: int(est.now_s * NS))
    run_sla_engine(engine, config_dir, est)
    return Store(url, engine, config_dir, est)


def run_sla_engine(engine: Engine, config_dir: Path, est: estate.Estate) -> None:
    """The business objects of the lag SLAs, as the SLA engine of `vitals serve` keeps them at the
    estate's now: the dashboard's lag figures read them. Only the lag SLAs, and no evaluations:
    the pages show the estate's known evaluations of every SLA."""
    config = load_config_dir(config_dir)
    lag_only = replace(config, slas=[sla for sla in config.slas if sla.kind == "lag"])
    now_ns = int(est.now_s * NS)
    engine_from(engine, lag_only, clock=lambda: now_ns).catch_up()


@pytest.fixture
def store(engine: Engine, store_url: str, tmp_path: Path) -> Store:
    """The small known estate, rolled up, on SQLite and PostgreSQL."""
    return fill(engine, store_url, tmp_path / "config")


@pytest.fixture
def sqlite_store(sqlite_engine: Engine, sqlite_url: str, tmp_path: Path) -> Store:
    return fill(sqlite_engine, sqlite_url, tmp_path / "config")


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("VITALS_DASHBOARD_ROLLUPS", "off")
    yield monkeypatch


def open_page(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    config_dir: Path,
    page: str,
    params: dict[str, str] | None = None,
    *,
    timezone: str = "America/Chicago",
    now_s: float = estate.PAGE_NOW_S,
) -> AppTest:
    """Run the app shell, then ``page``, as a browser would open ``/<page>?<params>`` at ``now_s``
    (by default just after the estate's now: never the wall clock)."""
    monkeypatch.setenv("VITALS_DB", url)
    monkeypatch.setenv("VITALS_CONFIG", str(config_dir))
    monkeypatch.setenv("VITALS_DASHBOARD_ROLLUPS", "off")
    monkeypatch.setenv(ENV_NOW, estate.page_now(now_s))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.context["timezone"] = timezone
    at.query_params.update(params or {})
    at.run()
    if page != "scorecard":
        at.switch_page(PAGES[page])
        at.run()
    return at


def texts(at: AppTest) -> str:
    """Everything written on the page, for assertions on what a person would read."""
    parts: list[str] = []
    for kind in (
        "markdown",
        "caption",
        "title",
        "header",
        "subheader",
        "info",
        "warning",
        "error",
        "success",
    ):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return "\n".join(parts)


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]

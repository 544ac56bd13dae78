"""`vitals serve` installs analytics.service: a scheduler job that keeps the API rollups current."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from analytics import service
from analytics.tables import api_rollups
from tests.support.factories import insert_spans, span_row
from vitals.kernel.runtime import ServiceContext
from vitals.kernel.settings import Settings
from vitals.shell.serve import COMPONENTS


def _context(engine: Engine, url: str, config_dir: Path) -> ServiceContext:
    return ServiceContext(
        settings=Settings(url, config_dir),
        engine=engine,
        scheduler=BackgroundScheduler(),
        http_app=web.Application(),
        registry=CollectorRegistry(),
        write_metric_points=lambda rows: None,
        stop_event=threading.Event(),
    )


def _minute_counts(engine: Engine) -> dict[str, int]:
    """Calls per consumer in the minute rows of every API."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(api_rollups.c.consumer, func.sum(api_rollups.c["count"]))
            .where(api_rollups.c.width_s == 60, api_rollups.c.consumer != "*", api_rollups.c.service != "*")
            .group_by(api_rollups.c.consumer)
        ).all()
    return {consumer: int(total) for consumer, total in rows}


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # The spans are dated June 2026: keep their rows whatever today is (retention reads the clock).
    monkeypatch.setattr(service, "KEEP_MINUTES_S", 1e9)
    monkeypatch.setattr(service, "KEEP_HOURS_S", 1e9)


def test_serve_component_folds_new_spans(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path, kept: None
) -> None:
    assert COMPONENTS["analytics"] == "analytics.service"
    attrs = {"http.route": "/eligibility/270", "http.request.method": "POST", "client.id": "billing"}
    insert_spans(
        sqlite_engine,
        [
            span_row(service="payer-gateway", kind="server", start_s=1_780_000_000 + i, attributes=attrs)
            for i in range(5)
        ],
    )
    ctx = _context(sqlite_engine, sqlite_url, tmp_path)
    service.install(ctx)
    job: Any = ctx.scheduler.get_job(service.JOB_ID)
    assert job.trigger.interval.total_seconds() == 30
    report = job.func()
    assert report is not None and report.claimed and report.behind == 0
    assert _minute_counts(sqlite_engine) == {"billing": 5}
    assert ctx.status["analytics"] == "API rollups current"
    for stop in ctx.on_stop:
        stop()


def test_consumer_attributes_and_interval_from_analytics_yaml(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path, kept: None
) -> None:
    (tmp_path / "analytics.yaml").write_text(
        "consumer_attributes: [app.client_id, client.id]\nrollup_interval: 2m\n"
    )
    route = {"http.route": "/fhir/r4/Patient/{id}", "http.request.method": "GET"}
    carries = [
        {**route, "app.client_id": "portal", "client.id": "gateway"},  # the first listed wins
        {**route, "app.client_id": "portal"},
        {**route, "client.id": "billing"},  # the second when the first is absent
        route,  # neither: (unknown)
    ]
    insert_spans(
        sqlite_engine,
        [
            span_row(service="fhir-server", kind="server", start_s=1_780_000_000 + i, attributes=attrs)
            for i, attrs in enumerate(carries)
        ],
    )
    ctx = _context(sqlite_engine, sqlite_url, tmp_path)
    service.install(ctx)
    assert ctx.status["analytics"] == "API rollups every 120s, consumers from app.client_id, client.id"
    job: Any = ctx.scheduler.get_job(service.JOB_ID)
    assert job.trigger.interval.total_seconds() == 120
    report = job.func()
    assert report is not None and report.behind == 0
    assert _minute_counts(sqlite_engine) == {"portal": 2, "billing": 1, "": 1}
    for stop in ctx.on_stop:
        stop()


def test_invalid_analytics_yaml_stops_the_folding_not_the_collector(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "analytics.yaml").write_text("consumer_attributes: []\n")
    ctx = _context(sqlite_engine, sqlite_url, tmp_path)
    service.install(ctx)
    assert ctx.scheduler.get_job(service.JOB_ID) is None
    status = ctx.status["analytics"]
    assert status.startswith("API rollups stopped: invalid analytics.yaml")
    assert "analytics.yaml:1: consumer_attributes:" in status

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


def test_serve_component_folds_new_spans(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The spans are dated June 2026: keep their rows whatever today is (retention reads the clock).
    monkeypatch.setattr(service, "KEEP_MINUTES_S", 1e9)
    monkeypatch.setattr(service, "KEEP_HOURS_S", 1e9)
    assert COMPONENTS["analytics"] == "analytics.service"
    attrs = {"http.route": "/eligibility/270", "http.request.method": "POST", "client.id": "billing"}
    insert_spans(
        sqlite_engine,
        [
            span_row(service="payer-gateway", kind="server", start_s=1_780_000_000 + i, attributes=attrs)
            for i in range(5)
        ],
    )
    ctx = ServiceContext(
        settings=Settings(sqlite_url, tmp_path),
        engine=sqlite_engine,
        scheduler=BackgroundScheduler(),
        http_app=web.Application(),
        registry=CollectorRegistry(),
        write_metric_points=lambda rows: None,
        stop_event=threading.Event(),
    )
    service.install(ctx)
    job: Any = ctx.scheduler.get_job(service.JOB_ID)
    report = job.func()
    assert report is not None and report.claimed and report.behind == 0
    with sqlite_engine.connect() as conn:
        minutes = select(func.sum(api_rollups.c["count"])).where(
            api_rollups.c.width_s == 60, api_rollups.c.consumer != "*", api_rollups.c.service != "*"
        )
        total = conn.execute(minutes).scalar()
    assert total == 5
    assert ctx.status["analytics"] == "API rollups current"
    for stop in ctx.on_stop:
        stop()


def test_consumer_attributes_from_the_environment() -> None:
    assert service.consumer_attributes({}) == ("client.id",)
    assert service.consumer_attributes({service.CONSUMER_ENV: "app.id, client.id"}) == ("app.id", "client.id")

"""``slas.service``: the scheduler job inside ``vitals serve`` and hot reload of SLA files."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.engine import Engine

from slas.service import JOB_ID, SlaService, install
from slas.tables import sla_evaluations
from tests.slas.helpers import HOUR, MIN, Clock, Timeline
from tests.slas.test_store import store_spans
from vitals.kernel.runtime import ServiceContext
from vitals.kernel.settings import Settings

GL = """\
slas:
  - id: gl-posting-errors
    title: GL postings succeed
    domain: finance
    owner: finance-systems
    priority: P2
    objective: 99%
    window: 1d
    sli:
      ratio:
        total: {span: erp.gl.post}
        bad: {status: error}
"""


@pytest.fixture
def context(engine: Engine, store_url: str, tmp_path: Path) -> Iterator[ServiceContext]:
    (tmp_path / "slas").mkdir()
    (tmp_path / "slas" / "finance.yaml").write_text(GL + "evaluation: {interval: 15s}\n")
    scheduler = BackgroundScheduler()

    def no_metrics(rows: Any) -> None:
        raise AssertionError("the SLA engine writes no telemetry")

    yield ServiceContext(
        settings=Settings.resolve(store_url, tmp_path),
        engine=engine,
        scheduler=scheduler,
        http_app=web.Application(),
        registry=CollectorRegistry(),
        write_metric_points=no_metrics,
    )


def test_install_adds_the_evaluation_job(context: ServiceContext) -> None:
    install(context)
    job = context.scheduler.get_job(JOB_ID)
    assert job is not None and job.trigger.interval.total_seconds() == 15
    assert isinstance(job.func.__self__, SlaService)
    assert context.status["slas"].startswith("1 SLAs")


def test_each_run_evaluates_writes_and_reloads_changed_files(context: ServiceContext, engine: Engine) -> None:
    tl = Timeline()
    store_spans(engine, tl.spans([HOUR + i * MIN for i in range(9)], name="erp.gl.post"))
    store_spans(engine, [tl.span(HOUR + 10 * MIN, name="erp.gl.post", status="error")])
    clock = Clock(2 * HOUR)
    service = SlaService(context, clock=clock)
    result = service.run_once()
    assert result is not None and [(e.good, e.total) for e in result.evaluations] == [(9, 10)]
    with engine.connect() as conn:
        rows = conn.execute(select(sla_evaluations.c.sla_id, sla_evaluations.c.good)).all()
    assert rows == [("gl-posting-errors", 9)]
    assert "0 breach" not in context.status["slas"] and "1 breach" in context.status["slas"]

    path = context.settings.config_dir / "slas" / "finance.yaml"
    path.write_text(GL.replace("objective: 99%", "objective: 80%"))
    os.utime(path, ns=(1, 1))  # a different mtime even within the filesystem's clock resolution
    clock.set(2 * HOUR + 30)
    result = service.run_once()
    assert result is not None and result.evaluations[0].objective == 0.8
    assert result.evaluations[0].status == "ok"

    path.write_text("slas: [{id: broken}]\n")
    os.utime(path, ns=(2, 2))
    clock.set(2 * HOUR + 60)
    result = service.run_once()  # invalid files are logged; the previous SLAs keep running
    assert result is not None and result.evaluations[0].objective == 0.8


def test_a_failing_tick_is_reported_not_raised(
    context: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = SlaService(context, clock=Clock(0))

    def broken() -> None:
        raise RuntimeError("store unavailable")

    monkeypatch.setattr(service.engine, "tick", broken)
    assert service.run_once() is None
    assert context.status["slas"] == "error: RuntimeError: store unavailable"


def test_of_two_services_on_one_store_one_evaluates_and_the_other_takes_over(
    context: ServiceContext, engine: Engine
) -> None:
    tl = Timeline()
    store_spans(engine, tl.spans([HOUR + i * MIN for i in range(3)], name="erp.gl.post"))
    clock = Clock(2 * HOUR)
    elsewhere = dataclasses.replace(context, registry=CollectorRegistry(), status={})
    first, second = SlaService(context, clock=clock), SlaService(elsewhere, clock=clock)
    assert first.run_once() is not None
    assert second.run_once() is None  # standing by: the first holds the lease
    assert elsewhere.status["slas"] == f"standby: {first.owner} evaluates the SLAs"
    clock.set(2 * HOUR + 30)
    assert first.run_once() is not None  # renewing
    first.release_lease()  # a graceful stop hands over at once
    clock.set(2 * HOUR + 60)
    assert second.run_once() is not None
    assert first.run_once() is None
    with engine.connect() as conn:
        written = conn.execute(select(sla_evaluations.c.sla_id)).all()
    assert len(written) == 3  # one evaluation per tick that ran, none twice

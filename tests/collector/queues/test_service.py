"""``install(ctx)``: scheduler jobs per poller, the transform, the derived jobs; a dead broker does
not stop the others (real APScheduler, real brokers, real store)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from collector.queues import names, service
from collector.queues.transform import QueueMetricTransform
from tests.collector.queues.conftest import StoreWriter, stored, wait_for
from tests.support.services import free_port, require
from vitals.kernel.runtime import ServiceContext
from vitals.kernel.settings import Settings


def context(engine: Engine, config_dir: Path) -> ServiceContext:
    from aiohttp import web

    return ServiceContext(
        settings=Settings(db_url=str(engine.url), config_dir=config_dir),
        engine=engine,
        scheduler=BackgroundScheduler(timezone="UTC"),
        http_app=web.Application(),
        registry=CollectorRegistry(),
        write_metric_points=StoreWriter(engine),
    )


def test_install_registers_one_job_per_poller_with_its_interval(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "collector.yaml").write_text(
        "pollers:\n"
        "  - {name: fast, type: redis, interval: 5s}\n"
        "  - {name: slow, type: nats, interval: 2m}\n"
        "  - {name: paused, type: redis, enabled: false}\n"
        "  - {type: trace-latency, interval: 45s}\n"
    )
    ctx = context(sqlite_engine, tmp_path)
    jobs = service.install(ctx)
    assert [j.poller.name for j in jobs] == ["fast", "slow"]
    scheduled = {job.id: job.trigger.interval.total_seconds() for job in ctx.scheduler.get_jobs()}
    assert scheduled == {
        "queues.poll.fast": 5,
        "queues.poll.slow": 120,
        "queues.trace_latency": 45,
        "queues.otlp_stuck": 30,
    }
    assert any(isinstance(t, QueueMetricTransform) for t in ctx.metric_transforms)
    assert "2 poller(s)" in ctx.status["queues"]


@pytest.mark.brokers
def test_a_broker_that_refuses_connections_is_recorded_and_the_others_keep_sampling(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    require("redis")
    stream = f"vitals-test:{uuid.uuid4().hex[:10]}"
    client = redis.Redis()
    client.xadd(stream, {"n": 1})
    client.xgroup_create(stream, "billing", id="0")
    dead = free_port()
    (tmp_path / "collector.yaml").write_text(
        "pollers:\n"
        f"  - {{name: streams, type: redis, interval: 1s, streams: ['{stream}']}}\n"
        f"  - {{name: dead-rabbit, type: rabbitmq, interval: 1s, timeout: 1s,"
        f" management_url: 'http://127.0.0.1:{dead}'}}\n"
        f"  - {{name: dead-nats, type: nats, interval: 1s, timeout: 1s, servers: ['nats://127.0.0.1:{dead}']}}\n"
        "  - {type: trace-latency, enabled: false}\n"
        "  - {type: otlp, enabled: false}\n"
    )
    ctx = context(sqlite_engine, tmp_path)
    service.install(ctx)
    ctx.scheduler.start()
    try:

        def enough() -> bool:
            up = stored(sqlite_engine, names.POLLER_UP, poller="streams")
            down = stored(sqlite_engine, names.POLLER_UP, poller="dead-rabbit")
            return len(up) >= 3 and len(down) >= 3

        wait_for(enough, timeout=60)
    finally:
        ctx.scheduler.shutdown(wait=True)
        client.delete(stream)
        client.close()
    assert {p["value"] for p in stored(sqlite_engine, names.POLLER_UP, poller="streams")} == {1.0}
    assert {p["value"] for p in stored(sqlite_engine, names.POLLER_UP, poller="dead-rabbit")} == {0.0}
    assert {p["value"] for p in stored(sqlite_engine, names.POLLER_UP, poller="dead-nats")} == {0.0}
    depth = stored(sqlite_engine, names.DEPTH, poller="streams", group="billing")
    assert len(depth) >= 3 and {p["value"] for p in depth} == {1.0}
    assert depth[0]["queue"] == stream
    errors: Any = ctx.registry.get_sample_value("collector_poll_errors_total", {"poller": "dead-rabbit"})
    assert errors is not None and errors >= 3
    assert ctx.registry.get_sample_value("collector_poll_errors_total", {"poller": "streams"}) is None

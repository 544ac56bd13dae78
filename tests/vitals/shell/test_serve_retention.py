"""``vitals serve`` assembles the retention job beside whichever components it runs."""

from __future__ import annotations

from types import SimpleNamespace

from apscheduler.schedulers.background import BackgroundScheduler

from collector.config import CollectorConfig, Retention
from collector.retention import JOB_ID
from vitals.shell.serve import assemble


def installed(
    config: CollectorConfig, names: tuple[str, ...]
) -> tuple[list[str], BackgroundScheduler, dict[str, str]]:
    components = assemble(config, names)
    scheduler = BackgroundScheduler(timezone="UTC")
    sqlite = SimpleNamespace(dialect=SimpleNamespace(name="sqlite"))  # PostgreSQL: see test_partitions
    heartbeats: list[str] = []
    ctx = SimpleNamespace(
        scheduler=scheduler,
        status={},
        engine=sqlite,
        on_stop=[],
        add_heartbeat=lambda job_id, *_: heartbeats.append(job_id),
    )
    components[0].install(ctx)  # type: ignore[arg-type]
    return [c.__name__ for c in components], scheduler, ctx.status


def test_retention_is_installed_first_even_with_no_components() -> None:
    names, scheduler, status = installed(CollectorConfig(), ())
    assert names == ["collector.retention"]
    job = scheduler.get_job(JOB_ID)
    assert job is not None and job.trigger.interval.total_seconds() == 600
    assert status["retention"] == "deletes expired spans and metric points"


def test_retention_comes_before_the_chosen_components() -> None:
    names, _, _ = installed(CollectorConfig(), ("slas",))
    assert names == ["collector.retention", "slas.service"]


def test_no_job_when_every_signal_is_kept_for_ever() -> None:
    config = CollectorConfig(retention=Retention(spans=None, metrics=None))
    _, scheduler, status = installed(config, ())
    assert scheduler.get_job(JOB_ID) is None
    assert status["retention"].startswith("off:")

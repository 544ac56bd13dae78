"""How the parts of ``vitals serve`` plug into one process.

The collector owns the process: its HTTP app, its gRPC server and the single durable writer.
Other packages contribute through an ``install(ctx)`` function that adds scheduler jobs and HTTP
routes; they never open their own listener or write telemetry around the writer (on SQLite there
is one writer at a time, and the ingestion order of ``id`` is the readers' watermark).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aiohttp import web
    from apscheduler.schedulers.background import BackgroundScheduler
    from prometheus_client import CollectorRegistry
    from sqlalchemy.engine import Engine

    from vitals.kernel.settings import Settings


#: Writes rows of ``metric_points`` (column name -> value) through the collector's durable writer;
#: returns once they are committed. Duplicate (series_id, time_unix_nano) rows are stored once.
MetricPointWriter = Callable[[Sequence[Mapping[str, Any]]], None]

#: Applied by the OTLP metrics receiver to every ``metric_points`` row before it is written
#: (rename engine-specific queue gauges to Vitals' standard names, say). Return the row (possibly
#: changed) or None to keep it as it was.
MetricTransform = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass
class ServiceContext:
    """What a component gets when ``vitals serve`` installs it."""

    settings: Settings
    engine: Engine
    scheduler: BackgroundScheduler
    http_app: web.Application
    registry: CollectorRegistry
    write_metric_points: MetricPointWriter
    #: Components append transforms in ``install``; the receiver applies them in order.
    metric_transforms: list[MetricTransform] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    #: Component name -> a short human-readable status line for /readyz and the startup banner.
    status: dict[str, str] = field(default_factory=dict)
    #: Called (in a worker thread) for every /readyz: each returns more top-level JSON fields
    #: (who holds which job, how far the derived work trails the store, ...). One that raises is
    #: reported as ``readiness_errors`` and does not make the process unready.
    readiness: list[Callable[[], Mapping[str, Any]]] = field(default_factory=list)
    #: Run in order on a graceful stop, after the scheduler has stopped and before the writer
    #: closes: a component finishes derived work on what was accepted (as the writer commits it).
    #: They share the stop's time budget (``--shutdown-timeout``) and are skipped while a scheduler
    #: job is still running, since a hook finishes that same job's work.
    on_stop: list[Callable[[], object]] = field(default_factory=list)

    def add_heartbeat(self, job_id: str, seconds: float, beat: Callable[[], bool], wake: str) -> None:
        """Schedule a job lease's heartbeat (``vitals.kernel.lease.Keeper``): ``beat`` every
        ``seconds`` from now on, apart from the job's own interval. When it returns True (this
        process has just taken the job over) the job ``wake`` runs at once: a takeover must not
        wait out the job's interval on top of the lease."""
        from datetime import UTC, datetime

        def heartbeat() -> None:
            if beat():
                self.scheduler.modify_job(wake, next_run_time=datetime.now(UTC))

        self.scheduler.add_job(
            heartbeat,
            "interval",
            seconds=seconds,
            id=job_id,
            name=f"{job_id} heartbeat",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )


class Component(Protocol):
    """A module with an ``install`` function (``slas.service``, ``alerts.service``, ...).

    ``vitals.shell.serve`` chooses the components and hands them to the collector, which installs
    them in that order; no component looks another up by name.
    """

    __name__: str

    def install(self, ctx: ServiceContext) -> None: ...

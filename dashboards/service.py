"""The dashboard's rollups inside ``vitals serve``: a scheduler job that folds new telemetry in.

Installed by ``vitals serve`` (``vitals.kernel.runtime.COMPONENT_MODULES``). Each dashboard process also
runs the same refresh in a thread; a lease per rollup family (``vitals.kernel.lease``) lets only
one of them work at a time, so whichever is up keeps the rollups current.

Among several ``vitals serve`` processes on one PostgreSQL, the holder of the
``dashboards.rollups`` lease refreshes; it is kept on a heartbeat (``vitals.kernel.lease.Keeper``)
that also renews the family leases the refresh holds under the same name, and every lease lasts
half the takeover bound, so when the holder dies another process folds within the bound (30 s by
default, ``VITALS_LEASE_BOUND``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dashboards import config as dashboard_config
from dashboards.rollup import RefreshReport, refresh
from vitals.kernel.configfile import ConfigError
from vitals.kernel.lease import Keeper

if TYPE_CHECKING:
    from vitals.kernel.runtime import ServiceContext

__all__ = ["HEARTBEAT_JOB_ID", "JOB_ID", "LEASE", "install"]

log = logging.getLogger(__name__)
JOB_ID = "dashboards.rollups"
HEARTBEAT_JOB_ID = "dashboards.lease"
#: The lease of the rollup job among ``vitals serve`` processes (the families have their own).
LEASE = "dashboards.rollups"
#: Batches per tick: at most a few seconds of work, so a catch-up never starves other jobs.
MAX_BATCHES_PER_TICK = 20


def install(ctx: ServiceContext) -> None:
    from prometheus_client import Counter, Gauge

    try:
        loaded = dashboard_config.load(ctx.settings.config_dir)
    except ConfigError as exc:
        # The collector must not stop for a dashboard setting; the dashboard shows the error.
        log.error("dashboard config: %s (using the default rollup interval and retention)", exc)
        loaded = dashboard_config.DashboardConfig()
    interval = float(loaded.rollup_interval)
    retention = loaded.retention.rollups()
    folded = Counter(
        "vitals_dashboard_rollup_rows_total",
        "Telemetry rows folded into the dashboard rollups",
        ["family"],
        registry=ctx.registry,
    )
    behind = Gauge(
        "vitals_dashboard_rollup_behind_rows",
        "Telemetry rows not yet in the dashboard rollups",
        ["family"],
        registry=ctx.registry,
    )

    keeper = Keeper(ctx.engine, LEASE)
    #: A family another refresher still held (its lease runs out soon): refresh at the next beat.
    waiting: list[bool] = [False]

    def tick() -> RefreshReport | None:
        if ctx.stop_event.is_set():
            return None
        other = keeper.standby()
        if other is not None:
            ctx.status["dashboards"] = f"standby: {other} folds the rollups"
            return None
        try:
            report = refresh(
                ctx.engine,
                max_batches=MAX_BATCHES_PER_TICK,
                owner=keeper.owner,
                lease_s=keeper.timing.lease_s,
                retention=retention,
            )
        except Exception as exc:  # a transient database error: try again next tick
            log.warning("dashboard rollups: %s", exc)
            ctx.status["dashboards"] = f"rollups failing: {exc}"
            return None
        waiting[0] = not all(family.claimed for family in report.families)
        for family in report.families:
            folded.labels(family.family).inc(family.processed)
            behind.labels(family.family).set(family.behind)
        ctx.status["dashboards"] = (
            f"rollups current (every {interval:g}s)"
            if not report.behind
            else f"rollups {report.behind:,} rows behind"
        )
        return report

    def beat() -> bool:
        # Just taken over, or a family another refresher held is free by now: fold at once.
        return keeper.beat() or (waiting[0] and keeper.holds())

    ctx.scheduler.add_job(
        tick, "interval", seconds=interval, id=JOB_ID, max_instances=1, coalesce=True, replace_existing=True
    )
    ctx.add_heartbeat(HEARTBEAT_JOB_ID, keeper.timing.heartbeat_s, beat, JOB_ID)
    ctx.on_stop.append(keeper.release)
    ctx.status["dashboards"] = f"rollups every {interval:g}s"

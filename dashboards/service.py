"""The dashboard's rollups inside ``vitals serve``: a scheduler job that folds new telemetry in.

Installed by ``vitals serve`` (``vitals.kernel.runtime.COMPONENT_MODULES``). Each dashboard process also
runs the same refresh in a thread; a lease per rollup family (``vitals.kernel.lease``) lets only
one of them work at a time, so whichever is up keeps the rollups current.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dashboards import config as dashboard_config
from dashboards.rollup import RefreshReport, refresh
from vitals.kernel.configfile import ConfigError

if TYPE_CHECKING:
    from vitals.kernel.runtime import ServiceContext

__all__ = ["JOB_ID", "install"]

log = logging.getLogger(__name__)
JOB_ID = "dashboards.rollups"
#: Batches per tick: at most a few seconds of work, so a catch-up never starves other jobs.
MAX_BATCHES_PER_TICK = 20


def install(ctx: ServiceContext) -> None:
    from prometheus_client import Counter, Gauge

    try:
        interval = float(dashboard_config.load(ctx.settings.config_dir).rollup_interval)
    except ConfigError as exc:
        # The collector must not stop for a dashboard setting; the dashboard shows the error.
        log.error("dashboard config: %s (using the default rollup interval)", exc)
        interval = float(dashboard_config.DashboardConfig().rollup_interval)
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

    def tick() -> RefreshReport | None:
        if ctx.stop_event.is_set():
            return None
        try:
            report = refresh(ctx.engine, max_batches=MAX_BATCHES_PER_TICK)
        except Exception as exc:  # a transient database error: try again next tick
            log.warning("dashboard rollups: %s", exc)
            ctx.status["dashboards"] = f"rollups failing: {exc}"
            return None
        for family in report.families:
            folded.labels(family.family).inc(family.processed)
            behind.labels(family.family).set(family.behind)
        ctx.status["dashboards"] = (
            f"rollups current (every {interval:g}s)"
            if not report.behind
            else f"rollups {report.behind:,} rows behind"
        )
        return report

    ctx.scheduler.add_job(
        tick, "interval", seconds=interval, id=JOB_ID, max_instances=1, coalesce=True, replace_existing=True
    )
    ctx.status["dashboards"] = f"rollups every {interval:g}s"

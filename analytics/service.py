"""The API rollups inside ``vitals serve``: a scheduler job that folds new spans in.

Installed by ``vitals serve`` (component ``analytics``). Among several ``vitals serve`` processes on
one store, the holder of the ``analytics.rollups`` lease folds; a heartbeat
(``vitals.kernel.lease.Keeper``) keeps it and renews the fold's own lease
(``analytics.rollup.apis``) taken under the same owner, so when the holder dies another process
folds within the takeover bound (30 s by default, ``VITALS_LEASE_BOUND``).

The consumer attributes and the fold's interval come from ``analytics.yaml`` in the config
directory (:mod:`analytics.config`), read at start; changing the attributes rebuilds the rollups
from the spans kept. An invalid file stops the folding, not the collector: folding with the
default attributes instead would rebuild the rollups twice (away from the site's consumers and
back), so the rollups stay as they are and the status names the file's error until a restart with
a valid file. Minute rows are kept 8 days, hour rows 400 days, day rows 800 days.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from analytics import config as analytics_config
from analytics.rollup import Report, expire, refresh
from vitals.kernel.configfile import ConfigError
from vitals.kernel.lease import Keeper

if TYPE_CHECKING:
    from vitals.kernel.runtime import ServiceContext

__all__ = ["HEARTBEAT_JOB_ID", "JOB_ID", "LEASE", "install"]

log = logging.getLogger(__name__)
JOB_ID = "analytics.rollups"
HEARTBEAT_JOB_ID = "analytics.lease"
LEASE = "analytics.rollups"
MAX_BATCHES_PER_TICK = 20
KEEP_MINUTES_S = 8 * 86400.0
KEEP_HOURS_S = 400 * 86400.0
KEEP_DAYS_S = 800 * 86400.0


def install(ctx: ServiceContext) -> None:
    from prometheus_client import Gauge

    try:
        config = analytics_config.load(ctx.settings.config_dir)
    except ConfigError as exc:
        log.error("API rollups not folded: invalid %s:\n%s", analytics_config.FILE_NAME, exc)
        ctx.status["analytics"] = f"API rollups stopped: invalid {analytics_config.FILE_NAME}: {exc}"
        return
    behind = Gauge("vitals_api_rollup_behind_rows", "Spans not yet in the API rollups", registry=ctx.registry)
    keeper = Keeper(ctx.engine, LEASE)
    consumers = tuple(config.consumer_attributes)
    interval_s = float(config.rollup_interval)

    def tick() -> Report | None:
        if ctx.stop_event.is_set():
            return None
        other = keeper.standby()
        if other is not None:
            ctx.status["analytics"] = f"standby: {other} folds the API rollups"
            return None
        try:
            report = refresh(
                ctx.engine,
                max_batches=MAX_BATCHES_PER_TICK,
                owner=keeper.owner,
                lease_s=keeper.timing.lease_s,
                consumer_attributes=consumers,
            )
            if report.claimed and not report.behind:
                expire(
                    ctx.engine,
                    now_ns=time.time_ns(),
                    minutes_s=KEEP_MINUTES_S,
                    hours_s=KEEP_HOURS_S,
                    days_s=KEEP_DAYS_S,
                )
        except Exception as exc:  # a transient database error: try again next tick
            log.warning("API rollups: %s", exc)
            ctx.status["analytics"] = f"API rollups failing: {exc}"
            return None
        behind.set(report.behind)
        ctx.status["analytics"] = (
            "API rollups current" if not report.behind else f"API rollups {report.behind:,} spans behind"
        )
        return report

    ctx.scheduler.add_job(
        tick, "interval", seconds=interval_s, id=JOB_ID, max_instances=1, coalesce=True, replace_existing=True
    )
    ctx.add_heartbeat(HEARTBEAT_JOB_ID, keeper.timing.heartbeat_s, keeper.beat, JOB_ID)
    ctx.on_stop.append(keeper.release)
    ctx.status["analytics"] = f"API rollups every {interval_s:g}s, consumers from {', '.join(consumers)}"

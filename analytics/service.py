"""The API rollups inside ``vitals serve``: a scheduler job that folds new spans in.

Installed by ``vitals serve`` (component ``analytics``). Among several ``vitals serve`` processes on
one store, the holder of the ``analytics.rollups`` lease folds; a heartbeat
(``vitals.kernel.lease.Keeper``) keeps it and renews the fold's own lease
(``analytics.rollup.apis``) taken under the same owner, so when the holder dies another process
folds within the takeover bound (30 s by default, ``VITALS_LEASE_BOUND``).

The consumer attribute is read from ``VITALS_API_CONSUMER_ATTRIBUTES`` (comma-separated, first
present wins; default ``client.id``); changing it rebuilds the rollups from the spans kept.
Minute rows are kept 8 days, hour rows 400 days, day rows 800 days.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from analytics.identity import DEFAULT_CONSUMER_ATTRIBUTES
from analytics.rollup import Report, expire, refresh
from vitals.kernel.lease import Keeper

if TYPE_CHECKING:
    from vitals.kernel.runtime import ServiceContext

__all__ = ["CONSUMER_ENV", "HEARTBEAT_JOB_ID", "JOB_ID", "LEASE", "consumer_attributes", "install"]

log = logging.getLogger(__name__)
JOB_ID = "analytics.rollups"
HEARTBEAT_JOB_ID = "analytics.lease"
LEASE = "analytics.rollups"
CONSUMER_ENV = "VITALS_API_CONSUMER_ATTRIBUTES"
INTERVAL_S = 30.0
MAX_BATCHES_PER_TICK = 20
KEEP_MINUTES_S = 8 * 86400.0
KEEP_HOURS_S = 400 * 86400.0
KEEP_DAYS_S = 800 * 86400.0


def consumer_attributes(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    text = (environ if environ is not None else dict(os.environ)).get(CONSUMER_ENV, "")
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    return chosen or DEFAULT_CONSUMER_ATTRIBUTES


def install(ctx: ServiceContext) -> None:
    from prometheus_client import Gauge

    behind = Gauge("vitals_api_rollup_behind_rows", "Spans not yet in the API rollups", registry=ctx.registry)
    keeper = Keeper(ctx.engine, LEASE)
    consumers = consumer_attributes()

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
        tick, "interval", seconds=INTERVAL_S, id=JOB_ID, max_instances=1, coalesce=True, replace_existing=True
    )
    ctx.add_heartbeat(HEARTBEAT_JOB_ID, keeper.timing.heartbeat_s, keeper.beat, JOB_ID)
    ctx.on_stop.append(keeper.release)
    ctx.status["analytics"] = f"API rollups every {INTERVAL_S:g}s"

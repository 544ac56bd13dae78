"""The SLA engine inside ``vitals serve``: a scheduler job that ticks, and hot reload of SLA files.

Several ``vitals serve`` processes may share a store; one of them evaluates at a time. Each tick
first takes (or renews) the ``slas.engine`` lease (``vitals.kernel.lease``); the others stand by.
A heartbeat job (``vitals.kernel.lease.Keeper``, every sixth of the takeover bound, 5 s by
default) renews the lease apart from the ticks, so a tick longer than the lease keeps it, and in
a process standing by tries to take it: when the holder dies, another process takes over within
the bound (30 s by default, ``VITALS_LEASE_BOUND``) and ticks at once. (The engine's commits are
also conditional on the state they started from, so even a tick that overlaps a hand-over never
counts a row twice.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from slas.engine import SlaEngine, TickResult
from slas.loading import SlaConfig, load_sla_config, sla_files
from slas.source import SqlTelemetrySource
from slas.store import SqlStateStore
from vitals.kernel.configfile import ConfigError
from vitals.kernel.follow import default_horizon_s
from vitals.kernel.lease import Keeper, Lease

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from vitals.kernel.runtime import ServiceContext

__all__ = ["SlaService", "engine_from", "install", "load_config_dir"]

log = logging.getLogger(__name__)
JOB_ID = "slas.evaluate"
HEARTBEAT_JOB_ID = "slas.lease"
LEASE = "slas.engine"


def load_config_dir(config_dir: Path) -> SlaConfig:
    folder = config_dir / "slas"
    return load_sla_config(sla_files(folder)) if folder.is_dir() else SlaConfig(slas=[])


def engine_from(db: Engine, config: SlaConfig, clock: Callable[[], int] | None = None) -> SlaEngine:
    """An engine on the Vitals store, following the telemetry tables with the store's horizon
    (``vitals.kernel.follow``) unless the SLA files set ``evaluation.watermark_horizon``."""
    horizon = config.evaluation.watermark_horizon
    if horizon is None:
        horizon = default_horizon_s(db)
    return SlaEngine(
        config.slas,
        SqlStateStore(db),
        SqlTelemetrySource(db),
        clock=clock,
        settings=config.evaluation,
        watermark_horizon_s=horizon,
    )


class SlaService:
    """One evaluation tick per call; reloads the SLA files when they change on disk."""

    def __init__(self, ctx: ServiceContext, clock: Callable[[], int] | None = None) -> None:
        self.ctx = ctx
        self.config_dir = Path(ctx.settings.config_dir)
        self._stamp = self._files_stamp()
        self.config = load_config_dir(self.config_dir)  # invalid files stop `vitals serve` here
        self.engine = engine_from(ctx.engine, self.config, clock)
        self.keeper = Keeper(ctx.engine, LEASE, clock=self.engine.clock)
        self.owner = self.keeper.owner
        self.last: TickResult | None = None
        from prometheus_client import Counter, Gauge, Histogram

        self._tick_seconds = Histogram(
            "vitals_sla_tick_seconds", "Duration of one SLA evaluation tick.", registry=ctx.registry
        )
        self._rows = Counter(
            "vitals_sla_rows_read",
            "Telemetry rows read by the SLA engine.",
            ["source"],
            registry=ctx.registry,
        )
        self._status = Gauge(
            "vitals_sla_evaluations",
            "SLA evaluations by status in the last tick.",
            ["status"],
            registry=ctx.registry,
        )
        self.ctx.status["slas"] = f"{len(self.config.slas)} SLAs, first tick pending"

    @property
    def interval(self) -> float:
        return self.config.evaluation.interval

    def _files_stamp(self) -> tuple[tuple[str, int], ...]:
        folder = self.config_dir / "slas"
        if not folder.is_dir():
            return ()
        return tuple(sorted((str(p), p.stat().st_mtime_ns) for p in sla_files(folder)))

    def reload_if_changed(self) -> None:
        stamp = self._files_stamp()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            config = load_config_dir(self.config_dir)
        except ConfigError as exc:
            log.error("SLA files changed but are invalid; keeping the previous SLAs:\n%s", exc)
            return
        if config.evaluation.interval != self.config.evaluation.interval:
            log.warning("evaluation.interval changes take effect on the next restart")
        self.config = config
        self.engine.settings = config.evaluation
        self.engine.set_slas(config.slas)
        log.info("SLA files reloaded: %d SLAs", len(config.slas))

    @property
    def lease(self) -> Lease | None:
        return self.keeper.lease

    def heartbeat(self) -> bool:
        """Renew the lease, or take it when its holder stopped renewing; True when just taken."""
        taken = self.keeper.beat()
        self._standby_status()
        return taken

    def _standby_status(self) -> None:
        if self.keeper.lease is None:
            current = self.keeper.other
            self.ctx.status["slas"] = (
                f"standby: {current.owner if current else 'another process'} evaluates the SLAs"
            )

    def _take_lease(self) -> bool:
        """Take or renew the engine's lease (for half the takeover bound, see ``Keeper``)."""
        self.keeper.renew()
        self._standby_status()
        return self.keeper.lease is not None

    def release_lease(self) -> None:
        """Hand the lease on at once (on a graceful stop)."""
        self.keeper.release()

    def run_once(self) -> TickResult | None:
        """The scheduler job. Never raises: a failing tick is logged and retried next interval.
        None also when another process holds the engine's lease."""
        started = time.perf_counter()
        try:
            if not self._take_lease():
                return None
            self.reload_if_changed()
            result = self.engine.tick()
        except Exception as exc:
            log.exception("SLA evaluation tick failed")
            self.ctx.status["slas"] = f"error: {exc.__class__.__name__}: {exc}"
            return None
        elapsed = time.perf_counter() - started
        self._tick_seconds.observe(elapsed)
        self._rows.labels("spans").inc(result.spans_read)
        self._rows.labels("metric_points").inc(result.points_read)
        counts: dict[str, int] = {"ok": 0, "warning": 0, "breach": 0, "no-data": 0}
        for ev in result.evaluations:
            counts[ev.status] += 1
        for status, number in counts.items():
            self._status.labels(status).set(number)
        parts = [f"{len(self.config.slas)} SLAs"]
        if result.backfilling:
            parts.append(f"back-filling {', '.join(sorted(result.backfilling))}")
        if not result.caught_up:
            parts.append("catching up on telemetry")
        parts.append(f"{counts['breach']} breach, {counts['warning']} warning; tick {elapsed * 1000:.0f} ms")
        self.ctx.status["slas"] = "; ".join(parts)
        self.last = result
        return result


def install(ctx: ServiceContext) -> None:
    """Add the evaluation job (every ``evaluation.interval``, 30 s by default) to ``vitals serve``."""
    service = SlaService(ctx)
    ctx.on_stop.append(service.release_lease)
    ctx.scheduler.add_job(
        service.run_once,
        "interval",
        seconds=service.interval,
        id=JOB_ID,
        name="SLA evaluation tick",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
        next_run_time=datetime.now(UTC),
    )

    # The holder died or stopped: tick now, not at the next interval.
    ctx.add_heartbeat(HEARTBEAT_JOB_ID, service.keeper.timing.heartbeat_s, service.heartbeat, JOB_ID)
    log.info("SLA engine installed: %d SLAs, evaluated every %gs", len(service.config.slas), service.interval)

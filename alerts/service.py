"""``install(ctx)``: alerting inside ``vitals serve`` (scheduler jobs, HTTP routes, metrics).

Two jobs: the *cycle* (every ``delivery.dispatch_interval``, 5 s) applies new SLA evaluations,
time, silences and inhibitions to the alerts and plans notifications into the outbox; the
*delivery* job starts once and runs the dispatcher until the service's stop event (it waits on
that event between looks at the outbox, so shutdown is prompt). ``AlertsService`` is also what
``vitals alerts run`` drives on its own.

Several ``vitals serve`` processes may share one PostgreSQL: the cycle runs in one of them at a
time, the holder of the ``alerts.evaluation`` lease (kept on a heartbeat by
``vitals.kernel.lease.Keeper``, so a standby takes over within the takeover bound, 30 s by
default, and cycles at once); the delivery job runs in all of them, claiming outbox rows one by
one.

The cycle also runs the SLA engine's watchdog (``alerts.watchdog``): when the newest SLA
evaluation is older than a few engine intervals, the fallback receiver is told that evaluations
have stopped, and told again when they resume.

A retention job (``alerts.retention``, under the lease of that name) deletes resolved alerts, closed
incidents, finished notifications, expired silences and applied Slack actions after their
retention (alerts.yaml ``retention:``), never an open one.

A third job asks Slack, at start and every ``GUARANTEE_CHECK_S``, whether each bot token may look
up an earlier attempt (``alerts.senders.guarantees``); a receiver that may get a duplicate after a
crash says so in the status line that ``/readyz`` shows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from alerts import retention
from alerts.dispatcher import Dispatcher
from alerts.engine import AlertEngine
from alerts.model import AlertEvent, Clock
from alerts.outbox import OutboxItem
from alerts.reload import ConfigHolder
from alerts.senders import SenderFactory, guarantees
from alerts.sqlstore import SqlStore
from alerts.watchdog import Watchdog
from vitals.kernel.lease import Keeper
from vitals.kernel.units import NS

if TYPE_CHECKING:
    from pathlib import Path

    from prometheus_client import CollectorRegistry
    from sqlalchemy.engine import Engine

    from vitals.kernel.runtime import ServiceContext

log = logging.getLogger(__name__)

#: The lease of the evaluate/plan cycle (and the watchdog in it) inside ``vitals serve``.
EVALUATION_LEASE = "alerts.evaluation"
CYCLE_JOB_ID = "alerts.cycle"
HEARTBEAT_JOB_ID = "alerts.lease"

#: How often the delivery guarantee of each Slack bot receiver is asked again (scopes can change).
GUARANTEE_CHECK_S = 600.0


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.enabled = registry is not None
        if registry is None:
            return
        from prometheus_client import Counter, Gauge

        self.events = Counter(
            "vitals_alert_events",
            "Alert lifecycle events (fired, resolved, hysteresis_held, flap_held, acknowledged, ...).",
            ["kind"],
            registry=registry,
        )
        self.deliveries = Counter(
            "vitals_alert_deliveries",
            "Outbox delivery outcomes by receiver and integration kind.",
            ["receiver", "kind", "outcome"],
            registry=registry,
        )
        self.outbox = Gauge(
            "vitals_alert_outbox_rows", "Outbox rows by delivery status.", ["status"], registry=registry
        )

    def on_events(self, events: list[AlertEvent]) -> None:
        if self.enabled:
            for event in events:
                self.events.labels(event.kind).inc()

    def on_outcome(self, item: OutboxItem, outcome: str) -> None:
        if self.enabled:
            self.deliveries.labels(item.receiver, item.kind, outcome).inc()

    def on_counts(self, counts: Mapping[str, int]) -> None:
        if self.enabled:
            for status in ("pending", "sending", "sent", "failed_over", "dead", "skipped"):
                self.outbox.labels(status).set(counts.get(status, 0))


class AlertsService:
    """The evaluate/plan cycle and the dispatcher over one store and one config directory."""

    def __init__(
        self,
        engine: Engine,
        config_dir: str | Path,
        *,
        registry: CollectorRegistry | None = None,
        stop: threading.Event | None = None,
        clock: Clock = time.time,
        environ: Mapping[str, str] | None = None,
        watch_evaluations: float | None = None,
    ) -> None:
        """``watch_evaluations``: the SLA engine's interval in seconds, to run the watchdog of its
        evaluations in the cycle (None: no watchdog, e.g. a store without SLAs)."""
        self.store = SqlStore(engine)
        self.stop = stop or threading.Event()
        self.clock = clock
        self.config = ConfigHolder(config_dir, self.store, clock, environ=environ)
        self.metrics = _Metrics(registry)
        self.engine = AlertEngine(self.store, self.config, clock, on_events=self.metrics.on_events)
        self.senders = SenderFactory()
        #: ``receiver/integration`` -> a delivery guarantee weaker than exactly-once, and why.
        self.guarantees: dict[str, str] = {}
        self.dispatcher = Dispatcher(
            self.store,
            self.config,
            self.senders,
            clock=clock,
            sleep=self.stop.wait,
            stop=self.stop,
            on_outcome=self.metrics.on_outcome,
        )
        #: Deletes finished rows after their retention, under the ``alerts.retention`` lease.
        self.retention = retention.RetentionJob(
            engine,
            lambda: self.config.current.retention,
            clock=lambda: round(self.clock() * NS),
            stop=self.stop.is_set,
        )
        self.watchdog: Watchdog | None = None
        if watch_evaluations is not None:
            self.watchdog = Watchdog(
                self.store, self.config, _newest_evaluation(engine), watch_evaluations, clock()
            )

    def cycle(self) -> None:
        """One evaluate and plan step; errors are logged, the next cycle tries again."""
        try:
            self.config()  # picks up an edited alerts.yaml
            report = self.engine.evaluate()
            if report.events:
                log.info("alerts: %d evaluations, events %s", report.evaluations, dict(report.events))
            plan = self.engine.plan()
            if plan.rows:
                log.info("alerts: %d notifications queued", plan.rows)
            self.metrics.on_counts(self.store.outbox_counts())
        except Exception:
            log.exception("alerts cycle failed; retrying at the next one")
        if self.watchdog is not None:
            try:  # on its own: a failing cycle is one more reason to look at the engine
                self.watchdog.check(self.clock())
            except Exception:
                log.exception("the SLA evaluation watchdog failed; retrying at the next cycle")

    def deliver(self, budget: float = 20.0) -> None:
        try:
            self.dispatcher.run_once(budget)
        except Exception:
            log.exception("alert delivery failed; retrying")

    def deliver_forever(self) -> None:
        """The dispatcher loop: runs until the stop event (one scheduler worker for its lifetime)."""
        while not self.stop.is_set():
            self.deliver(budget=5.0)
            self.stop.wait(0.2)

    def check_guarantees(self) -> dict[str, str]:
        """Ask Slack which receivers may get duplicates after a crash (see ``status_line``)."""
        try:
            self.guarantees = guarantees(self.config.current, self.senders)
        except Exception:
            log.exception("could not check the delivery guarantees of the alert receivers")
        for where, text in sorted(self.guarantees.items()):
            log.warning("alert receiver %s: %s", where, text)
        return self.guarantees

    def status_line(self) -> str:
        config = self.config.current
        s = config.summary()
        kinds = sorted({i.kind for r in config.receivers.values() for i in r.integrations})
        line = (
            f"{s['routes']} routes, {s['receivers']} receivers ({', '.join(kinds) or 'none'}), "
            f"{s['inhibit_rules']} inhibit rules, config {config.source}"
        )
        for where, text in sorted(self.guarantees.items()):
            line += f"; receiver {where}: {text}"
        return line


def _newest_evaluation(engine: Engine) -> Callable[[], float | None]:
    from slas import newest_evaluation_ns

    def newest() -> float | None:
        value = newest_evaluation_ns(engine)
        return None if value is None else value / 1e9

    return newest


def engine_interval(config_dir: str | Path) -> float | None:
    """The SLA engine's interval from the SLA files, or None when there are no SLAs to evaluate
    (then evaluations never come and the watchdog stays off)."""
    from pathlib import Path

    from slas.service import load_config_dir

    try:
        config = load_config_dir(Path(config_dir))
    except Exception:
        log.exception("could not read the SLA files: the SLA evaluation watchdog is off")
        return None
    if not config.slas:
        log.info("no SLAs configured: the SLA evaluation watchdog is off")
        return None
    return float(config.evaluation.interval)


def install(ctx: ServiceContext) -> None:
    """Add the alerting jobs and HTTP routes to ``vitals serve``."""
    from alerts.http import AlertsHttp

    service = AlertsService(
        ctx.engine,
        ctx.settings.config_dir,
        registry=ctx.registry,
        stop=ctx.stop_event,
        watch_evaluations=engine_interval(ctx.settings.config_dir),
    )
    interval = service.config.current.delivery.dispatch_interval
    keeper = Keeper(ctx.engine, EVALUATION_LEASE)

    def cycle() -> None:
        if not keeper.holds():
            keeper.beat()  # a cycle before the first heartbeat, or after a lost one
        if keeper.holds():
            service.cycle()

    ctx.scheduler.add_job(
        cycle, "interval", seconds=interval, id=CYCLE_JOB_ID, max_instances=1, coalesce=True
    )
    # The holder died or stopped: cycle now, not at the next interval.
    ctx.add_heartbeat(HEARTBEAT_JOB_ID, keeper.timing.heartbeat_s, keeper.beat, CYCLE_JOB_ID)
    ctx.on_stop.append(keeper.release)
    ctx.scheduler.add_job(service.deliver_forever, id="alerts.deliver", max_instances=1)
    # Finished rows deleted after their age (alerts.yaml ``retention:``), under its own lease.
    retention.install(ctx, service.retention)
    AlertsHttp(service.store, service.config, service.clock).register(ctx.http_app)
    if service.watchdog is not None:
        ctx.readiness.append(service.watchdog.readiness)
    ctx.status["alerts"] = service.status_line()

    def guarantees_job() -> None:
        service.check_guarantees()
        ctx.status["alerts"] = service.status_line()

    ctx.scheduler.add_job(
        guarantees_job,
        "interval",
        seconds=GUARANTEE_CHECK_S,
        id="alerts.guarantees",
        next_run_time=datetime.now(UTC),  # at start, then every GUARANTEE_CHECK_S
        max_instances=1,
        coalesce=True,
    )

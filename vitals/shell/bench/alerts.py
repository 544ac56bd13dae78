"""``vitals bench alerts``: routing speed, one alerting cycle at scale, outbox delivery rate.

1. *routing*: label sets of every SLA slice and tier through the starter routing tree
   (matchers, continue, group keys), in this process;
2. *cycle*: ``--slas`` x ``--slices`` evaluations per tick (three burn-rate tiers each, a fifth of
   them burning) written to a fresh store, then one evaluate + plan, for ``--ticks`` ticks that
   end a minute before ``--now``;
3. *delivery*: every planned notification through the outbox (claim, attempt, complete: the
   durable path) to an in-memory receiver, unpaced, so the figure is the store's overhead.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy.engine import Engine

from alerts import config as alerts_config
from alerts.dispatcher import Dispatcher
from alerts.engine import AlertEngine
from alerts.routing import group_key
from alerts.senders import MemorySender
from alerts.sqlstore import SqlStore
from simulator.options import now_option
from slas.evaluation_rows import evaluation_row
from slas.model import BurnRate, Evaluation, Priority, Severity
from slas.tables import sla_evaluations
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.shell.bench.common import (
    Figure,
    Stopwatch,
    db_option,
    out_option,
    report,
    say,
    scratch_store,
    store_kind,
)

_TIERS: tuple[tuple[str, Severity, float], ...] = (
    ("1h/5m", "page", 14.4),
    ("6h/30m", "page", 6.0),
    ("1d/2h", "ticket", 3.0),
)
_PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")
#: How often `vitals serve` runs the alerting cycle: the budget one cycle must stay well within.
CYCLE_INTERVAL_S = 5.0


def evaluations(slas: int, slices: int, at: float) -> list[dict[str, object]]:
    """``sla_evaluations`` rows of one tick: every SLA and slice, the same fifth of them burning."""
    rows: list[dict[str, object]] = []
    for s in range(slas):
        for c in range(slices):
            burning = (s * slices + c) % 5 == 0
            rates = tuple(
                BurnRate(
                    name=name,
                    long_window_s=3600.0,
                    short_window_s=300.0,
                    threshold=threshold,
                    long_rate=threshold * (1.5 if burning else 0.2),
                    short_rate=threshold,
                    severity=severity,
                    firing=burning,
                )
                for name, severity, threshold in _TIERS
            )
            evaluation = Evaluation(
                sla_id=f"sla-{s:03d}",
                slice=f"hc.facility=site-{c:02d}",
                at_unix_nano=int(at * 1e9),
                status="breach" if burning else "ok",
                priority=_PRIORITIES[s % 4],
                domain="revenue-cycle",
                owner="bench",
                title=f"Benchmark SLA {s}",
                kind="ratio",
                window_s=604800.0,
                window_label="7d",
                objective=0.99,
                good=980.0,
                total=1000.0,
                sli=0.98 if burning else 0.995,
                budget_remaining=-0.5 if burning else 0.5,
                time_to_exhaustion_s=None,
                burn_rates=rates,
                at_risk_amount=None,
                labels={"hc.facility": f"site-{c:02d}"},
            )
            rows.append(evaluation_row(evaluation))
    return rows


def _routing(config: alerts_config.AlertsConfig, slas: int, slices: int, seconds: float) -> tuple[int, float]:
    label_sets = [
        {
            "alertname": f"sla-{s}",
            "sla": f"sla-{s}",
            "slice": f"hc.facility=site-{c}",
            "tier": tier,
            "severity": severity,
            "priority": _PRIORITIES[s % 4],
            "facility": f"site-{c}",
        }
        for s in range(slas)
        for c in range(slices)
        for tier, severity, _ in _TIERS
    ]
    watch = Stopwatch()
    count = 0
    while watch.seconds < seconds:
        for labels in label_sets:
            for route in config.route.match(labels):
                group_key(route, labels)
                count += 1
    return count, watch.seconds


def _cycle(
    engine: Engine, config: alerts_config.AlertsConfig, *, slas: int, slices: int, ticks: int, now: float
) -> list[Figure]:
    quiet = replace(config, route=replace(config.route, opts=replace(config.route.opts, group_wait=0.0)))
    clock = [now - (ticks + 1) * 60.0]  # simulated ticks end before now: their notifications are due
    store = SqlStore(engine)
    alerting = AlertEngine(store, lambda: quiet, lambda: clock[0])
    evaluate_ms, plan_ms = [], []
    for tick in range(ticks):
        with engine.begin() as conn:
            conn.execute(sla_evaluations.insert(), evaluations(slas, slices, clock[0]))
        watch = Stopwatch()
        result = alerting.evaluate()
        evaluate_ms.append(watch.restart() * 1000)
        alerting.plan()
        plan_ms.append(watch.seconds * 1000)
        clock[0] += 60
        say(
            f"  tick {tick + 1}: {result.evaluations} evaluations, {len(store.open_alerts())} open alerts, "
            f"evaluate {evaluate_ms[-1]:.0f} ms, plan {plan_ms[-1]:.0f} ms"
        )
    open_alerts = len(store.open_alerts())
    delivering = replace(quiet, delivery=replace(quiet.delivery, pace=0.0))
    sender = MemorySender()
    started = time.time()
    dispatcher = Dispatcher(
        store, lambda: delivering, lambda integration: sender, clock=lambda: now + (time.time() - started)
    )
    rows = sum(store.outbox_counts().values())
    watch = Stopwatch()
    dispatcher.drain(600, budget=600)
    seconds = watch.seconds
    per_tick = slas * slices
    tiers = per_tick * (len(_TIERS) + 1)
    budget = f"within the {CYCLE_INTERVAL_S:.0f} s cycle interval"
    return [
        Figure(
            f"evaluate, {per_tick:,} evaluations/tick ({tiers:,} alert tiers)",
            statistics.median(evaluate_ms),
            "ms",
            detail=f"median of {ticks}; {open_alerts:,} open alerts",
            reference=budget,
        ),
        Figure(f"plan, {per_tick:,} evaluations/tick", statistics.median(plan_ms), "ms", reference=budget),
        Figure(
            "outbox delivery, unpaced, in-memory receiver",
            len(sender.delivered) / seconds if seconds else 0.0,
            "rows/s",
            detail=f"{len(sender.delivered):,} of {rows:,} rows through claim, attempt and complete",
        ),
    ]


@click.command("alerts")
@click.option("--slas", default=40, show_default=True, help="SLAs evaluated per tick.")
@click.option("--slices", default=10, show_default=True, help="Slices (facilities) per SLA.")
@click.option("--ticks", default=5, show_default=True, help="Evaluation ticks to time.")
@click.option(
    "--routing-seconds", default=2.0, show_default=True, help="How long to route label sets for the figure."
)
@db_option()
@now_option("When the last simulated tick ends (the delivery clock starts there).")
@out_option()
def alerts(
    *, slas: int, slices: int, ticks: int, routing_seconds: float, db: str, now: datetime, out: Path | None
) -> None:
    """Routing matches/s, evaluate+plan time per tick, and outbox deliveries/s."""
    config = alerts_config.load(STARTER_CONFIG_DIR / "alerts.yaml")
    count, seconds = _routing(config, slas, slices, routing_seconds)
    routing = Figure("routing through the starter tree", count / seconds, "matches + group keys/s")
    say(f"routing: {routing.text()}")
    with scratch_store(db, "alerts") as engine:
        say(f"store: {store_kind(engine.url)}")
        cycle = _cycle(engine, config, slas=slas, slices=slices, ticks=ticks, now=now.timestamp())
    report([routing, *cycle], out)


__all__ = ["alerts", "evaluations"]

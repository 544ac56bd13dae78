"""``vitals bench alerts``: routing speed, one alerting cycle at scale, outbox delivery rate.

1. *routing*: label sets of every SLA slice and tier through the starter routing tree
   (matchers, continue, group keys), in this process;
2. *cycle*: ``--slas`` x ``--slices`` evaluations per tick (three burn-rate tiers each, a fifth of
   them burning) written to a fresh store, then one evaluate + plan, for ``--ticks`` ticks;
3. *delivery*: every planned notification through the outbox (claim, attempt, complete: the
   durable path) to an in-memory receiver, unpaced, so the figure is the store's overhead.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import click
from sqlalchemy.engine import Engine

from alerts import config as alerts_config
from alerts.dispatcher import Dispatcher
from alerts.engine import AlertEngine
from alerts.routing import group_key
from alerts.senders import MemorySender
from alerts.sqlstore import SqlStore
from slas.evaluation_rows import evaluation_row
from slas.model import BurnRate, Evaluation, Priority, Severity
from slas.tables import sla_evaluations
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.settings import STARTER_CONFIG_DIR

_TIERS: tuple[tuple[str, Severity, float], ...] = (
    ("1h/5m", "page", 14.4),
    ("6h/30m", "page", 6.0),
    ("1d/2h", "ticket", 3.0),
)
_PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")


def _evaluations(slas: int, slices: int, at: float, tick: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for s in range(slas):
        for c in range(slices):
            burning = (s * slices + c) % 5 == 0  # the same fifth burns every tick
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


def _routing(config: alerts_config.AlertsConfig, slas: int, slices: int) -> tuple[int, float]:
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
    start = time.perf_counter()
    count = 0
    while time.perf_counter() - start < 2.0:
        for labels in label_sets:
            for route in config.route.match(labels):
                group_key(route, labels)
                count += 1
    return count, time.perf_counter() - start


@click.command("alerts")
@click.option("--slas", default=40, show_default=True, help="SLAs evaluated per tick.")
@click.option("--slices", default=10, show_default=True, help="Slices (facilities) per SLA.")
@click.option("--ticks", default=5, show_default=True, help="Evaluation ticks to time.")
@click.option("--db", default=None, help="Store URL (default: a fresh SQLite file in a temporary directory).")
def alerts(slas: int, slices: int, ticks: int, db: str | None) -> None:
    """Routing matches/s, evaluate+plan time per tick, and outbox deliveries/s."""
    config = alerts_config.load(STARTER_CONFIG_DIR / "alerts.yaml")
    count, seconds = _routing(config, slas, slices)
    click.echo(f"routing: {count / seconds:,.0f} route matches + group keys per second (starter tree)")
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(db or f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        _cycle(engine, config, slas, slices, ticks)
        engine.dispose()


def _cycle(engine: Engine, config: alerts_config.AlertsConfig, slas: int, slices: int, ticks: int) -> None:
    quiet = replace(config, route=replace(config.route, opts=replace(config.route.opts, group_wait=0.0)))
    clock = [time.time() - (ticks + 1) * 60.0]  # simulated ticks end before now: rows are due
    store = SqlStore(engine)
    alerting = AlertEngine(store, lambda: quiet, lambda: clock[0])
    evaluate_ms, plan_ms = [], []
    for tick in range(ticks):
        with engine.begin() as conn:
            conn.execute(sla_evaluations.insert(), _evaluations(slas, slices, clock[0], tick))
        start = time.perf_counter()
        report = alerting.evaluate()
        evaluate_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        alerting.plan()
        plan_ms.append((time.perf_counter() - start) * 1000)
        clock[0] += 60
        click.echo(
            f"  tick {tick + 1}: {report.evaluations} evaluations, {len(store.open_alerts())} open alerts, "
            f"evaluate {evaluate_ms[-1]:.0f} ms, plan {plan_ms[-1]:.0f} ms"
        )
    click.echo(
        f"cycle ({slas * slices} evaluations/tick, {slas * slices * (len(_TIERS) + 1)} alert tiers): "
        f"evaluate median {statistics.median(evaluate_ms):.0f} ms, "
        f"plan median {statistics.median(plan_ms):.0f} ms"
    )
    settings = replace(quiet.delivery, pace=0.0)
    delivering = replace(quiet, delivery=settings)
    sender = MemorySender()
    dispatcher = Dispatcher(store, lambda: delivering, lambda integration: sender)
    rows = sum(store.outbox_counts().values())
    start = time.perf_counter()
    dispatcher.drain(600, budget=600)
    seconds = time.perf_counter() - start
    click.echo(
        f"delivery: {len(sender.delivered)} of {rows} outbox rows in {seconds:.1f} s = "
        f"{len(sender.delivered) / seconds:,.0f} rows/s through claim, attempt and complete"
    )


__all__ = ["alerts"]

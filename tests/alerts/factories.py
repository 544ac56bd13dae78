"""SLA evaluations for alert tests (the SLA engine writes these in production)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from sqlalchemy.engine import Engine

from slas.evaluation_rows import evaluation_row
from slas.model import BurnRate, Evaluation, Priority, Severity, Status
from slas.tables import sla_evaluations
from vitals.kernel.units import NS

T0 = 1_780_000_000.0  # a fixed instant (2026-05-28) so tests never depend on the wall clock


def burn(
    name: str = "1h/5m", firing: bool = True, severity: Severity = "page", rate: float | None = 20.0
) -> BurnRate:
    long_s, short_s = {"1h/5m": (3600.0, 300.0), "6h/30m": (21600.0, 1800.0), "1d/2h": (86400.0, 7200.0)}.get(
        name, (3600.0, 300.0)
    )
    return BurnRate(
        name=name,
        long_window_s=long_s,
        short_window_s=short_s,
        threshold=14.4 if severity == "page" else 3.0,
        long_rate=rate,
        short_rate=rate,
        severity=severity,
        firing=firing,
    )


def evaluation(
    *,
    sla_id: str = "gl-posting-errors",
    at: float = T0,
    firing: bool = True,
    status: Status | None = None,
    slice: str | None = None,
    labels: Mapping[str, str] | None = None,
    priority: Priority = "P1",
    domain: str = "finance",
    owner: str = "finance-systems",
    title: str = "GL postings succeed",
    burn_rates: Iterable[BurnRate] | None = None,
    sli: float | None = -1.0,
) -> Evaluation:
    """``sli`` defaults to below the objective when firing, above it when not."""
    if sli == -1.0:
        sli = 0.978 if firing else 0.999
    rates = tuple(burn_rates) if burn_rates is not None else (burn("1h/5m", firing=firing),)
    return Evaluation(
        sla_id=sla_id,
        slice=slice,
        at_unix_nano=int(at * NS),
        title=title,
        domain=domain,
        owner=owner,
        priority=priority,
        kind="ratio",
        window_s=7 * 86400.0,
        window_label="7d",
        objective=0.995,
        good=1234.0,
        total=1262.0,
        sli=sli,
        budget_remaining=-0.12 if firing else 0.4,
        time_to_exhaustion_s=11400.0 if firing else None,
        burn_rates=rates,
        status=status or ("breach" if firing else "ok"),
        at_risk_amount=None,
        labels=dict(labels or {}),
    )


def at(ev: Evaluation, seconds: float) -> Evaluation:
    return replace(ev, at_unix_nano=int(seconds * NS))


def insert_evaluations(engine: Engine, evaluations: Iterable[Evaluation]) -> None:
    rows = [evaluation_row(ev) for ev in evaluations]
    if rows:
        with engine.begin() as conn:
            conn.execute(sla_evaluations.insert(), rows)

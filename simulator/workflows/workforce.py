"""Workforce-to-finance: timecards, payroll and labor cost posted to cost centers.

Timecards arrive around the shift changes; every night at 02:00 HR posts the day's labor cost per
cost center to the GL (through ``gl-postings``); payroll runs every other Thursday at 20:00.
Scheduled work does not follow a Poisson process, so it comes with its own origin functions.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from simulator.calendar import ZONE, local
from simulator.estate import ERP_HR, WORKFORCE_TO_FINANCE, Facility
from simulator.workflows.base import Journey, hc
from simulator.workflows.finance import post_to_gl
from vitals.kernel.units import NS

LABOR_POSTING_AT = time(2, 0)
PAYROLL_AT = time(20, 0)
PAYROLL_ANCHOR = date(2024, 1, 4)  # a payroll Thursday; every 14 days from it
LABOR_SPACING_NS = 15 * NS


def cost_center(j: Journey, number: int) -> str:
    return f"{j.facility.code}-CC{number:03d}"


def timecard(j: Journey) -> None:
    center = cost_center(j, j.rng.randrange(j.facility.cost_centers))
    hours = round(j.rng.choice((8.0, 8.0, 10.0, 12.0, 12.0)) + (j.rng.random() - 0.5) * 0.5, 2)
    attrs = hc(WORKFORCE_TO_FINANCE, "timecard.submitted", "hr", j.facility, hc_key_timecard=j.key("T"))
    attrs["hc.cost_center"] = center
    attrs["hr.hours"] = hours
    t0 = j.origin_ns
    j.span(
        j.trace(),
        j.sid(),
        0,
        "hr.timecard.submit",
        ERP_HR,
        "internal",
        t0,
        t0 + j.lognormal_ns(0.05, 0.5),
        attrs,
    )


def _daily_at(clock: time, facility: Facility, start_ns: int, end_ns: int, every: int) -> list[int]:
    """``every`` origins spaced 15 s apart from ``clock`` local time, on each day inside [start, end)."""
    out: list[int] = []
    first = local(start_ns / NS).date() - timedelta(days=1)
    last = local(end_ns / NS).date()
    day = first
    while day <= last:
        base = int(datetime.combine(day, clock, ZONE).timestamp() * NS)
        out.extend(t for i in range(every) if start_ns <= (t := base + i * LABOR_SPACING_NS) < end_ns)
        day += timedelta(days=1)
    return out


def labor_origins(facility: Facility, start_ns: int, end_ns: int) -> list[int]:
    return _daily_at(LABOR_POSTING_AT, facility, start_ns, end_ns, facility.cost_centers)


def payroll_origins(facility: Facility, start_ns: int, end_ns: int) -> list[int]:
    return [
        t
        for t in _daily_at(PAYROLL_AT, facility, start_ns, end_ns, 1)
        if (local(t / NS).date() - PAYROLL_ANCHOR).days % 14 == 0
    ]


def labor_posting(j: Journey) -> None:
    """One cost center's labor cost for the day, posted to the GL."""
    center = cost_center(j, j.index)
    amount = j.money(21000.0 * (0.4 if j.facility.is_asc else 1.0), 0.5)
    attrs = hc(WORKFORCE_TO_FINANCE, "labor.posted", "hr", j.facility, amount=amount)
    attrs["hc.cost_center"] = center
    post_to_gl(
        j,
        producer_name="hr.labor.post",
        producer_service=ERP_HR,
        producer_attrs=attrs,
        published_ns=j.origin_ns,
        workflow=WORKFORCE_TO_FINANCE,
        amount=amount,
        keys={"hc.cost_center": center},
    )


def payroll_run(j: Journey) -> None:
    """The biweekly payroll for one facility: a long batch job."""
    amount = j.money(9_500_000.0 * (0.08 if j.facility.is_asc else 1.0) * j.facility.scale, 0.05)
    duration = j.lognormal_ns(30 * 60, 0.2)
    attrs = hc(WORKFORCE_TO_FINANCE, "payroll.run", "hr", j.facility, amount=amount)
    attrs["hr.pay_period_end"] = local(j.origin_ns / NS).date().isoformat()
    j.span(
        j.trace(),
        j.sid(),
        0,
        "hr.payroll.run",
        ERP_HR,
        "internal",
        j.origin_ns,
        j.origin_ns + duration,
        attrs,
    )


__all__ = ["labor_origins", "labor_posting", "payroll_origins", "payroll_run", "timecard"]

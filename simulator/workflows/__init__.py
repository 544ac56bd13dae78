"""The business processes of the estate, as streams of journeys (one per business object)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simulator.estate import Facility
from simulator.workflows import apis, charges, claims, encounters, finance, supply, workforce
from simulator.workflows.base import Context, Journey

DAY_S = 86400.0


@dataclass(frozen=True)
class Stream:
    """A source of business objects: how each one's story goes and how long it can last.

    ``horizon_s`` bounds how long after its origin a journey can still emit spans, so a window's
    generation starts that far back (warm-up) and objects begun before the window finish inside it.
    ``origins`` replaces the Poisson arrivals for scheduled work (nightly postings, payroll).
    """

    name: str
    build: Callable[[Journey], None]
    horizon_s: float
    origins: Callable[[Facility, int, int], list[int]] | None = None


STREAMS: tuple[Stream, ...] = (
    Stream("encounter.outpatient", encounters.outpatient, 1 * DAY_S),
    Stream("encounter.emergency", encounters.emergency, 7 * DAY_S),
    Stream("encounter.inpatient", encounters.inpatient, 12 * DAY_S),
    Stream("census.update", encounters.census_update, 0.1 * DAY_S),
    Stream("charge", charges.charge, 6 * DAY_S),
    Stream("supply", supply.supply, 1 * DAY_S),
    Stream("claim", claims.claim, claims.HORIZON_S),
    Stream("patient-payment", claims.patient_payment, 1 * DAY_S),
    Stream("requisition", supply.requisition, supply.HORIZON_S),
    Stream("timecard", workforce.timecard, 0.1 * DAY_S),
    Stream("labor", workforce.labor_posting, 1 * DAY_S, workforce.labor_origins),
    Stream("payroll", workforce.payroll_run, 1 * DAY_S, workforce.payroll_origins),
    Stream("journal", finance.journal, 1 * DAY_S),
    Stream("api.request", apis.api_request, 0.01 * DAY_S),
)
STREAM_BY_NAME = {stream.name: stream for stream in STREAMS}

__all__ = ["STREAMS", "STREAM_BY_NAME", "Context", "Journey", "Stream"]

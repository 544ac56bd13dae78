"""When things happen: daily curves, weekends, the ASC's opening hours, month-end close and the
claims cycle.

Rates are expressed as a factor on a stream's weekday volume: a factor averaging 1.0 over a weekday
means "the stated daily volume". Curves are in the health system's local time zone so the morning
peak is a morning peak whatever the machine's clock says.
"""

from __future__ import annotations

import calendar as _cal
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from simulator.estate import TIMEZONE

ZONE: Final = ZoneInfo(TIMEZONE)

#: Relative hourly weights (local hour 0..23); each is normalised to a mean of 1.
_HOURLY: Final[dict[str, tuple[float, ...]]] = {
    # outpatient registrations: clinics and imaging open at 7, close by 18
    "registration": (
        *(0.10, 0.08, 0.06, 0.06, 0.10, 0.30, 1.00, 2.00, 2.60, 2.60, 2.40, 2.20),
        *(1.90, 2.00, 2.00, 1.80, 1.40, 0.90, 0.50, 0.35, 0.25, 0.20, 0.15, 0.12),
    ),
    # emergency arrivals: never zero, busiest from late morning to evening
    "emergency": (
        *(0.55, 0.45, 0.40, 0.35, 0.35, 0.40, 0.60, 0.80, 1.05, 1.25, 1.40, 1.45),
        *(1.45, 1.45, 1.40, 1.35, 1.35, 1.35, 1.30, 1.25, 1.15, 1.00, 0.85, 0.70),
    ),
    # inpatient admissions and the ADT updates of the census: around the clock, rounds in the morning
    "inpatient": (
        *(0.60, 0.55, 0.55, 0.55, 0.60, 0.70, 0.95, 1.25, 1.45, 1.45, 1.40, 1.35),
        *(1.30, 1.30, 1.25, 1.20, 1.15, 1.10, 1.05, 1.00, 0.95, 0.85, 0.75, 0.65),
    ),
    # procedures documented, supplies consumed: the OR and cath lab day, charting into the evening
    "procedures": (
        *(0.20, 0.15, 0.12, 0.12, 0.15, 0.30, 0.80, 1.60, 2.00, 2.10, 2.10, 2.00),
        *(1.80, 1.90, 1.90, 1.70, 1.50, 1.20, 0.90, 0.70, 0.55, 0.45, 0.35, 0.25),
    ),
    # back-office work: billing, purchasing, accounts payable
    "business": (
        *(0.05, 0.05, 0.05, 0.05, 0.05, 0.20, 1.00, 2.20, 2.60, 2.60, 2.50, 2.00),
        *(1.90, 2.40, 2.40, 2.20, 1.80, 0.90, 0.30, 0.15, 0.10, 0.08, 0.06, 0.05),
    ),
    # the surgery center's day: first patients arrive at 6, the last cases start mid-afternoon
    "asc-day": (
        *(0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.60, 1.60, 1.50, 1.40, 1.30, 1.20),
        *(1.10, 1.00, 0.90, 0.70, 0.50, 0.30, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00),
    ),
    # timecards: shift ends at 07:00, 15:00, 19:00 and 23:00
    "shifts": (
        *(0.40, 0.30, 0.20, 0.20, 0.20, 0.40, 1.60, 3.20, 1.60, 0.80, 0.60, 0.60),
        *(0.60, 0.70, 1.20, 2.40, 1.60, 0.80, 1.20, 2.60, 1.40, 0.60, 0.80, 1.80),
    ),
}

#: Weekend factor per curve (Saturday and Sunday).
_WEEKEND: Final[dict[str, float]] = {
    "registration": 0.25,
    "emergency": 1.05,
    "inpatient": 0.85,
    "procedures": 0.40,
    "business": 0.10,
    "shifts": 0.85,
    "asc-day": 0.0,
}

#: Stream -> daily curve.
STREAM_CURVES: Final[dict[str, str]] = {
    "encounter.outpatient": "registration",
    "encounter.emergency": "emergency",
    "encounter.inpatient": "inpatient",
    "census.update": "inpatient",
    "charge": "procedures",
    "supply": "procedures",
    "claim": "business",
    "requisition": "business",
    "timecard": "shifts",
    "journal": "business",
    "patient-payment": "emergency",
    "api.request": "registration",
}

#: At the ambulatory surgery center some streams follow its own day instead.
ASC_CURVES: Final[dict[str, str]] = {"encounter.outpatient": "asc-day", "census.update": "asc-day"}
#: Curves that the ambulatory surgery center runs only while it is open.
ASC_MASKED: Final = frozenset({"registration", "procedures", "asc-day"})
ASC_OPEN_HOURS: Final = (6, 18)


def _normalised(weights: tuple[float, ...]) -> tuple[float, ...]:
    mean = sum(weights) / len(weights)
    return tuple(w / mean for w in weights)


_CURVES: Final[dict[str, tuple[float, ...]]] = {name: _normalised(w) for name, w in _HOURLY.items()}


_ASC_SCALE: Final[dict[str, float]] = {
    name: 24 / sum(weights[ASC_OPEN_HOURS[0] : ASC_OPEN_HOURS[1]]) for name, weights in _CURVES.items()
}


def local(time_s: float) -> datetime:
    return datetime.fromtimestamp(time_s, ZONE)


def hourly_factor(curve: str, moment: datetime) -> float:
    """The curve at a local time, linearly interpolated between hour midpoints (no steps)."""
    weights = _CURVES[curve]
    position = moment.hour + moment.minute / 60 + moment.second / 3600 - 0.5
    low = int(position // 1) % 24
    frac = position - (position // 1)
    return weights[low] * (1 - frac) + weights[(low + 1) % 24] * frac


def is_weekend(day: date) -> bool:
    return day.weekday() >= 5


def is_business_day(day: date) -> bool:
    return not is_weekend(day)


@lru_cache(maxsize=256)
def close_phase(day: date) -> str | None:
    """``last`` on a month's last business day, ``first`` on the next month's first two; else None."""
    last_day = date(day.year, day.month, _cal.monthrange(day.year, day.month)[1])
    last_business = last_day
    while not is_business_day(last_business):
        last_business -= timedelta(days=1)
    if day == last_business:
        return "last"
    first = date(day.year, day.month, 1)
    business_days: list[date] = []
    cursor = first
    while len(business_days) < 2:
        if is_business_day(cursor):
            business_days.append(cursor)
        cursor += timedelta(days=1)
    return "first" if day in business_days else None


#: Month-end close multiplies these streams (journals, accruals, invoice matching).
CLOSE_FACTORS: Final[dict[str, dict[str, float]]] = {
    "journal": {"last": 8.0, "first": 5.0},
    "requisition": {"last": 1.5, "first": 1.3},
    "claim": {"last": 1.3, "first": 1.0},
}


#: Claims-cycle days: the clearinghouse batch goes out on the first business day on or after each
#: of these days of the month (``capacity.yaml``'s ``claims_days`` says the same for the forecast).
CLAIMS_DAYS: Final = (10, 25)
#: On a claims day these streams are multiplied: claims scrubbed and submitted, the charges that
#: billing chases to get them in. Mondays also carry the weekend's held claims.
CLAIMS_FACTORS: Final[dict[str, float]] = {"claim": 2.2, "charge": 1.15}
MONDAY_CLAIMS_FACTOR: Final = 1.3


@lru_cache(maxsize=256)
def is_claims_day(day: date) -> bool:
    """Whether ``day`` is a claims submission day of the claims cycle (see :data:`CLAIMS_DAYS`)."""
    if not is_business_day(day):
        return False
    for dom in CLAIMS_DAYS:
        cursor = date(day.year, day.month, dom)
        while not is_business_day(cursor):
            cursor += timedelta(days=1)
        if cursor == day:
            return True
    return False


def rate_factor(stream: str, time_s: float, asc: bool = False) -> float:
    """How busy ``stream`` is at ``time_s`` relative to its weekday average (1.0)."""
    moment = local(time_s)
    curve = ASC_CURVES.get(stream, STREAM_CURVES[stream]) if asc else STREAM_CURVES[stream]
    factor = hourly_factor(curve, moment)
    day = moment.date()
    if is_weekend(day):
        factor *= _WEEKEND[curve]
    if asc and curve in ASC_MASKED:
        opens, closes = ASC_OPEN_HOURS
        if is_weekend(day) or not opens <= moment.hour < closes:
            return 0.0
        factor *= _ASC_SCALE[curve]  # the same daily volume squeezed into its opening hours
    phase = close_phase(day)
    if phase and stream in CLOSE_FACTORS:
        factor *= CLOSE_FACTORS[stream][phase]
    if stream in CLAIMS_FACTORS and is_claims_day(day):
        factor *= CLAIMS_FACTORS[stream]
    if stream == "claim" and day.weekday() == 0:
        factor *= MONDAY_CLAIMS_FACTOR
    return factor


__all__ = [
    "ASC_OPEN_HOURS",
    "CLAIMS_DAYS",
    "CLAIMS_FACTORS",
    "STREAM_CURVES",
    "ZONE",
    "close_phase",
    "hourly_factor",
    "is_business_day",
    "is_claims_day",
    "is_weekend",
    "local",
    "rate_factor",
]

"""The business calendar the forecast regresses on: weekdays, month-end close and claims days.

Month-end close and the claims cycle are calendar events, not fixed-period cycles (months are 28 to
31 days long and both move off weekends), so they are described by date rules here rather than
left to a seasonal period to discover. The rules match the demo estate's (``simulator.calendar``)
but are the site's: claims days come from ``capacity.yaml``.
"""

from __future__ import annotations

import calendar as _cal
from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import NamedTuple


class DayKind(NamedTuple):
    """What kind of business day a date is."""

    weekday: int  # Monday 0 .. Sunday 6
    close_last: bool  # the month's last business day
    close_first: bool  # one of the month's first two business days
    claims: bool  # a claims submission day

    @property
    def weekend(self) -> bool:
        return self.weekday >= 5


def is_business_day(day: date) -> bool:
    return day.weekday() < 5


@lru_cache(maxsize=512)
def _month(
    year: int, month: int, claims_days: tuple[int, ...]
) -> tuple[date, frozenset[date], frozenset[date]]:
    length = _cal.monthrange(year, month)[1]
    last = date(year, month, length)
    while not is_business_day(last):
        last -= timedelta(days=1)
    firsts: list[date] = []
    cursor = date(year, month, 1)
    while len(firsts) < 2:
        if is_business_day(cursor):
            firsts.append(cursor)
        cursor += timedelta(days=1)
    claims: set[date] = set()
    for dom in claims_days:
        if dom > length:
            continue
        cursor = date(year, month, dom)
        while not is_business_day(cursor):
            cursor += timedelta(days=1)
        if cursor.month == month:
            claims.add(cursor)
    return last, frozenset(firsts), frozenset(claims)


def day_kind(day: date, claims_days: Sequence[int] = (10, 25)) -> DayKind:
    last, firsts, claims = _month(day.year, day.month, tuple(claims_days))
    return DayKind(day.weekday(), day == last, day in firsts, day in claims)


__all__ = ["DayKind", "day_kind", "is_business_day"]

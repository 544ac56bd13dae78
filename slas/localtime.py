"""Local wall-clock time for ranges of UTC minutes, vectorised.

Business hours, calendar months and "the same hour last Monday" are local-time ideas while the
store keeps UTC. We ask ``zoneinfo`` for the UTC offset once per UTC hour (offsets change on
hour or half-hour boundaries in practice) and add it to every minute of that hour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

__all__ = ["local_minutes", "period_start_minute", "zone"]


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=200_000)
def _hour_offset_minutes(name: str, utc_hour: int) -> int:
    offset = datetime.fromtimestamp(utc_hour * 3600, tz=zone(name)).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def local_minutes(tz: str, minute_lo: int, minute_hi: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Local wall-clock minute numbers (minutes since 1970-01-01 00:00 local) for each UTC minute."""
    minutes = np.arange(minute_lo, minute_hi + 1, dtype=np.int64)
    if tz == "UTC" or minutes.size == 0:
        return minutes
    hour_lo, hour_hi = minute_lo // 60, minute_hi // 60
    offsets = np.array(
        [_hour_offset_minutes(tz, hour) for hour in range(hour_lo, hour_hi + 1)], dtype=np.int64
    )
    return minutes + offsets[minutes // 60 - hour_lo]


def period_start_minute(at_minute: int, calendar: str, tz: str) -> int:
    """The UTC minute at which the calendar period (day/week/month/quarter/year) holding ``at`` began."""
    local = datetime.fromtimestamp(at_minute * 60, tz=zone(tz))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if calendar == "week":
        day -= timedelta(days=day.weekday())  # ISO weeks start on Monday
    elif calendar == "month":
        day = day.replace(day=1)
    elif calendar == "quarter":
        day = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    elif calendar == "year":
        day = day.replace(month=1, day=1)
    start = day.replace(tzinfo=zone(tz)).astimezone(UTC)
    return int(start.timestamp()) // 60

"""Calendar periods in local time, and the store's minute in nanoseconds.

Calendar windows ("this month in Chicago") start at local midnight while the store keeps UTC;
the wall-clock arithmetic itself lives in :mod:`vitals.kernel.localtime`, shared with the time
intervals that SLAs and alerts both use.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vitals.kernel.localtime import zone
from vitals.kernel.units import MINUTE_NS

__all__ = ["MINUTE_NS", "period_start_minute"]


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

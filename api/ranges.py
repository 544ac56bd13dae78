"""The time range of a read (``from``, ``to``): one reading for every endpoint that takes one.

A naive time is UTC; a missing ``to`` is now and a missing ``from`` the endpoint's default span
before it. Anything the store cannot hold (before 1970, past the 64-bit nanosecond count) or that
would make a read unbounded is a ``ValueError``, which the API answers as a 400 with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vitals.kernel.units import NS

#: A read covers at most this long.
MAX_RANGE = timedelta(days=400)
#: The last second a 64-bit count of nanoseconds since 1970 reaches (2262-04-11).
LAST_NANOSECOND_S = float((2**63 - 1) // NS)


def resolve_range(
    start: datetime | None, end: datetime | None, now_s: float, default: timedelta
) -> tuple[float, float]:
    """``(start_s, end_s)`` in seconds since 1970, checked."""
    try:
        to = end if end is not None else datetime.fromtimestamp(now_s, tz=UTC)
        to = to if to.tzinfo is not None else to.replace(tzinfo=UTC)
        since = start if start is not None else to - default
        since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        start_s, end_s = since.timestamp(), to.timestamp()
    except (OverflowError, ValueError):
        raise ValueError("from and to must be times between 1970 and 9999") from None
    if start_s < 0 or end_s < 0:
        raise ValueError("from and to must be after 1970-01-01")
    if end_s > LAST_NANOSECOND_S:
        raise ValueError("from and to must be before 2262-04-11 (the store counts nanoseconds in 64 bits)")
    if start_s >= end_s:
        raise ValueError("from must be before to")
    if end_s - start_s > MAX_RANGE.total_seconds():
        raise ValueError(f"from and to are at most {MAX_RANGE.days} days apart")
    return start_s, end_s


__all__ = ["LAST_NANOSECOND_S", "MAX_RANGE", "resolve_range"]

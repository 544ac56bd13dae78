"""Local wall-clock time for ranges of UTC minutes, vectorised, and the time zones it accepts.

Business hours, calendar months and "the same hour last Monday" are local-time ideas while the
store keeps UTC. A zone's UTC offset is looked up once per UTC hour; only an hour in which the
offset changes (a daylight-saving switch, which some zones make on the half hour) is looked up
minute by minute, so a 30-day range costs 720 look-ups and every minute is still exact.

A zone is an IANA name (``America/Chicago``) or ``UTC``. ``Local`` is refused on purpose: it would
mean the zone of whichever machine evaluates the file, and Vitals evaluates the same intervals in
several processes and keeps their results (SLA history, stored silences), so the answer must not
depend on the host. The error says which zone this machine has, to make the fix one word.
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

__all__ = ["host_zone_name", "local_minutes", "validate_zone", "zone"]


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The zone of a name ``validate_zone`` accepted (``UTC`` and ``""`` are UTC, as in Go)."""
    return ZoneInfo(name or "UTC")


def host_zone_name() -> str | None:
    """This machine's zone as Go's ``time.Local`` finds it (``TZ``, then /etc/localtime), if named."""
    tz = os.environ.get("TZ")
    if tz is not None:
        return tz.removeprefix(":") or "UTC"
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:  # pragma: no cover - a host without the file
        return None
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else None


def validate_zone(name: str) -> str:
    """``name`` if it is a zone Vitals evaluates intervals in; ValueError (with the fix) if not."""
    if name == "Local":
        here = host_zone_name()
        example = f"this machine's zone is {here}" if here else "e.g. America/Chicago"
        raise ValueError(
            "Local (the zone of whichever machine evaluates it) is not accepted: Vitals "
            f"evaluates intervals in several processes and stores the results, so name the zone ({example})"
        )
    if name in ("", "UTC"):
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as America/Chicago)") from exc
    return name


@lru_cache(maxsize=200_000)
def _offset_minutes(name: str, utc_minute: int) -> int:
    offset = datetime.fromtimestamp(utc_minute * 60, tz=zone(name)).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _hour_offsets(name: str, hour: int) -> int | list[int]:
    """The offset in force during a UTC hour, or one per minute if it changes within the hour."""
    first, last = _offset_minutes(name, hour * 60), _offset_minutes(name, hour * 60 + 59)
    if first == last:
        return first
    return [_offset_minutes(name, hour * 60 + m) for m in range(60)]


def local_minutes(tz: str, minute_lo: int, minute_hi: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Local wall-clock minute numbers (minutes since 1970-01-01 00:00 local) for each UTC minute."""
    minutes = np.arange(minute_lo, minute_hi + 1, dtype=np.int64)
    if tz in ("", "UTC") or minutes.size == 0:
        return minutes
    hour_lo, hour_hi = minute_lo // 60, minute_hi // 60
    per_hour = [_hour_offsets(tz, hour) for hour in range(hour_lo, hour_hi + 1)]
    offsets = np.array([o if isinstance(o, int) else 0 for o in per_hour], dtype=np.int64)
    result = minutes + offsets[minutes // 60 - hour_lo]
    for index, changing in enumerate(per_hour):
        if isinstance(changing, list):
            hour_start = (hour_lo + index) * 60
            lo, hi = max(hour_start, minute_lo), min(hour_start + 59, minute_hi)
            span = np.arange(lo, hi + 1, dtype=np.int64)
            result[lo - minute_lo : hi - minute_lo + 1] = span + np.array(
                changing[lo - hour_start : hi - hour_start + 1], dtype=np.int64
            )
    return result

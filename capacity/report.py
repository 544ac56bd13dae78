"""Headroom at the forecast peaks and backlog clear times: the capacity report, pure.

Capacity is the configured one where ``capacity.yaml`` gives it, else the measured one (the best
hourly mean drain rate seen): with only measured capacity a series' headroom says "how far above
what it has ever drained", which is a warning sign, not a sizing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from capacity.config import CapacityConfig, parse_deadline
from capacity.forecast import DayForecast, Forecast, forecast
from capacity.measured import best_sustained
from capacity.model import HOUR_S, Kind, Series


@dataclass(frozen=True)
class BacklogClear:
    """A queue's backlog now and when it clears at the current drain rate."""

    depth: float
    drain_per_s: float
    arrival_per_s: float
    clear_s: float | None  # None: it does not clear at these rates (drain <= arrival)
    deadline: str | None  # e.g. "2026-12-05 18:00 CST (charges cut-off)"
    deadline_s: float | None  # UTC seconds of the next deadline
    clears_before_deadline: bool | None  # None without a deadline


@dataclass(frozen=True)
class CapacityRow:
    kind: Kind
    name: str
    configured_per_hour: float | None
    measured_per_hour: float | None  # best hourly mean drain
    measured_15m_per_hour: float | None  # best 15-minute mean drain, per hour
    margin: float
    forecast: Forecast
    peak: DayForecast | None  # the busiest forecast day (by peak hour)
    close_peak: DayForecast | None  # the busiest day of the next month-end close
    headroom: float | None  # at the forecast peak hour: 1 - peak / capacity
    close_headroom: float | None
    below_margin_on: date | None  # first forecast day whose peak hour leaves less than the margin
    backlog: BacklogClear | None

    @property
    def capacity_per_hour(self) -> float | None:
        return self.configured_per_hour if self.configured_per_hour is not None else self.measured_per_hour

    @property
    def capacity_source(self) -> str:
        if self.configured_per_hour is not None:
            return "configured"
        return "measured" if self.measured_per_hour is not None else "unknown"


def clear_time(depth: float, drain_per_s: float, arrival_per_s: float) -> float | None:
    """Seconds until ``depth`` is drained while messages keep arriving; None if it never is."""
    if depth <= 0:
        return 0.0
    net = drain_per_s - arrival_per_s
    return depth / net if net > 0 else None


def next_deadline(now_s: float, text: str, zone: str) -> float:
    """The next instant (UTC seconds, at or after ``now_s``) of a daily deadline."""
    at, tz_name = parse_deadline(text, zone)
    tz = ZoneInfo(tz_name)
    today = datetime.fromtimestamp(now_s, tz).date()
    for offset in range(3):
        day = today + timedelta(days=offset)
        moment = datetime(day.year, day.month, day.day, at.hour, at.minute, tzinfo=tz).timestamp()
        if moment >= now_s:
            return moment
    raise AssertionError("unreachable: a daily deadline recurs within two days")


def _headroom(peak: float, capacity: float | None) -> float | None:
    return None if capacity is None or capacity <= 0 else 1 - peak / capacity


def _close_peak(days: tuple[DayForecast, ...]) -> DayForecast | None:
    """The busiest day of the first month-end close in the forecast (last business day and the
    next month's first two)."""
    window: list[DayForecast] = []
    for d in days:
        if d.kind.close_last or (d.kind.close_first and window):
            window.append(d)
        elif window and d.kind.weekday < 5:
            break
    if not window:
        window = [d for d in days if d.kind.close_first][:2]
    return max(window, key=lambda d: d.peak_per_hour) if window else None


def row_for(series: Series, config: CapacityConfig, now_s: float, days: int) -> CapacityRow:
    target = config.target(series.kind, series.name)
    configured = target.capacity_per_hour if target is not None else None
    hourly = best_sustained(series.drain, series.bucket_s, HOUR_S)
    quarter = best_sustained(series.drain, series.bucket_s, 900)
    measured = hourly * 3600 if hourly is not None else None
    margin = config.margin_of(series.kind, series.name)
    result = forecast(series.volume, now_s, days, config.time_zone, config.claims_days)
    capacity = configured if configured is not None else measured
    peak = result.peak
    close = _close_peak(result.days)
    below = next(
        (
            d.day
            for d in result.days
            if (h := _headroom(d.peak_per_hour, capacity)) is not None and h < margin
        ),
        None,
    )
    backlog = None
    if series.backlog is not None:
        b = series.backlog
        clear = clear_time(b.depth, b.drain_per_s, b.arrival_per_s)
        deadline_s = deadline = None
        before = None
        if target is not None and target.deadline:
            deadline_s = next_deadline(b.at_s, target.deadline, config.time_zone)
            _at, tz_name = parse_deadline(target.deadline, config.time_zone)
            shown = datetime.fromtimestamp(deadline_s, ZoneInfo(tz_name)).strftime("%Y-%m-%d %H:%M %Z")
            deadline = f"{shown} ({target.label})" if target.label else shown
            before = clear is not None and b.at_s + clear <= deadline_s
        backlog = BacklogClear(b.depth, b.drain_per_s, b.arrival_per_s, clear, deadline, deadline_s, before)
    return CapacityRow(
        kind=series.kind,
        name=series.name,
        configured_per_hour=configured,
        measured_per_hour=measured,
        measured_15m_per_hour=quarter * 3600 if quarter is not None else None,
        margin=margin,
        forecast=result,
        peak=peak,
        close_peak=close,
        headroom=_headroom(peak.peak_per_hour, capacity) if peak else None,
        close_headroom=_headroom(close.peak_per_hour, capacity) if close else None,
        below_margin_on=below,
        backlog=backlog,
    )


def build(series: list[Series], config: CapacityConfig, now_s: float, days: int = 30) -> list[CapacityRow]:
    """One row per interface and queue, queues first, each kind by name."""
    rows = [row_for(s, config, now_s, days) for s in series]
    return sorted(rows, key=lambda r: (r.kind != "queue", r.name))


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "never at this rate"
    if math.isinf(seconds):
        return "never"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


__all__ = [
    "BacklogClear",
    "CapacityRow",
    "build",
    "clear_time",
    "format_duration",
    "next_deadline",
    "row_for",
]

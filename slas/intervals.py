"""Named time intervals (business hours, maintenance windows) with Alertmanager's semantics.

SLA authors already know Alertmanager's ``time_intervals``; the same shape here means one
vocabulary for "business hours" across alert routing and SLAs. Matching is vectorised over
minutes so a 30-day window is masked in microseconds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from slas.localtime import local_minutes

__all__ = ["IntervalSet", "NamedInterval", "TimeInterval", "TimeRange", "validate_zone"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_CLOCK = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


def validate_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as America/Chicago)") from exc
    return name


def _clock_minutes(text: str) -> int:
    match = _CLOCK.match(str(text).strip())
    if not match:
        raise ValueError(f"expected a time of day HH:MM, got {text!r}")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > 24 * 60:
        raise ValueError(f"a time of day cannot be after 24:00, got {text!r}")
    return minutes


class TimeRange(BaseModel):
    """``start_time`` inclusive, ``end_time`` exclusive, local wall-clock ``HH:MM`` (24:00 allowed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_time: str
    end_time: str

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        _clock_minutes(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if _clock_minutes(self.start_time) >= _clock_minutes(self.end_time):
            raise ValueError("end_time must be after start_time (split a range that crosses midnight in two)")
        return self

    @property
    def minutes(self) -> tuple[int, int]:
        return _clock_minutes(self.start_time), _clock_minutes(self.end_time)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


def _parse_ranges(items: list[Any], parse: Any, what: str) -> tuple[tuple[int, int], ...]:
    out = []
    for item in items:
        text = str(item).strip().lower()
        # "-3:-1" is a range of negative days; split on the colon that separates the bounds.
        parts = re.split(r"(?<=[^:]):", text, maxsplit=1) if ":" in text[1:] else [text]
        try:
            low = parse(parts[0])
            high = parse(parts[1]) if len(parts) > 1 else low
        except (ValueError, KeyError) as exc:
            raise ValueError(f"invalid {what} {item!r}") from exc
        out.append((low, high))
    return tuple(out)


def _weekday(text: str) -> int:
    return WEEKDAYS.index(text)


def _month(text: str) -> int:
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= 12:
            raise ValueError(text)
        return number
    return MONTHS.index(text) + 1


def _day_of_month(text: str) -> int:
    number = int(text)
    if number == 0 or not -31 <= number <= 31:
        raise ValueError(text)
    return number


Listish = Annotated[list[str | int], BeforeValidator(_as_list)]


class TimeInterval(BaseModel):
    """One Alertmanager ``time_interval``: every field given must match (an absent field matches all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    times: list[TimeRange] = Field(default_factory=list)
    weekdays: Listish = Field(default_factory=list)
    days_of_month: Listish = Field(default_factory=list)
    months: Listish = Field(default_factory=list)
    years: Listish = Field(default_factory=list)
    location: str = "UTC"

    @field_validator("location")
    @classmethod
    def _zone(cls, value: str) -> str:
        return validate_zone(value)

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str | int]) -> list[str | int]:
        _parse_ranges(value, _weekday, "weekday (monday .. sunday, or a range monday:friday)")
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[str | int]) -> list[str | int]:
        _parse_ranges(value, _month, "month (january .. december or 1 .. 12, or a range)")
        return value

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, value: list[str | int]) -> list[str | int]:
        _parse_ranges(value, _day_of_month, "day of month (1 .. 31 or -31 .. -1, or a range 1:5)")
        return value

    @field_validator("years")
    @classmethod
    def _years(cls, value: list[str | int]) -> list[str | int]:
        _parse_ranges(value, int, "year (e.g. 2026 or 2025:2027)")
        return value

    def mask(self, minute_lo: int, minute_hi: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Whether each UTC minute in ``[minute_lo, minute_hi]`` (Unix minutes) lies in the interval."""
        local = local_minutes(self.location, minute_lo, minute_hi)
        result = np.ones(local.shape, dtype=bool)
        if self.times:
            of_day = local % 1440
            in_times = np.zeros(local.shape, dtype=bool)
            for time_range in self.times:
                start, end = time_range.minutes
                in_times |= (of_day >= start) & (of_day < end)
            result &= in_times
        if not (self.weekdays or self.days_of_month or self.months or self.years):
            return result
        days = local // 1440
        dates = days.astype("datetime64[D]")
        if self.weekdays:
            weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
            result &= _in_ranges(weekday, _parse_ranges(self.weekdays, _weekday, ""), modulo=7)
        month_start = dates.astype("datetime64[M]")
        if self.months:
            month = month_start.astype(np.int64) % 12 + 1
            result &= _in_ranges(month, _parse_ranges(self.months, _month, ""))
        if self.years:
            year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
            result &= _in_ranges(year, _parse_ranges(self.years, int, ""))
        if self.days_of_month:
            day = (dates - month_start.astype("datetime64[D]")).astype(np.int64) + 1
            month_len = (
                (month_start + 1).astype("datetime64[D]") - month_start.astype("datetime64[D]")
            ).astype(np.int64)
            ok = np.zeros(local.shape, dtype=bool)
            for low, high in _parse_ranges(self.days_of_month, _day_of_month, ""):
                # Negative days count from the end of the month: -1 is the last day.
                low_day = np.where(low < 0, month_len + low + 1, low)
                high_day = np.where(high < 0, month_len + high + 1, high)
                ok |= (day >= low_day) & (day <= high_day)
            result &= ok
        return result


def _in_ranges(
    values: np.ndarray[Any, np.dtype[np.int64]],
    ranges: tuple[tuple[int, int], ...],
    modulo: int | None = None,
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    ok = np.zeros(values.shape, dtype=bool)
    for low, high in ranges:
        if modulo is not None and high < low:  # saturday:monday wraps around the week
            ok |= (values >= low) | (values <= high)
        else:
            ok |= (values >= low) & (values <= high)
    return ok


class NamedInterval(BaseModel):
    """A ``time_intervals`` entry: matches when any of its intervals matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    time_intervals: list[TimeInterval] = Field(min_length=1)


class IntervalSet(BaseModel):
    """What a ``during:`` field holds once loaded: the intervals, and the name they came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    intervals: tuple[TimeInterval, ...] = ()

    def mask(self, minute_lo: int, minute_hi: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
        result = np.zeros(max(0, minute_hi - minute_lo + 1), dtype=bool)
        for interval in self.intervals:
            result |= interval.mask(minute_lo, minute_hi)
        return result

    @property
    def label(self) -> str:
        return self.name or "inline interval"

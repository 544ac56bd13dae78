"""Alertmanager time intervals: recurring windows such as business hours or maintenance.

A named interval is a list of specs, any of which may match (OR). Within a spec every field
that is set must match (AND) and an unset field matches anything: ``times`` (``HH:MM`` start
inclusive, end exclusive, ``24:00`` allowed as an end), ``weekdays`` (``monday:friday``, week
starts Sunday, no wrap-around), ``days_of_month`` (``1:5``, ``-3:-1`` counting back from the
month's end, clamped to the month), ``months`` (names or numbers), ``years`` and ``location``
(IANA zone; UTC by default, ``Local`` for the machine's zone).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WEEKDAYS = {
    "sunday": 0,
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
}
_MONTHS = {name.lower(): index for index, name in enumerate(calendar.month_name) if name}
_TIME = re.compile(r"^(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00))$")


@dataclass(frozen=True)
class Span:
    """An inclusive ``begin..end`` range."""

    begin: int
    end: int

    def contains(self, value: int) -> bool:
        return self.begin <= value <= self.end


@dataclass(frozen=True)
class TimeRange:
    """Minutes of the day, ``[start, end)``."""

    start_minute: int
    end_minute: int


@dataclass(frozen=True)
class TimeIntervalSpec:
    times: tuple[TimeRange, ...] | None = None
    weekdays: tuple[Span, ...] | None = None
    days_of_month: tuple[Span, ...] | None = None
    months: tuple[Span, ...] | None = None
    years: tuple[Span, ...] | None = None
    location: str = "UTC"

    def contains(self, at: float) -> bool:
        moment = datetime.fromtimestamp(at, tz=UTC).astimezone(zone(self.location))
        if self.times is not None:
            minute = moment.hour * 60 + moment.minute
            if not any(r.start_minute <= minute < r.end_minute for r in self.times):
                return False
        if self.days_of_month is not None:
            length = calendar.monthrange(moment.year, moment.month)[1]
            if not any(_day_in(span, moment.day, length) for span in self.days_of_month):
                return False
        if self.months is not None and not any(s.contains(moment.month) for s in self.months):
            return False
        if self.weekdays is not None:
            weekday = (moment.weekday() + 1) % 7  # Python: Monday=0; Alertmanager: Sunday=0
            if not any(s.contains(weekday) for s in self.weekdays):
                return False
        return self.years is None or any(s.contains(moment.year) for s in self.years)


def _day_in(span: Span, day: int, length: int) -> bool:
    begin = length + span.begin + 1 if span.begin < 0 else span.begin
    end = length + span.end + 1 if span.end < 0 else span.end
    if begin > length:
        return False
    begin, end = max(begin, 1), min(end, length)
    return begin <= day <= end


def zone(name: str) -> tzinfo:
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        local = datetime.now().astimezone().tzinfo
        return local or UTC
    return ZoneInfo(name)


def contains_any(specs: Iterable[TimeIntervalSpec], at: float) -> bool:
    return any(spec.contains(at) for spec in specs)


# --- parsing (from the YAML shapes Alertmanager uses) ---------------------------------------


def _member(text: str, names: Mapping[str, int] | None, what: str) -> int:
    word = text.strip().lower()
    if names is not None and word in names:
        return names[word]
    if what == "weekday":
        raise ValueError(f"{text!r} is not a valid weekday")
    try:
        return int(word)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid {what}") from None


def _span(text: str, names: Mapping[str, int] | None, what: str) -> Span:
    parts = str(text).split(":")
    if len(parts) > 2 or not all(p.strip() for p in parts):
        raise ValueError(f"{text!r} is not a valid {what} range (use one value or start:end)")
    begin = _member(parts[0], names, what)
    end = _member(parts[-1], names, what)
    return Span(begin, end)


def parse_weekday(text: str) -> Span:
    span = _span(text, _WEEKDAYS, "weekday")
    if span.begin > span.end:
        raise ValueError(f"{text!r}: the start day is after the end day (weeks run Sunday to Saturday)")
    return span


def parse_day_of_month(text: str) -> Span:
    span = _span(text, None, "day of the month")
    for value in (span.begin, span.end):
        if value == 0 or not -31 <= value <= 31:
            raise ValueError(f"{value} is not a valid day of the month (1..31 or -31..-1)")
    if span.begin < 0 < span.end:
        raise ValueError(f"{text!r}: the end day must be negative when the start day is")
    check_begin = 28 + span.begin if span.begin < 0 else span.begin
    check_end = 28 + span.end if span.end < 0 else span.end
    if check_begin > check_end:
        raise ValueError(f"{text!r}: the end day is always before the start day")
    return span


def parse_month(text: str) -> Span:
    span = _span(text, _MONTHS, "month")
    for value in (span.begin, span.end):
        if not 1 <= value <= 12:
            raise ValueError(f"{value} is not a valid month (1..12 or a month name)")
    if span.begin > span.end:
        raise ValueError(f"{text!r}: the end month is before the start month")
    return span


def parse_year(text: str) -> Span:
    span = _span(text, None, "year")
    if span.begin <= 0 or span.begin > span.end:
        raise ValueError(f"{text!r}: years must be positive and the end year not before the start")
    return span


def parse_clock(text: str) -> int:
    match = _TIME.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a time of day (HH:MM, 00:00 to 24:00)")
    hour, minute = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    return int(hour) * 60 + int(minute)


def parse_time_range(start: str, end: str) -> TimeRange:
    start_minute, end_minute = parse_clock(start), parse_clock(end)
    if start_minute >= end_minute:
        raise ValueError(f"start_time {start} must be before end_time {end} (ranges do not wrap midnight)")
    return TimeRange(start_minute, end_minute)


def parse_location(name: str) -> str:
    if name in ("UTC", "Local", ""):
        return name or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as America/Chicago)") from exc
    return name


def spec_from_json(data: Mapping[str, Any]) -> TimeIntervalSpec:
    """A spec from its Alertmanager YAML/JSON shape (used for stored silences too)."""

    def many(key: str, parse: Any) -> tuple[Any, ...] | None:
        values = data.get(key)
        if values is None:
            return None
        return tuple(parse(str(v)) for v in values)

    times = data.get("times")
    return TimeIntervalSpec(
        times=None
        if times is None
        else tuple(parse_time_range(str(t["start_time"]), str(t["end_time"])) for t in times),
        weekdays=many("weekdays", parse_weekday),
        days_of_month=many("days_of_month", parse_day_of_month),
        months=many("months", parse_month),
        years=many("years", parse_year),
        location=parse_location(str(data.get("location") or "UTC")),
    )


def spec_to_json(spec: TimeIntervalSpec) -> dict[str, Any]:
    def spans(values: Sequence[Span] | None) -> list[str] | None:
        if values is None:
            return None
        return [str(s.begin) if s.begin == s.end else f"{s.begin}:{s.end}" for s in values]

    out: dict[str, Any] = {"location": spec.location}
    if spec.times is not None:
        out["times"] = [
            {"start_time": _clock(r.start_minute), "end_time": _clock(r.end_minute)} for r in spec.times
        ]
    if spec.weekdays is not None:
        names = {index: name for name, index in _WEEKDAYS.items()}
        out["weekdays"] = [
            names[s.begin] if s.begin == s.end else f"{names[s.begin]}:{names[s.end]}" for s in spec.weekdays
        ]
    for key in ("days_of_month", "months", "years"):
        value = spans(getattr(spec, key))
        if value is not None:
            out[key] = value
    return out


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"

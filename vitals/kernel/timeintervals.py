"""Alertmanager's time intervals, the one implementation behind SLAs and alerting.

Business hours and maintenance windows appear in SLA files (``during:``, recurring corrections)
and in ``alerts.yaml`` (routes' mute and active intervals, recurring silences). Both speak
Alertmanager's ``time_intervals`` so an operator learns one vocabulary, and both use this module
so that one file can never mean two things. It lives in the kernel rather than in ``slas`` (which
``alerts`` may import) because it is neither an SLA nor an alerting idea but shared vocabulary,
like the durations of :mod:`vitals.kernel.units`; the alerting engine should not load the SLA
package to know whether it is Saturday.

The semantics are Alertmanager's (``timeinterval/timeinterval.go``), field by field:

- ``times``: ``start_time`` inclusive, ``end_time`` exclusive, ``HH:MM`` with a two-digit hour
  (``09:00``; ``9:00`` is refused, as Alertmanager refuses it), ``24:00`` allowed as an end. The
  start must be before the end: a range across midnight is refused (write two ranges).
- ``weekdays``: names in any case, or ranges ``monday:friday``. Weeks run Sunday to Saturday and a
  range does not wrap: ``friday:monday`` is refused (write ``[friday:saturday, sunday:monday]``).
- ``days_of_month``: ``1`` to ``31``, or ``-1`` to ``-31`` counting back from the month's last day;
  ranges are clamped to the month, and a range whose start is past the month's end is skipped.
- ``months``: names or numbers; ``years``.
- ``location``: an IANA zone; UTC when absent.
- A field that is absent matches every time; a field given as an empty list matches none.
  Within an interval every field given must match; a list of intervals matches when any does.

Where Vitals deliberately differs, it refuses what Alertmanager would accept but is almost
certainly a mistake: ``location: Local`` (see :mod:`vitals.kernel.localtime`), months outside 1 to
12 and years below 1 (Alertmanager accepts them and they never match).

Every check is a field validator, so a config loader reports the file, line and field
(``time_intervals[0].time_intervals[1].times[0].start_time``); other callers (the HTTP API,
the command line, stored silences) use :meth:`TimeInterval.from_json`, whose error names the
field in one line. Evaluation is vectorised over minutes (an SLA masks a 30-day window at
once); a single instant is a range of one minute, so alerting and SLAs share the code path too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, NamedTuple

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from vitals.kernel.localtime import local_minutes, validate_zone

__all__ = [
    "IntervalSet",
    "NamedInterval",
    "Span",
    "TimeInterval",
    "TimeIntervalError",
    "TimeRange",
    "any_contains",
]

#: Alertmanager's numbering: Sunday is 0.
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
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
#: Alertmanager's ``validTime``: two-digit hours 00-23 and minutes, or exactly 24:00.
_CLOCK = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")
#: What Go's ``strconv.Atoi`` accepts (no spaces, no underscores, unlike Python's ``int``).
_INTEGER = re.compile(r"[+-]?[0-9]+")
_SEXAGESIMAL_HINT = "YAML 1.1 reads an unquoted 17:00 as the number 1020; put the time in quotes: '17:00'"

Mask = np.ndarray[Any, np.dtype[np.bool_]]


class TimeIntervalError(ValueError):
    """An interval that Alertmanager (or Vitals, where it is stricter) would refuse."""


class Span(NamedTuple):
    """An inclusive ``begin..end`` range of weekdays, days of the month, months or years."""

    begin: int
    end: int


# --- parsing one field value -------------------------------------------------------------------


def _text(value: Any, example: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text such as {example!r}, got {value!r}")
    return str(value).lower()


def _bounds(text: str) -> tuple[str, str]:
    if ":" not in text:
        return text, text
    parts = text.split(":")
    if len(parts) != 2:
        raise ValueError(f"couldn't parse range {text!r}: use one value or start:end")
    return parts[0], parts[1]


def _integer(text: str, what: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid {what}")
    return int(text)


def _weekday(text: str) -> int:
    if text not in WEEKDAYS:
        raise ValueError(f"{text!r} is not a valid weekday (sunday .. saturday)")
    return WEEKDAYS.index(text)


def parse_weekdays(value: Any) -> Span:
    text = _text(value, "monday:friday")
    low, high = _bounds(text)
    span = Span(_weekday(low), _weekday(high))
    if span.begin > span.end:
        raise ValueError(
            f"{text}: the start day is after the end day; weeks run sunday to saturday and a range "
            f"does not wrap (write [{low}:saturday, sunday:{high}])"
        )
    return span


def parse_days_of_month(value: Any) -> Span:
    text = _text(value, "1:7")
    low, high = _bounds(text)
    span = Span(_integer(low, "day of the month"), _integer(high, "day of the month"))
    for day in span:
        if day == 0 or not -31 <= day <= 31:
            raise ValueError(
                f"{day} is not a valid day of the month (1 to 31, or -1 to -31 counting back from the last)"
            )
    if span.begin < 0 < span.end:
        raise ValueError(f"{text}: the end day must be negative when the start day is")
    # As Alertmanager: refuse what is wrong in every month (negative days taken in a 28-day month).
    begin = 28 + span.begin if span.begin < 0 else span.begin
    end = 28 + span.end if span.end < 0 else span.end
    if begin > end:
        raise ValueError(f"{text}: the end day is always before the start day")
    return span


def _month(text: str) -> int:
    if text in MONTHS:
        return MONTHS.index(text) + 1
    number = _integer(text, "month (january .. december or 1 .. 12)")
    if not 1 <= number <= 12:  # Vitals: Alertmanager accepts 13 and never matches it
        raise ValueError(f"{number} is not a valid month (1 .. 12)")
    return number


def parse_months(value: Any) -> Span:
    text = _text(value, "january:march")
    low, high = _bounds(text)
    span = Span(_month(low), _month(high))
    if span.begin > span.end:
        raise ValueError(f"{text}: the end month is before the start month")
    return span


def parse_years(value: Any) -> Span:
    text = _text(value, "2026:2027")
    low, high = _bounds(text)
    span = Span(_integer(low, "year"), _integer(high, "year"))
    if span.begin < 1:  # Vitals: Alertmanager accepts year 0 and never matches it
        raise ValueError(f"{span.begin} is not a valid year")
    if span.begin > span.end:
        raise ValueError(f"{text}: the end year is before the start year")
    return span


def parse_clock(value: Any) -> int:
    """Minutes since midnight of an ``HH:MM`` time of day (Alertmanager's format)."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"expected a time of day HH:MM, got the number {value} ({_SEXAGESIMAL_HINT})")
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValueError(
            f"couldn't parse {value!r} as a time of day: use HH:MM with two-digit hours, 00:00 to 24:00"
        )
    return int(value[:2]) * 60 + int(value[3:])


def _span_text(span: Span) -> str:
    return str(span.begin) if span.begin == span.end else f"{span.begin}:{span.end}"


def _weekday_text(span: Span) -> str:
    names = WEEKDAYS[span.begin], WEEKDAYS[span.end]
    return names[0] if span.begin == span.end else f"{names[0]}:{names[1]}"


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _field(
    parse: Callable[[Any], Any], text: Callable[[Any], str], example: str, given: Any = str | int
) -> tuple[Any, ...]:
    """How a field is read (``parse`` from the YAML value, which JSON Schema calls ``given``),
    written back (``text``) and shown in the config reference (``example``)."""
    return (
        PlainValidator(parse, json_schema_input_type=given),
        PlainSerializer(text, return_type=str),
        Field(examples=[example]),
    )


WeekdayRange = Annotated[Span, *_field(parse_weekdays, _weekday_text, "monday:friday")]
DayOfMonthRange = Annotated[Span, *_field(parse_days_of_month, _span_text, "-3:-1")]
MonthRange = Annotated[Span, *_field(parse_months, _span_text, "january:march")]
YearRange = Annotated[Span, *_field(parse_years, _span_text, "2026")]
Clock = Annotated[int, *_field(parse_clock, _clock_text, "09:00", given=str)]


# --- the models --------------------------------------------------------------------------------


class TimeRange(BaseModel):
    """``start_time`` inclusive to ``end_time`` exclusive, as minutes of the local day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``HH:MM`` with a two-digit hour, inclusive.
    start_time: Clock
    #: ``HH:MM``, exclusive; ``24:00`` allowed.
    end_time: Clock

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.start_time >= self.end_time:
            raise ValueError(
                f"start_time {_clock_text(self.start_time)} must be before end_time "
                f"{_clock_text(self.end_time)}; a range cannot cross midnight (write two ranges)"
            )
        return self


class TimeInterval(BaseModel):
    """One Alertmanager ``time_interval``: every field given must match; absent fields match all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Times of day (a range cannot cross midnight: write two).
    times: tuple[TimeRange, ...] | None = None
    #: Names or ranges; weeks run Sunday to Saturday and a range does not wrap.
    weekdays: tuple[WeekdayRange, ...] | None = None
    #: ``1`` to ``31``, or ``-1`` to ``-31`` counting back from the month's last day.
    days_of_month: tuple[DayOfMonthRange, ...] | None = None
    #: Names or numbers.
    months: tuple[MonthRange, ...] | None = None
    #: Years or ranges of years.
    years: tuple[YearRange, ...] | None = None
    #: IANA zone the times and days are read in.
    location: str = "UTC"

    @field_validator("location")
    @classmethod
    def _zone(cls, value: str) -> str:
        return validate_zone(value) or "UTC"

    @field_validator("times", "weekdays", "days_of_month", "months", "years", mode="before")
    @classmethod
    def _a_list(cls, value: Any) -> Any:
        if isinstance(value, str | int | dict):
            raise ValueError(f"give a list, as Alertmanager does: [{value}]")
        return value

    @classmethod
    def from_json(cls, data: Any) -> TimeInterval:
        """An interval from its YAML/JSON shape; TimeIntervalError names the field in one line."""
        if isinstance(data, TimeInterval):
            return data
        if not isinstance(data, Mapping):
            raise TimeIntervalError(f"a time interval is a mapping (times, weekdays, ...), got {data!r}")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise TimeIntervalError(_one_line(exc)) from None

    def to_json(self) -> dict[str, Any]:
        """The Alertmanager shape (as ``from_json`` reads it back)."""
        return self.model_dump(mode="json", exclude_none=True)

    def mask(self, minute_lo: int, minute_hi: int) -> Mask:
        """Whether each UTC minute in ``[minute_lo, minute_hi]`` (Unix minutes) lies in the interval."""
        local = local_minutes(self.location, minute_lo, minute_hi)
        result = np.ones(local.shape, dtype=bool)
        if self.times is not None:
            of_day = local % 1440
            in_times = np.zeros(local.shape, dtype=bool)
            for time_range in self.times:
                in_times |= (of_day >= time_range.start_time) & (of_day < time_range.end_time)
            result &= in_times
        if all(f is None for f in (self.weekdays, self.days_of_month, self.months, self.years)):
            return result
        days = local // 1440
        if self.weekdays is not None:
            weekday = (days + 4) % 7  # 1970-01-01 was a Thursday; Sunday is 0
            result &= _within(weekday, self.weekdays)
        dates = days.astype("datetime64[D]")
        month_start = dates.astype("datetime64[M]")
        if self.months is not None:
            result &= _within(month_start.astype(np.int64) % 12 + 1, self.months)
        if self.years is not None:
            result &= _within(dates.astype("datetime64[Y]").astype(np.int64) + 1970, self.years)
        if self.days_of_month is not None:
            first = month_start.astype("datetime64[D]")
            day = (dates - first).astype(np.int64) + 1
            month_len = ((month_start + 1).astype("datetime64[D]") - first).astype(np.int64)
            ok = np.zeros(local.shape, dtype=bool)
            for low, high in self.days_of_month:
                # Negative days count back from the month's end (-1 is the last day). Clamping to
                # the month, as Alertmanager does, cannot change which days fall inside.
                begin = month_len + low + 1 if low < 0 else np.full(local.shape, low)
                end = month_len + high + 1 if high < 0 else np.full(local.shape, high)
                ok |= (day >= begin) & (day <= end)
            result &= ok
        return result

    def contains(self, at: float) -> bool:
        """Whether the instant ``at`` (seconds since the epoch) lies in the interval."""
        minute = math.floor(at / 60)
        return bool(self.mask(minute, minute)[0])


def _within(values: np.ndarray[Any, np.dtype[np.int64]], spans: tuple[Span, ...]) -> Mask:
    ok = np.zeros(values.shape, dtype=bool)
    for begin, end in spans:
        ok |= (values >= begin) & (values <= end)
    return ok


def any_contains(intervals: tuple[TimeInterval, ...] | list[TimeInterval], at: float) -> bool:
    return any(interval.contains(at) for interval in intervals)


def _one_line(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        where = ""
        for part in item.get("loc", ()):
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        ctx = item.get("ctx") or {}
        message = str(ctx["error"]) if isinstance(ctx.get("error"), Exception) else str(item.get("msg"))
        if item.get("type") == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


class NamedInterval(BaseModel):
    """A ``time_intervals`` entry: a name and the intervals it stands for (any may match)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The name routes, silences and SLAs refer to.
    name: str = Field(min_length=1)
    #: The intervals; the entry matches when any of them does.
    time_intervals: tuple[TimeInterval, ...] = ()

    def contains(self, at: float) -> bool:
        return any_contains(self.time_intervals, at)


class IntervalSet(BaseModel):
    """What a field that refers to intervals holds once loaded: the intervals, and their name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    intervals: tuple[TimeInterval, ...] = ()

    def mask(self, minute_lo: int, minute_hi: int) -> Mask:
        result = np.zeros(max(0, minute_hi - minute_lo + 1), dtype=bool)
        for interval in self.intervals:
            result |= interval.mask(minute_lo, minute_hi)
        return result

    @property
    def label(self) -> str:
        return self.name or "inline interval"

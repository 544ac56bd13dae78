"""Properties of time intervals against an independent reading of the clock (zoneinfo, calendar).

Each property states Alertmanager's rule for one field and checks the vectorised implementation
against ``datetime`` in the interval's zone, instant by instant.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.support.properties import PROPERTIES
from vitals.kernel.timeintervals import MONTHS, WEEKDAYS, TimeInterval, TimeIntervalError, parse_clock

ZONES = st.sampled_from(
    ["UTC", "America/Chicago", "America/New_York", "Europe/Paris", "Australia/Lord_Howe", "Asia/Kathmandu"]
)
#: Instants (seconds) from 2000 to 2040, so leap years, DST rule changes and month ends all occur.
INSTANTS = st.integers(
    min_value=int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()),
    max_value=int(datetime(2040, 12, 31, tzinfo=UTC).timestamp()),
)
MINUTES_OF_DAY = st.integers(min_value=0, max_value=1440)
DAYS = st.integers(min_value=-31, max_value=31).filter(bool)


def local(at: int, zone: str) -> datetime:
    return datetime.fromtimestamp(at, tz=ZoneInfo(zone))


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def interval(**fields: Any) -> TimeInterval:
    return TimeInterval.from_json(fields)


@PROPERTIES
@given(MINUTES_OF_DAY, MINUTES_OF_DAY, INSTANTS, ZONES)
def test_a_time_is_inside_a_range_iff_its_local_minute_of_day_is(
    start: int, end: int, at: int, zone: str
) -> None:
    times = [{"start_time": clock(start), "end_time": clock(end)}]
    if start >= end:  # empty, or across midnight: Alertmanager refuses both
        with pytest.raises(TimeIntervalError, match="must be before end_time"):
            interval(times=times, location=zone)
        return
    moment = local(at, zone)
    inside = start <= moment.hour * 60 + moment.minute < end
    assert interval(times=times, location=zone).contains(at) is inside


@PROPERTIES
@given(st.integers(min_value=0, max_value=24), st.integers(min_value=0, max_value=59))
def test_times_of_day_have_two_digit_hours_as_in_alertmanager(hour: int, minute: int) -> None:
    valid = hour < 24 or minute == 0  # 24:00 is the only time after 23:59
    for text, accepted in (
        (f"{hour:02d}:{minute:02d}", valid),
        (f"{hour}:{minute:02d}", valid and hour >= 10),
    ):
        if accepted:
            assert parse_clock(text) == hour * 60 + minute
        else:
            with pytest.raises(ValueError, match="couldn't parse"):
                parse_clock(text)


@PROPERTIES
@given(st.sampled_from(WEEKDAYS), st.sampled_from(WEEKDAYS), INSTANTS, ZONES)
def test_weekday_ranges_run_sunday_to_saturday_without_wrapping(
    first: str, last: str, at: int, zone: str
) -> None:
    begin, end = WEEKDAYS.index(first), WEEKDAYS.index(last)
    if begin > end:
        with pytest.raises(TimeIntervalError, match="does not wrap"):
            interval(weekdays=[f"{first}:{last}"])
        return
    sunday_first = local(at, zone).isoweekday() % 7
    assert interval(weekdays=[f"{first}:{last}"], location=zone).contains(at) is (
        begin <= sunday_first <= end
    )


@PROPERTIES
@given(DAYS, DAYS, INSTANTS, ZONES)
def test_days_of_month_count_back_from_the_end_and_clamp(low: int, high: int, at: int, zone: str) -> None:
    text = f"{low}:{high}"
    adjusted = [28 + d if d < 0 else d for d in (low, high)]
    if (low < 0 < high) or adjusted[0] > adjusted[1]:  # wrong in every month: Alertmanager refuses
        with pytest.raises(TimeIntervalError):
            interval(days_of_month=[text])
        return
    moment = local(at, zone)
    length = calendar.monthrange(moment.year, moment.month)[1]
    begin, end = (length + d + 1 if d < 0 else d for d in (low, high))
    assert interval(days_of_month=[text], location=zone).contains(at) is (begin <= moment.day <= end)


@PROPERTIES
@given(st.integers(min_value=1, max_value=31), INSTANTS)
def test_the_last_k_days_are_the_last_k_days(k: int, at: int) -> None:
    moment = local(at, "UTC")
    length = calendar.monthrange(moment.year, moment.month)[1]
    spec = [f"-{k}:-1"] if k > 1 else ["-1"]
    assert interval(days_of_month=spec).contains(at) is (moment.day > length - k)


@PROPERTIES
@given(
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=2000, max_value=2040),
    st.integers(min_value=2000, max_value=2040),
    INSTANTS,
    ZONES,
)
def test_months_and_years(m1: int, m2: int, y1: int, y2: int, at: int, zone: str) -> None:
    assume(m1 <= m2 and y1 <= y2)
    moment = local(at, zone)
    spec = interval(months=[f"{MONTHS[m1 - 1]}:{m2}"], years=[f"{y1}:{y2}"], location=zone)
    assert spec.contains(at) is (m1 <= moment.month <= m2 and y1 <= moment.year <= y2)


@st.composite
def intervals(draw: st.DrawFn) -> TimeInterval:
    fields: dict[str, Any] = {"location": draw(ZONES)}
    if draw(st.booleans()):
        start = draw(st.integers(min_value=0, max_value=1439))
        end = draw(st.integers(min_value=start + 1, max_value=1440))
        fields["times"] = [{"start_time": clock(start), "end_time": clock(end)}]
    if draw(st.booleans()):
        first = draw(st.integers(min_value=0, max_value=6))
        fields["weekdays"] = [f"{WEEKDAYS[first]}:{WEEKDAYS[draw(st.integers(first, 6))]}"]
    if draw(st.booleans()):
        day = draw(st.integers(min_value=-7, max_value=-1))
        fields["days_of_month"] = [f"{day}:-1", draw(st.integers(min_value=1, max_value=31))]
    if draw(st.booleans()):
        fields["months"] = [draw(st.sampled_from(MONTHS))]
    return TimeInterval.from_json(fields)


@PROPERTIES
@given(intervals(), INSTANTS, st.integers(min_value=0, max_value=600))
def test_a_mask_is_contains_minute_by_minute(spec: TimeInterval, at: int, length: int) -> None:
    lo = at // 60
    assert spec.mask(lo, lo + length).tolist() == [spec.contains(m * 60) for m in range(lo, lo + length + 1)]


@PROPERTIES
@given(intervals())
def test_alertmanagers_shape_reads_back(spec: TimeInterval) -> None:
    assert TimeInterval.from_json(spec.to_json()) == spec

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from slas.intervals import TimeInterval
from slas.localtime import period_start_minute


def minute(year: int, month: int, day: int, hour: int, mins: int) -> int:
    """Minutes since the epoch of a UTC wall-clock time."""
    return int(datetime(year, month, day, hour, mins, tzinfo=UTC).timestamp()) // 60


def test_business_hours_in_a_time_zone_with_weekday_range() -> None:
    interval = TimeInterval.model_validate(
        {
            "weekdays": ["monday:friday"],
            "times": [{"start_time": "06:00", "end_time": "22:00"}],
            "location": "America/Chicago",
        }
    )
    # Monday 2026-03-02: Chicago is UTC-6 in winter; 06:00 local = 12:00 UTC, 22:00 local = 04:00 UTC next day
    lo = minute(2026, 3, 2, 11, 59)
    mask = interval.mask(lo, lo + 2)
    assert mask.tolist() == [False, True, True]
    end = minute(2026, 3, 3, 3, 59)  # 21:59 local Monday
    assert interval.mask(end, end + 1).tolist() == [True, False]
    saturday_noon_local = minute(2026, 3, 7, 18, 0)
    assert not interval.mask(saturday_noon_local, saturday_noon_local)[0]


def test_daylight_saving_shifts_the_utc_bounds() -> None:
    interval = TimeInterval.model_validate(
        {"times": [{"start_time": "06:00", "end_time": "07:00"}], "location": "America/New_York"}
    )
    winter = minute(2026, 3, 2, 11, 0)  # 06:00 EST
    summer = minute(2026, 3, 9, 10, 0)  # 06:00 EDT (DST began 2026-03-08)
    assert interval.mask(winter, winter)[0] and interval.mask(summer, summer)[0]
    assert not interval.mask(summer + 60, summer + 60)[0]


def test_days_of_month_months_and_years() -> None:
    last_day = TimeInterval.model_validate({"days_of_month": ["-1"]})
    feb_28, feb_27 = minute(2026, 2, 28, 12, 0), minute(2026, 2, 27, 12, 0)
    assert last_day.mask(feb_28, feb_28)[0] and not last_day.mask(feb_27, feb_27)[0]
    first_week_of_q1 = TimeInterval.model_validate(
        {"days_of_month": ["1:7"], "months": ["january:march"], "years": ["2026"]}
    )
    assert first_week_of_q1.mask(minute(2026, 3, 7, 23, 59), minute(2026, 3, 7, 23, 59))[0]
    assert not first_week_of_q1.mask(minute(2026, 4, 1, 0, 0), minute(2026, 4, 1, 0, 0))[0]
    assert not first_week_of_q1.mask(minute(2027, 1, 1, 0, 0), minute(2027, 1, 1, 0, 0))[0]


def test_weekday_range_can_wrap_the_week() -> None:
    weekend = TimeInterval.model_validate({"weekdays": ["saturday:sunday"]})
    friday_to_monday = TimeInterval.model_validate({"weekdays": ["friday:monday"]})
    sunday, tuesday = minute(2026, 3, 8, 12, 0), minute(2026, 3, 3, 12, 0)
    assert weekend.mask(sunday, sunday)[0] and friday_to_monday.mask(sunday, sunday)[0]
    assert not friday_to_monday.mask(tuesday, tuesday)[0]


@pytest.mark.parametrize(
    "bad",
    [
        {"weekdays": ["funday"]},
        {"times": [{"start_time": "22:00", "end_time": "06:00"}]},
        {"times": [{"start_time": "25:00", "end_time": "26:00"}]},
        {"location": "Mars/Olympus"},
        {"days_of_month": ["0"]},
        {"months": ["13"]},
    ],
)
def test_invalid_intervals_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TimeInterval.model_validate(bad)


def test_calendar_period_starts_in_local_time() -> None:
    at = minute(2026, 3, 1, 3, 0)  # Saturday 2026-02-28 21:00 in Chicago (UTC-6)
    assert period_start_minute(at, "month", "America/Chicago") == minute(2026, 2, 1, 6, 0)
    assert period_start_minute(at, "month", "UTC") == minute(2026, 3, 1, 0, 0)
    assert period_start_minute(at, "week", "UTC") == minute(2026, 2, 23, 0, 0)  # the Monday before
    assert period_start_minute(at, "quarter", "UTC") == minute(2026, 1, 1, 0, 0)
    assert period_start_minute(at, "day", "America/Chicago") == minute(2026, 2, 28, 6, 0)
    assert period_start_minute(at, "year", "UTC") == minute(2026, 1, 1, 0, 0)

"""Time intervals as SLAs use them: vectorised masks over minutes, and errors in SLA files.

The same module serves alerting (``tests/alerts/test_timeintervals.py``); here the focus is the
minute masks an SLA window is scored with, local time across daylight-saving switches, and
calendar periods.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from slas.loading import load_sla_path
from slas.localtime import period_start_minute
from vitals.kernel.configfile import ConfigError
from vitals.kernel.localtime import local_minutes
from vitals.kernel.timeintervals import TimeInterval, TimeIntervalError


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
    assert interval.mask(lo, lo + 2).tolist() == [False, True, True]
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


@pytest.mark.parametrize(
    ("zone", "lo"),
    [
        ("Australia/Lord_Howe", minute(2026, 4, 4, 14, 0)),  # +11 -> +10:30 at 15:00 UTC
        ("Australia/Lord_Howe", minute(2026, 10, 3, 15, 0)),  # +10:30 -> +11 at 15:30 UTC
        ("America/New_York", minute(2026, 3, 8, 6, 0)),
        ("Asia/Kathmandu", minute(2026, 1, 1, 0, 0)),  # +05:45 all year
    ],
)
def test_local_minutes_are_exact_across_half_hour_switches(zone: str, lo: int) -> None:
    hi = lo + 3 * 60
    expected = []
    for utc in range(lo, hi + 1):
        offset = datetime.fromtimestamp(utc * 60, tz=ZoneInfo(zone)).utcoffset()
        assert offset is not None
        expected.append(utc + int(offset.total_seconds()) // 60)
    assert local_minutes(zone, lo, hi).tolist() == expected
    # a window that starts inside the switching hour
    assert local_minutes(zone, lo + 37, hi).tolist() == expected[37:]


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


def test_a_weekend_across_the_week_boundary_is_two_ranges() -> None:
    # Alertmanager's weeks run Sunday to Saturday and ranges do not wrap: friday:monday is refused
    with pytest.raises(TimeIntervalError, match="does not wrap"):
        TimeInterval.from_json({"weekdays": ["friday:monday"]})
    friday_to_monday = TimeInterval.from_json({"weekdays": ["friday:saturday", "sunday:monday"]})
    sunday, tuesday = minute(2026, 3, 8, 12, 0), minute(2026, 3, 3, 12, 0)
    assert friday_to_monday.mask(sunday, sunday)[0]
    assert not friday_to_monday.mask(tuesday, tuesday)[0]


def test_a_mask_agrees_with_contains_when_the_clock_goes_back() -> None:
    interval = TimeInterval.from_json(
        {
            "times": [{"start_time": "01:30", "end_time": "03:15"}],
            "weekdays": ["sunday"],
            "days_of_month": ["1"],
            "location": "America/New_York",
        }
    )
    lo = minute(2026, 10, 31, 0, 0)  # New York's clocks go back at 02:00 EDT on Sunday 1 November
    hi = lo + 2 * 24 * 60
    mask = interval.mask(lo, hi)
    assert mask.tolist() == [interval.contains(m * 60 + 59) for m in range(lo, hi + 1)]
    # 01:30-02:00 twice (EDT, then EST) and 02:00-03:15 once
    assert int(np.count_nonzero(mask)) == 30 + 30 + 75


SLA_FILE = """\
time_intervals:
  - name: clinic-hours
    time_intervals:
      - weekdays: [monday:friday]
        times: [{{start_time: {start}, end_time: 17:00}}]
        location: {location}
slas:
  - id: charge-lag
    title: Charges post within the hour
    domain: revenue-cycle
    owner: revenue-integrity
    priority: P2
    objective: 99%
    window: 7d
    sli:
      freshness:
        select: {{span: charge.posted}}
        max_age: 1h
        during: clinic-hours
"""


def sla_issues(tmp_path: Path, start: str, location: str) -> list[str]:
    path = tmp_path / "charges.yaml"
    path.write_text(SLA_FILE.format(start=start, location=location))
    try:
        load_sla_path(path)
    except ConfigError as exc:
        return [str(issue).removeprefix(f"{tmp_path}/") for issue in exc.issues]
    return []


def test_sla_file_intervals_load_and_refuse_like_alertmanager(tmp_path: Path) -> None:
    assert sla_issues(tmp_path, "08:00", "America/Chicago") == []
    nine, unresolved = sla_issues(tmp_path, "9:00", "UTC")  # the reference then finds no interval
    assert nine.startswith("charges.yaml:5: time_intervals[0].time_intervals[0].times[0].start_time: ")
    assert "couldn't parse '9:00'" in nine and "unknown time interval 'clinic-hours'" in unresolved
    local, _ = sla_issues(tmp_path, "08:00", "Local")
    assert local.startswith("charges.yaml:6: time_intervals[0].time_intervals[0].location: Local ")


def test_calendar_period_starts_in_local_time() -> None:
    at = minute(2026, 3, 1, 3, 0)  # Saturday 2026-02-28 21:00 in Chicago (UTC-6)
    assert period_start_minute(at, "month", "America/Chicago") == minute(2026, 2, 1, 6, 0)
    assert period_start_minute(at, "month", "UTC") == minute(2026, 3, 1, 0, 0)
    assert period_start_minute(at, "week", "UTC") == minute(2026, 2, 23, 0, 0)  # the Monday before
    assert period_start_minute(at, "quarter", "UTC") == minute(2026, 1, 1, 0, 0)
    assert period_start_minute(at, "day", "America/Chicago") == minute(2026, 2, 28, 6, 0)
    assert period_start_minute(at, "year", "UTC") == minute(2026, 1, 1, 0, 0)

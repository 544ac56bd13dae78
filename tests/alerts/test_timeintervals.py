"""Time intervals as alerting uses them: Alertmanager's semantics, and its refusals as config errors.

Cases come from Alertmanager's ``timeinterval/timeinterval.go`` (validation) and its documented
examples; the SLA side of the same module is tested in ``tests/slas/test_intervals.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts import config
from alerts.grouping import is_muted
from vitals.kernel.configfile import ConfigError
from vitals.kernel.timeintervals import TimeInterval, TimeIntervalError


def ts(text: str, zone: str = "UTC") -> float:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC if zone == "UTC" else ZoneInfo(zone)).timestamp()


BUSINESS_HOURS = {"times": [{"start_time": "09:00", "end_time": "17:00"}], "weekdays": ["monday:friday"]}


@pytest.mark.parametrize(
    ("spec", "moment", "inside"),
    [
        (BUSINESS_HOURS, "2026-11-24 09:00", True),  # a Tuesday; start inclusive
        (BUSINESS_HOURS, "2026-11-24 16:59:59", True),
        (BUSINESS_HOURS, "2026-11-24 17:00", False),  # end exclusive
        (BUSINESS_HOURS, "2026-11-24 08:59", False),
        (BUSINESS_HOURS, "2026-11-28 12:00", False),  # Saturday
        ({"times": [{"start_time": "17:00", "end_time": "24:00"}]}, "2026-11-24 23:59", True),
        ({"weekdays": ["sunday"]}, "2026-11-29 00:00", True),  # the week starts on Sunday
        ({"weekdays": ["Saturday", "SUNDAY"]}, "2026-11-27 23:59", False),  # names in any case
        ({"weekdays": ["sunday:saturday"]}, "2026-11-27 23:59", True),
        ({"days_of_month": ["1:5"]}, "2026-11-05 12:00", True),
        ({"days_of_month": ["1:5"]}, "2026-11-06 00:00", False),
        ({"days_of_month": [7]}, "2026-11-07 00:00", True),  # YAML numbers are accepted, as in Go's YAML
        ({"days_of_month": ["-1"]}, "2026-02-28 10:00", True),  # last day of a 28-day February
        ({"days_of_month": ["-1"]}, "2028-02-28 10:00", False),  # leap year: 29 is the last
        ({"days_of_month": ["-3:-1"]}, "2026-11-28 00:00", True),
        ({"days_of_month": ["-3:-1"]}, "2026-11-27 23:59", False),
        ({"days_of_month": ["1:31"]}, "2026-02-28 10:00", True),  # clamped to the month
        ({"days_of_month": ["30:31"]}, "2026-02-28 10:00", False),  # starts after the month's end
        ({"days_of_month": ["-31:-30"]}, "2026-02-01 10:00", False),  # before the month's start
        ({"months": ["january:march", "12"]}, "2026-12-01 00:00", True),
        ({"months": ["may:august"]}, "2026-11-01 00:00", False),
        ({"years": ["2020:2025", "2027"]}, "2026-06-01 00:00", False),
        ({"years": ["2026"]}, "2026-06-01 00:00", True),
        ({}, "2026-06-01 00:00", True),  # no fields: always
        ({"times": []}, "2026-06-01 00:00", False),  # a field given as an empty list: never
        ({"weekdays": []}, "2026-06-01 00:00", False),
        ({"location": ""}, "2026-06-01 00:00", True),  # Go's LoadLocation(""): UTC
    ],
)
def test_contains(spec: dict[str, Any], moment: str, inside: bool) -> None:
    assert TimeInterval.from_json(spec).contains(ts(moment)) is inside


def test_location_shifts_the_clock() -> None:
    chicago = TimeInterval.from_json({**BUSINESS_HOURS, "location": "America/Chicago"})
    assert chicago.contains(ts("2026-11-24 09:30", "America/Chicago"))
    assert not chicago.contains(ts("2026-11-24 09:30"))  # 09:30 UTC is 03:30 in Chicago
    # Friday 20:00 in Chicago is Saturday 02:00 UTC: the weekday is the local one
    assert not chicago.contains(ts("2026-11-27 20:00", "America/Chicago"))
    saturday_utc_friday_local = TimeInterval.from_json(
        {"weekdays": ["friday"], "location": "America/Chicago"}
    )
    assert saturday_utc_friday_local.contains(ts("2026-11-28 02:00"))


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        # Alertmanager's validTime is ^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)
        ({"times": [{"start_time": "9:00", "end_time": "10:00"}]}, "couldn't parse '9:00'"),
        ({"times": [{"start_time": "09:00", "end_time": "24:01"}]}, "couldn't parse '24:01'"),
        ({"times": [{"start_time": " 09:00", "end_time": "10:00"}]}, "couldn't parse ' 09:00'"),
        ({"times": [{"start_time": "17:00", "end_time": "09:00"}]}, "cannot cross midnight"),
        ({"times": [{"start_time": "24:00", "end_time": "24:00"}]}, "must be before end_time"),
        ({"times": [{"start_time": "09:00"}]}, "times[0].end_time: Field required"),
        ({"times": [{"start_time": 540, "end_time": "10:00"}]}, "put the time in quotes"),
        ({"weekdays": ["friday:monday"]}, "does not wrap"),
        ({"weekdays": ["funday"]}, "not a valid weekday"),
        ({"weekdays": ["1"]}, "not a valid weekday"),  # weekdays are names only
        ({"weekdays": ["monday:tuesday:friday"]}, "couldn't parse range"),
        ({"days_of_month": ["0"]}, "0 is not a valid day of the month"),
        ({"days_of_month": ["32"]}, "32 is not a valid day of the month"),
        ({"days_of_month": ["-3:5"]}, "must be negative"),
        ({"days_of_month": ["10:2"]}, "always before the start day"),
        ({"days_of_month": ["-1:-3"]}, "always before the start day"),
        ({"days_of_month": ["1_0"]}, "not a valid day of the month"),  # what Go's Atoi refuses
        ({"months": ["march:january"]}, "before the start month"),
        ({"months": ["13"]}, "13 is not a valid month"),  # Vitals: Alertmanager would never match it
        ({"years": ["2030:2020"]}, "before the start year"),
        ({"years": ["0"]}, "0 is not a valid year"),  # Vitals: as months
        ({"location": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"location": "Local"}, "Local (the zone of whichever machine evaluates it) is not accepted"),
        ({"weekday": ["monday"]}, "weekday: unknown field"),
        ({"weekdays": "monday:friday"}, "weekdays: give a list, as Alertmanager does: [monday:friday]"),
    ],
)
def test_refused(spec: dict[str, Any], reason: str) -> None:
    with pytest.raises(TimeIntervalError) as info:
        TimeInterval.from_json(spec)
    assert reason in str(info.value)


def test_local_names_this_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Lisbon")
    with pytest.raises(TimeIntervalError, match="this machine's zone is Europe/Lisbon"):
        TimeInterval.from_json({"location": "Local"})


def test_round_trip_in_alertmanagers_spelling() -> None:
    spec = TimeInterval.from_json(
        {
            **BUSINESS_HOURS,
            "days_of_month": ["-3:-1", 15],
            "months": ["may:june"],
            "years": ["2026"],
            "location": "Europe/Paris",
        }
    )
    assert spec.to_json() == {
        "times": [{"start_time": "09:00", "end_time": "17:00"}],
        "weekdays": ["monday:friday"],
        "days_of_month": ["-3:-1", "15"],
        "months": ["5:6"],  # Alertmanager marshals months as numbers
        "years": ["2026"],
        "location": "Europe/Paris",
    }
    assert TimeInterval.from_json(spec.to_json()) == spec


ALERTS = """\
route:
  receiver: default
  routes:
    - receiver: default
      mute_time_intervals: [hours]
receivers: [{{name: default}}]
time_intervals:
  - name: hours
    time_intervals:
      - weekdays: [monday:friday]
        times:
          - start_time: {start}
            end_time: 17:00
        location: {location}
"""


def config_issues(start: str = "09:00", location: str = "UTC") -> list[str]:
    try:
        config.parse(ALERTS.format(start=start, location=location), "alerts.yaml")
    except ConfigError as exc:
        return [str(issue) for issue in exc.issues]
    return []


def test_an_alertmanager_config_with_unquoted_times_loads() -> None:
    # Go's YAML reads 09:00 and 17:00 as text; so does Vitals (YAML 1.1 would read 17:00 as 1020).
    assert config_issues() == []
    cfg = config.parse(ALERTS.format(start="09:00", location="America/Chicago"))
    (hours,) = cfg.time_intervals["hours"]
    assert hours.to_json()["times"] == [{"start_time": "09:00", "end_time": "17:00"}]
    assert hours.contains(ts("2026-11-24 16:59", "America/Chicago"))


def test_nine_oclock_without_a_leading_zero_is_a_config_error_at_its_line() -> None:
    # Alertmanager: "couldn't parse timestamp 9:00, invalid format"
    (issue,) = config_issues(start="9:00")
    assert issue.startswith(
        "alerts.yaml:12: time_intervals[0].time_intervals[0].times[0].start_time: couldn't parse '9:00'"
    )


def test_local_is_a_config_error_at_its_line() -> None:
    (issue,) = config_issues(location="Local")
    assert issue.startswith("alerts.yaml:14: time_intervals[0].time_intervals[0].location: Local ")


def test_intervals_mute_a_route() -> None:
    cfg = config.parse(ALERTS.format(start="09:00", location="UTC"))
    (route,) = cfg.route.routes
    assert is_muted(route.opts, ts("2026-11-24 10:00"), cfg.time_intervals)
    assert not is_muted(route.opts, ts("2026-11-28 10:00"), cfg.time_intervals)

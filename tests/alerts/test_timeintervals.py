"""Time-interval tables (cases from Alertmanager's documented semantics)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts.timeintervals import spec_from_json, spec_to_json


def ts(text: str, zone: str = "UTC") -> float:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC if zone == "UTC" else ZoneInfo(zone)).timestamp()


BUSINESS_HOURS = {"times": [{"start_time": "09:00", "end_time": "17:00"}], "weekdays": ["monday:friday"]}


@pytest.mark.parametrize(
    ("spec", "moment", "inside"),
    [
        (BUSINESS_HOURS, "2026-11-24 09:00", True),  # a Tuesday; start inclusive
        (BUSINESS_HOURS, "2026-11-24 16:59", True),
        (BUSINESS_HOURS, "2026-11-24 17:00", False),  # end exclusive
        (BUSINESS_HOURS, "2026-11-24 08:59", False),
        (BUSINESS_HOURS, "2026-11-28 12:00", False),  # Saturday
        ({"times": [{"start_time": "17:00", "end_time": "24:00"}]}, "2026-11-24 23:59", True),
        ({"weekdays": ["sunday"]}, "2026-11-29 00:00", True),  # the week starts on Sunday
        ({"weekdays": ["Saturday", "sunday"]}, "2026-11-27 23:59", False),  # names are case-insensitive
        ({"days_of_month": ["1:5"]}, "2026-11-05 12:00", True),
        ({"days_of_month": ["1:5"]}, "2026-11-06 00:00", False),
        ({"days_of_month": ["-1"]}, "2026-02-28 10:00", True),  # last day of a 28-day February
        ({"days_of_month": ["-1"]}, "2028-02-28 10:00", False),  # leap year: 29 is the last
        ({"days_of_month": ["-3:-1"]}, "2026-11-28 00:00", True),
        ({"days_of_month": ["-3:-1"]}, "2026-11-27 23:59", False),
        ({"days_of_month": ["1:31"]}, "2026-02-28 10:00", True),  # clamped to the month
        ({"days_of_month": ["30:31"]}, "2026-02-28 10:00", False),  # starts after the month's end
        ({"months": ["january:march", "12"]}, "2026-12-01 00:00", True),
        ({"months": ["may:august"]}, "2026-11-01 00:00", False),
        ({"years": ["2020:2025", "2027"]}, "2026-06-01 00:00", False),
        ({"years": ["2026"]}, "2026-06-01 00:00", True),
        ({}, "2026-06-01 00:00", True),  # no fields: always
    ],
)
def test_contains_utc(spec: dict[str, Any], moment: str, inside: bool) -> None:
    assert spec_from_json(spec).contains(ts(moment)) is inside


def test_location_shifts_the_clock() -> None:
    chicago = spec_from_json({**BUSINESS_HOURS, "location": "America/Chicago"})
    assert chicago.contains(ts("2026-11-24 09:30", "America/Chicago"))
    assert not chicago.contains(ts("2026-11-24 09:30"))  # 09:30 UTC is 03:30 in Chicago
    # Monday 20:00 in Chicago is Tuesday 02:00 UTC: still Monday business-hours logic applies locally
    assert not chicago.contains(ts("2026-11-24 20:00", "America/Chicago"))


@pytest.mark.parametrize(
    "spec",
    [
        {"weekdays": ["friday:monday"]},
        {"weekdays": ["funday"]},
        {"days_of_month": ["0"]},
        {"days_of_month": ["32"]},
        {"days_of_month": ["-3:5"]},
        {"days_of_month": ["10:2"]},
        {"months": ["13"]},
        {"months": ["march:january"]},
        {"years": ["2030:2020"]},
        {"times": [{"start_time": "17:00", "end_time": "09:00"}]},
        {"times": [{"start_time": "9:00", "end_time": "10:00"}]},
        {"times": [{"start_time": "24:00", "end_time": "24:00"}]},
        {"location": "Mars/Olympus_Mons"},
    ],
)
def test_invalid_specs(spec: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        spec_from_json(spec)


def test_round_trip() -> None:
    spec = spec_from_json(
        {
            **BUSINESS_HOURS,
            "days_of_month": ["-3:-1"],
            "months": ["may:june"],
            "years": ["2026"],
            "location": "Europe/Paris",
        }
    )
    assert spec_from_json(spec_to_json(spec)) == spec

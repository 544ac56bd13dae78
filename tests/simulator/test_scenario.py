from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator.calendar import ZONE
from simulator.scenario import GROUND_TRUTH, load_scenario, parse_at, parse_scenario
from vitals.kernel.configfile import ConfigError

NOW = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Chicago (CDT)


def test_default_scenario_schedules_the_five_incidents_of_the_brief() -> None:
    scenario = load_scenario()
    kinds = {incident.kind for incident in scenario.incidents}
    assert kinds == set(GROUND_TRUTH)
    effects = {effect.kind: effect for effect in scenario.expected_effects(NOW)}
    assert effects["gl-posting-outage"].slas == ("gl-posting-errors",)
    assert (effects["gl-posting-outage"].end - effects["gl-posting-outage"].start).total_seconds() == 120 * 60
    assert effects["charge-interface-stall"].slas == ("queue-backlog-age", "queue-stuck")
    assert effects["charge-interface-stall"].slice == {"queue": "charges-outbound"}
    assert effects["adt-silence"].slas == ("adt-interface-silence",)
    assert effects["adt-silence"].slice == {"hc.facility": "south-campus"}
    assert (effects["adt-silence"].end - effects["adt-silence"].start).total_seconds() == 120 * 60
    assert effects["denial-spike"].slas == ("initial-denial-rate",)
    spike = next(i for i in scenario.incidents if i.kind == "denial-spike")
    assert spike.payer is None and spike.rate == 0.5  # every payer: enough to spend a week's budget
    assert effects["inventory-sync-delay"].slas == ("implant-inventory-sync-lag",)
    # every incident but the stall has ended before "now"; the stall is under way
    for effect in effects.values():
        if effect.kind == "charge-interface-stall":
            assert effect.start < NOW < effect.end
        else:
            assert effect.end < NOW
            assert NOW.timestamp() - effect.start.timestamp() <= 3 * 86400


@pytest.mark.parametrize(
    ("text", "expected_local"),
    [
        ("-30h", "2025-03-11 04:00"),
        ("+15m", "2025-03-12 10:15"),
        ("now", "2025-03-12 10:00"),
        ("-1d@10:20", "2025-03-11 10:20"),
        ("@08:00", "2025-03-12 08:00"),
        ("-2d@14:05", "2025-03-10 14:05"),
    ],
)
def test_times_relative_to_now(text: str, expected_local: str) -> None:
    assert f"{parse_at(text).resolve(NOW).astimezone(ZONE):%Y-%m-%d %H:%M}" == expected_local


def test_wall_clock_times_follow_daylight_saving() -> None:
    # DST began on 2025-03-09 in Chicago: 10:20 local is 16:20 UTC before and 15:20 UTC after.
    now = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)
    assert parse_at("-2d@10:20").resolve(now) == datetime(2025, 3, 8, 16, 20, tzinfo=UTC)
    assert parse_at("@10:20").resolve(now) == datetime(2025, 3, 10, 15, 20, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "-1.5d@10:00", "-1d@25:00", "-30x", "", "--1h"])
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected|no such time|whole days|duration"):
        parse_at(text)


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\n"
        "incidents:\n"
        "  - id: quiet\n"
        "    kind: adt-silence\n"
        "    facility: west-campus\n"
        "    at: -1d@10:00\n"
        "    duration: 25m\n"
        "  - id: outage\n"
        "    kind: gl-posting-outage\n"
        "    at: sometime\n"
        "    duration: 40m\n"
        "    colour: red\n"
    )
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    text = str(info.value)
    assert f"{path}:5: incidents[0].facility: " in text
    assert "unknown facility 'west-campus'" in text
    assert f"{path}:10: incidents[1].at: " in text
    assert f"{path}:12: incidents[1].colour: unknown field" in text


def test_unknown_kind_and_duplicate_ids_are_reported() -> None:
    with pytest.raises(
        ConfigError, match=r"<s>:3: incidents\[0\]\.kind: unknown incident kind 'meteor'; one of"
    ):
        parse_scenario("incidents:\n  - id: x\n    kind: meteor\n    at: now\n    duration: 1h\n", "<s>")
    twice = "  - {id: same, kind: gl-posting-outage, at: -1h, duration: 10m}\n"
    with pytest.raises(ConfigError, match=r"<s>:3: incidents\[1\]\.id: duplicate incident id 'same'"):
        parse_scenario("incidents:\n" + twice + twice, "<s>")


def test_durations_must_be_positive_and_rates_fractions() -> None:
    with pytest.raises(ConfigError, match="duration: must be longer than 0s"):
        parse_scenario("incidents:\n  - {id: a, kind: gl-posting-outage, at: now, duration: 0s}\n")
    with pytest.raises(ConfigError, match=r"rate: must be between 0% and 100%"):
        parse_scenario(
            "incidents:\n  - {id: a, kind: denial-spike, code: CO-197, at: now, duration: 1h, rate: 150%}\n"
        )
    with pytest.raises(ConfigError, match="CARC code"):
        parse_scenario("incidents:\n  - {id: a, kind: denial-spike, code: '197', at: now, duration: 1h}\n")

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from vitals.kernel.configfile import ConfigError, parse_yaml, validate
from vitals.kernel.units import (
    Duration,
    Fraction,
    format_duration,
    parse_duration,
    parse_fraction,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h30m", 5400), ("7d", 604800), ("2w", 1209600), ("250ms", 0.25), (30, 30)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "15", "m15", "1x", "-5m", True])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_duration_round_trip() -> None:
    for text in ["1d2h3m4s", "45m", "7d"]:
        assert format_duration(parse_duration(text)) == text


def test_fractions_and_sizes() -> None:
    assert parse_fraction("99.5%") == pytest.approx(0.995)
    assert parse_fraction(0.95) == 0.95
    assert parse_fraction(95) == 0.95
    assert parse_size("64MiB") == 64 * 1024 * 1024
    assert parse_size(10) == 10
    with pytest.raises(ValueError, match="between"):
        parse_fraction("120%")


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every: Duration
    target: Fraction = 0.99


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[_Inner]


def test_validation_errors_point_at_the_line_of_the_field() -> None:
    loaded = parse_yaml("items:\n  - every: 5m\n  - every: soon\n    target: 50%\n", "x.yaml")
    with pytest.raises(ConfigError) as caught:
        validate(_Doc, loaded)
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.field) == ("x.yaml", 3, "items[1].every")
    assert "duration" in issue.message


def test_duplicate_keys_and_syntax_errors_name_their_line() -> None:
    with pytest.raises(ConfigError, match=r"x.yaml:3: a: duplicate key"):
        parse_yaml("a: 1\nb: 2\na: 3\n", "x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml:2: .*invalid YAML"):
        parse_yaml("a: [1,\nb: }\n", "x.yaml")


def test_valid_documents_come_back_typed() -> None:
    doc = validate(_Doc, parse_yaml("items:\n  - every: 1h\n    target: 99.9%\n", "x.yaml"))
    assert doc.items[0].every == 3600
    assert doc.items[0].target == pytest.approx(0.999)

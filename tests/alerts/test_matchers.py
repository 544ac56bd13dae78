from __future__ import annotations

import pytest

from alerts.matchers import Matcher, MatcherError, format_matchers, matches_all, parse_matchers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('foo="bar"', [("foo", "=", "bar")]),
        ("foo=bar", [("foo", "=", "bar")]),
        ("foo = bar", [("foo", "=", "bar")]),
        ('{foo="bar", baz!~"q.*"}', [("foo", "=", "bar"), ("baz", "!~", "q.*")]),
        ('{foo="bar",}', [("foo", "=", "bar")]),
        ('foo="bar", dings!=bums', [("foo", "=", "bar"), ("dings", "!=", "bums")]),
        ('service=~"mysql|cassandra"', [("service", "=~", "mysql|cassandra")]),
        ("service=~mysql|cassandra", [("service", "=~", "mysql|cassandra")]),
        ('foo="bar,baz"', [("foo", "=", "bar,baz")]),
        (r'quote=~"She said: \"Hi\""', [("quote", "=~", 'She said: "Hi"')]),
        ('"hc.facility"="north-campus"', [("hc.facility", "=", "north-campus")]),
        ('foo=""', [("foo", "=", "")]),
        ("foo=", [("foo", "=", "")]),
        (
            '{\n  alertname = "Watchdog",\n  severity =~ "warning|critical",\n}',
            [("alertname", "=", "Watchdog"), ("severity", "=~", "warning|critical")],
        ),
        ("", []),
        ("{}", []),
    ],
)
def test_parse(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == expected


@pytest.mark.parametrize(
    "text",
    [
        '{foo="bar"',
        'foo="bar"}',
        "{{foo=bar}}",
        "foo",
        'foo=="bar"x',
        'foo="bar" baz="x"',
        'foo=~"("',
        'foo="unterminated',
    ],
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(MatcherError):
        parse_matchers(text)


@pytest.mark.parametrize(
    ("matcher", "labels", "matches"),
    [
        ('sev="page"', {"sev": "page"}, True),
        ('sev="page"', {"sev": "ticket"}, False),
        ('sev!="page"', {}, True),
        ('sev=""', {}, True),  # a missing label is the empty string
        ('sev=""', {"sev": "page"}, False),
        ('sev=~""', {}, True),
        ('sev!~".+"', {}, True),
        ('sev=~".+"', {}, False),
        ('sev=~"pa"', {"sev": "page"}, False),  # anchored at both ends
        ('sev=~"pa.*"', {"sev": "page"}, True),
        ('sev=~"page|ticket"', {"sev": "ticket"}, True),
        ('sev!~"page|ticket"', {"sev": "ticket"}, False),
        ('sev=~"x|y"', {"sev": "xy"}, False),  # anchoring wraps the whole alternation
    ],
)
def test_semantics(matcher: str, labels: dict[str, str], matches: bool) -> None:
    assert matches_all(parse_matchers(matcher), labels) is matches


def test_round_trip_spelling() -> None:
    matchers = parse_matchers('{a="b\\"c", "hc.x"=~"y|z"}')
    assert format_matchers(matchers) == '{a="b\\"c","hc.x"=~"y|z"}'
    assert parse_matchers(format_matchers(matchers)) == matchers
    assert Matcher.create("a", "=", "b") == parse_matchers('a="b"')[0]

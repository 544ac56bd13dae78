"""Matchers: Alertmanager's parsing, spelling and RE2 semantics (cases from its parsers and docs)."""

from __future__ import annotations

import pytest

from alerts import config
from alerts.matchers import (
    Matcher,
    MatcherError,
    format_matchers,
    go_quote,
    matches_all,
    parse_matchers,
    sort_matchers,
)
from vitals.kernel.configfile import ConfigError


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
        # classic escapes after a bare name: \" \\ \n; any other backslash is literal (regex escapes)
        (r'code=~"\d+\.\d"', [("code", "=~", r"\d+\.\d")]),
        (r'msg="a\tb\\c\nd"', [("msg", "=", "a\\tb\\c\nd")]),
        # after a quoted name the value is a Go string, as in Alertmanager's UTF-8 parser
        (r'"care team"="a\tb\u00e9\x41"', [("care team", "=", "a\tbéA")]),
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
        r'"a b"="\q"',  # not a Go escape
        r'"a b"="\xff"',  # a byte, not a character
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
        # Go's regexp defaults: "." does not match a newline, "$" is the end of the value
        ('msg=~".*"', {"msg": "line one\nline two"}, False),
        ('msg=~"(?s).*"', {"msg": "line one\nline two"}, True),
        ('msg=~"page"', {"msg": "page\n"}, False),
        ('msg=~"\\\\d+"', {"msg": "2026"}, True),
        ('msg=~"\\\\pL+"', {"msg": "Ünïcode"}, True),  # Unicode classes, matched on characters
        ('msg=~"..."', {"msg": "été"}, True),
        ('msg=~"(?i)PAGE"', {"msg": "page"}, True),
    ],
)
def test_semantics(matcher: str, labels: dict[str, str], matches: bool) -> None:
    assert matches_all(parse_matchers(matcher), labels) is matches


@pytest.mark.parametrize(
    ("regex", "reason"),
    [
        (r"(a)\1", r"invalid escape sequence: \1"),  # a backreference: Python's re accepts it
        ("foo(?=bar)", "invalid perl operator: (?="),  # lookahead
        ("(?<!x)y", "invalid perl operator: (?<"),  # lookbehind
        ("a{1001}", "invalid repetition size"),
        ("(?P<n>a)(?P=n)", "invalid perl operator: (?P"),  # a named backreference
        (r"\C", r"\C (any byte) is not allowed"),  # RE2 has it, Go's regexp does not
    ],
)
def test_perl_only_syntax_is_refused_with_re2s_reason(regex: str, reason: str) -> None:
    with pytest.raises(MatcherError) as info:
        Matcher.create("x", "=~", regex)
    assert reason in str(info.value)
    assert str(info.value).startswith(f"invalid regular expression {regex!r}")


def test_an_adversarial_pattern_matches_in_linear_time() -> None:
    # (a+)+$ against "aaaa...ab" takes exponential time with a backtracking engine (Python's re
    # would not return for minutes); RE2 answers at once, and correctly.
    long_a = "a" * 50_000
    greedy = Matcher.create("msg", "=~", "(a+)+$")
    assert greedy.matches({"msg": long_a})
    assert not greedy.matches({"msg": long_a + "b"})
    nested = Matcher.create("msg", "!~", "(a|aa)*c")
    assert nested.matches({"msg": long_a})
    assert not Matcher.create("msg", "=~", "(x+x+)+y").matches({"msg": "x" * 10_000})


def test_alertmanagers_spelling_and_order() -> None:
    matchers = parse_matchers(r'{z="b\"c", "hc.x"=~"y|z", "care team"!="a\tb", z!="b\"c", z="a"}')
    # Matcher.String(): bare names unless they hold a reserved character; OpenMetrics escaping
    # of bare names' values; Go quoting of both otherwise
    assert [str(m) for m in matchers] == [
        r'z="b\"c"',
        'hc.x=~"y|z"',
        r'"care team"!="a\tb"',
        r'z!="b\"c"',
        'z="a"',
    ]
    # Matchers.Less(): name, then value, then = != =~ !~
    assert format_matchers(sort_matchers(matchers)) == (
        r'{"care team"!="a\tb",hc.x=~"y|z",z="a",z="b\"c",z!="b\"c"}'
    )
    assert parse_matchers(format_matchers(matchers)) == matchers
    assert Matcher.create("a", "=", "b") == parse_matchers('a="b"')[0]


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"\\', r'"say \"hi\"\\"'),
        ("tab\there\nnew", r'"tab\there\nnew"'),
        ("\x00\x07\x7f", r'"\x00\a\x7f"'),
        ("é 日本 😀", '"é 日本 😀"'),  # printable characters stay as they are
        ("nbsp\u00a0zwsp\u200b", r'"nbsp\u00a0zwsp\u200b"'),  # Go's strconv.IsPrint says no
        ("\U000e0001", r'"\U000e0001"'),
    ],
)
def test_go_quote_is_strconv_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


BAD_REGEXES = """\
route:
  receiver: default
  routes:
    - receiver: default
      matchers:
        - severity="page"
        - 'service=~"(a)\\\\1"'
    - receiver: default
      match_re:
        service: 'x(?=y)'
receivers: [{name: default}]
inhibit_rules:
  - source_match_re: {alertname: '(?<!x)y'}
    target_matchers: ['sla=~"ok"']
"""


def test_invalid_re2_in_a_config_names_file_line_and_field() -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(BAD_REGEXES, "alerts.yaml")
    found = [str(issue) for issue in info.value.issues]
    assert len(found) == 3, found
    assert found[0].startswith(
        "alerts.yaml:7: route.routes[0].matchers[1]: invalid regular expression '(a)\\\\1': "
        "invalid escape sequence: \\1"
    )
    assert found[1].startswith(
        "alerts.yaml:10: route.routes[1].match_re.service: invalid regular expression '^(?:x(?=y))$'"
    )
    assert found[2].startswith(
        "alerts.yaml:13: inhibit_rules[0].source_match_re.alertname: invalid regular expression"
    )
    assert all("RE2" in issue for issue in found)

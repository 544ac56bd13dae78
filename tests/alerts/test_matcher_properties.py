"""Properties of matchers, over generated names, values and regular expressions (hypothesis)."""

from __future__ import annotations

import ast
import re

import re2
from hypothesis import given
from hypothesis import strategies as st

from alerts.matchers import Matcher, Op, format_matchers, go_quote, parse_matchers, sort_matchers
from tests.support.properties import PROPERTIES

#: Any character a label can hold (surrogates are not characters and cannot be UTF-8).
TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
NAMES = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=8)
#: Values drawn from few characters, so generated regexes match them often.
VALUES = st.text(alphabet="ab-0é\n", max_size=8)

_ATOMS = st.sampled_from(["a", "b", "-", "0", "é", "\\n", ".", "[ab]", "[^a]", "[0-9]", "\\d", "(?:)"])


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, inner).map("".join),
        st.tuples(inner, inner).map("|".join),
        inner.map(lambda r: f"(?:{r})"),
        inner.map(lambda r: f"({r})"),
        st.tuples(inner, st.sampled_from(["*", "+", "?", "{0,2}", "{2}", "*?"])).map(
            lambda p: f"(?:{p[0]}){p[1]}"
        ),
    )


#: Regular expressions in the syntax RE2 and Python's re share (no lookaround, no backreferences).
REGEXES = st.recursive(_ATOMS, _extend, max_leaves=8)
OPS: st.SearchStrategy[Op] = st.sampled_from(["=", "!=", "=~", "!~"])


@st.composite
def matchers(draw: st.DrawFn) -> Matcher:
    op = draw(OPS)
    value = draw(REGEXES | TEXT.map(re2.escape)) if op in ("=~", "!~") else draw(TEXT)
    return Matcher.create(draw(NAMES), op, value)


@PROPERTIES
@given(st.lists(matchers(), max_size=4))
def test_alertmanagers_spelling_reads_back_to_the_same_matchers(ms: list[Matcher]) -> None:
    assert parse_matchers(format_matchers(ms)) == ms
    for m in ms:
        assert parse_matchers(str(m)) == [m]


@PROPERTIES
@given(REGEXES, VALUES)
def test_regex_matchers_agree_with_re2_fullmatch(regex: str, value: str) -> None:
    expected = re2.fullmatch(regex, value) is not None
    assert Matcher.create("x", "=~", regex).matches({"x": value}) is expected
    # ...and with Python's re, on the syntax both share (RE2 differs only by refusing more)
    assert (re.fullmatch(regex, value) is not None) is expected


@PROPERTIES
@given(NAMES, REGEXES | TEXT, st.none() | VALUES | TEXT)
def test_negations_are_complements(name: str, value: str, actual: str | None) -> None:
    labels = {} if actual is None else {name: actual}
    assert Matcher.create(name, "!=", value).matches(labels) is not Matcher.create(name, "=", value).matches(
        labels
    )
    try:
        positive = Matcher.create(name, "=~", value)
    except ValueError:
        return  # not a regular expression (the text strategy); nothing to negate
    assert Matcher.create(name, "!~", value).matches(labels) is not positive.matches(labels)


@PROPERTIES
@given(NAMES, REGEXES | TEXT.map(re2.escape), VALUES)
def test_a_missing_label_matches_as_the_empty_string(name: str, value: str, other: str) -> None:
    for op in ("=", "!=", "=~", "!~"):
        m = Matcher.create(name, op, value)
        assert m.matches({}) is m.matches({name: ""}) is m.matches({f"not-{name}": other})


@PROPERTIES
@given(st.lists(matchers(), max_size=6), st.data())
def test_alertmanagers_order_does_not_depend_on_the_order_written(
    ms: list[Matcher], data: st.DataObject
) -> None:
    ordered = sort_matchers(ms)
    assert sort_matchers(data.draw(st.permutations(ms))) == ordered
    assert [m.sort_key for m in ordered] == sorted(m.sort_key for m in ms)


@PROPERTIES
@given(TEXT)
def test_go_quote_reads_back_as_a_python_literal(text: str) -> None:
    # Go's strconv.Quote uses escapes Python's string literals share (\a \x.. \u.... \U........)
    quoted = go_quote(text)
    assert ast.literal_eval(quoted) == text
    assert quoted.isprintable()

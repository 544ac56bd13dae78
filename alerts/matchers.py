"""Label matchers with Alertmanager's syntax and semantics.

``name op value`` where op is ``=``, ``!=``, ``=~`` or ``!~``; regexes are anchored at both ends;
a missing label matches as the empty string. Several matchers may share one string, comma
separated and optionally wrapped in braces (``{a="b", c=~"d|e"}``), as in Alertmanager's config,
amtool and silences. Names and values may be double-quoted (Go escapes) or bare.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]
_OPS: tuple[Op, ...] = ("=~", "!~", "!=", "=")  # longest first
_RESERVED_NAME = set(" \t\r\n{}!=~,\\\"'`")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}


class MatcherError(ValueError):
    """A matcher that cannot be parsed or whose regex does not compile."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, op: Op, value: str) -> Matcher:
        if not name:
            raise MatcherError("a matcher needs a label name")
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(f"^(?:{value})$", re.DOTALL)
            except re.error as exc:
                raise MatcherError(f"invalid regular expression {value!r}: {exc}") from exc
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "") or ""
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        found = self._regex.match(actual) is not None
        return found if self.op == "=~" else not found

    def matches_empty(self) -> bool:
        return self.matches({})

    def __str__(self) -> str:
        return f"{_quote_name(self.name)}{self.op}{_quote(self.value)}"


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _quote_name(name: str) -> str:
    if re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name):
        return name
    return _quote(name)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def format_matchers(matchers: Sequence[Matcher]) -> str:
    """Alertmanager's canonical spelling, e.g. ``{severity="page",sla=~"gl-.*"}``."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def error(self, message: str) -> MatcherError:
        return MatcherError(f"{message} at position {self.pos + 1} of {self.text!r}")

    def quoted(self) -> str:
        assert self.peek() == '"'
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.error("unterminated double-quoted string")
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\" and self.pos < len(self.text):
                nxt = self.text[self.pos]
                if nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                    self.pos += 1
                    continue
                out.append("\\")  # a lone backslash stays literal (classic matchers allow it)
                continue
            out.append(char)

    def name(self) -> str:
        self.skip_space()
        if self.peek() == '"':
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _RESERVED_NAME:
            self.pos += 1
        if start == self.pos:
            raise self.error("expected a label name")
        return self.text[start : self.pos]

    def op(self) -> Op:
        self.skip_space()
        for op in _OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        raise self.error("expected one of =, !=, =~, !~")

    def value(self, closing: str) -> str:
        self.skip_space()
        if self.peek() == '"':
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in {",", closing, '"'}:
            self.pos += 1
        if self.peek() == '"':
            raise self.error("unexpected double quote inside a bare value (quote the whole value)")
        return self.text[start : self.pos].strip()


def parse_matchers(text: str) -> list[Matcher]:
    """Parse ``a="b", c=~"d"`` or ``{a="b", c=~"d"}`` into matchers (empty input: none)."""
    reader = _Reader(text)
    reader.skip_space()
    braces = reader.peek() == "{"
    if braces:
        reader.pos += 1
    closing = "}" if braces else "\x00"
    out: list[Matcher] = []
    while True:
        reader.skip_space()
        if braces and reader.peek() == "}":
            reader.pos += 1
            break
        if not reader.peek():
            if braces:
                raise reader.error("missing closing brace")
            break
        name = reader.name()
        op = reader.op()
        value = reader.value(closing)
        out.append(Matcher.create(name, op, value))
        reader.skip_space()
        if reader.peek() == ",":
            reader.pos += 1
            continue
        if braces and reader.peek() == "}":
            reader.pos += 1
            break
        if reader.peek():
            raise reader.error("expected a comma between matchers")
    reader.skip_space()
    if reader.peek():
        if reader.peek() == "}":
            raise reader.error("closing brace without an opening one")
        raise reader.error("unexpected text after the matchers")
    return out


def parse_matcher_list(items: Iterable[str]) -> list[Matcher]:
    """A YAML list of matcher strings (each may hold several), ANDed together."""
    out: list[Matcher] = []
    for item in items:
        out.extend(parse_matchers(item))
    return out


def from_equality_map(match: Mapping[str, str], match_re: Mapping[str, str]) -> list[Matcher]:
    """Alertmanager's deprecated ``match``/``match_re`` maps as matchers."""
    out = [Matcher.create(k, "=", str(v)) for k, v in sorted(match.items())]
    out += [Matcher.create(k, "=~", str(v)) for k, v in sorted(match_re.items())]
    return out

"""Label matchers with Alertmanager's syntax and semantics.

``name op value`` where op is ``=``, ``!=``, ``=~`` or ``!~``; a missing label matches as the
empty string. Several matchers may share one string, comma separated and optionally wrapped in
braces (``{a="b", c=~"d|e"}``), as in Alertmanager's config, amtool and silences.

Regular expressions are RE2, as Alertmanager's are (Go's ``regexp`` is RE2), anchored the same
way (``^(?:value)$``) with the same defaults (``.`` does not match a newline, ``$`` is the end of
the value). RE2 matches in time linear in the value's length whatever the pattern, so no regex
posted through a silence or written in a config can make matching slow; constructs that need
backtracking (backreferences such as ``(a)\\1``, lookaround such as ``(?=x)``) are refused, as
Alertmanager refuses them, with RE2's reason.

Quoting follows Alertmanager's parsers: after a bare label name a quoted value knows only the
escapes ``\\"``, ``\\\\`` and ``\\n`` (any other backslash is literal, so ``"\\d+"`` is the regex
``\\d+``); a quoted label name (needed when it holds a space, a brace, ``!``, ``=``, ``~``, a comma
or a quote) and the value after it are Go strings, with Go's escapes. ``str(matcher)`` prints
Alertmanager's spelling, which reads back to the same matcher.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import re2

Op = Literal["=", "!=", "=~", "!~"]
_OPS: tuple[Op, ...] = ("=~", "!~", "!=", "=")  # longest first
#: Alertmanager's order of match types (``labels.MatchType``), the last key when sorting.
_OP_ORDER: dict[Op, int] = {"=": 0, "!=": 1, "=~": 2, "!~": 3}
#: Go's ``unicode.IsSpace``.
_GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
#: Characters that force a quoted label name (Alertmanager's ``isReserved``).
_RESERVED = _GO_SPACE | frozenset("{}!=~,\\\"'`")
_CLASSIC_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}
_GO_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
_GO_QUOTE = {v: f"\\{k}" for k, v in _GO_ESCAPES.items()}
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}
_HEX = frozenset("0123456789abcdefABCDEF")
_OCTAL = frozenset("01234567")

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused regex is the caller's error to report, not a log line
_RE2_OPTIONS.never_capture = True  # only "does it match" is ever asked


class MatcherError(ValueError):
    """A matcher that cannot be parsed or whose regex is not valid RE2."""


@lru_cache(maxsize=1024)
def _compile(value: str) -> Callable[[bytes], object]:
    """The anchored RE2 program of a regex value (cached: silences are re-read every cycle)."""
    if _has_escape_c(value):
        raise MatcherError(f"invalid regular expression {value!r}: \\C (any byte) is not allowed")
    try:
        program = re2.compile(f"^(?:{value})$".encode(), _RE2_OPTIONS)
    except re2.error as exc:
        reason = (
            exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        )
        raise MatcherError(
            f"invalid regular expression {value!r}: {reason} "
            "(regexes are RE2, as in Alertmanager: no backreferences or lookaround)"
        ) from None
    except UnicodeEncodeError:
        raise MatcherError(f"invalid regular expression {value!r}: not valid UTF-8") from None
    return program.match


def _has_escape_c(pattern: str) -> bool:
    """Whether the pattern uses ``\\C``, which RE2 accepts but Go's regexp (Alertmanager) refuses."""
    index, quoted = 0, False
    while index < len(pattern) - 1:
        pair = pattern[index : index + 2]
        if quoted:
            quoted = pair != "\\E"
        elif pair == "\\Q":
            quoted = True
        elif pair == "\\C":
            return True
        index += 2 if pair[0] == "\\" else 1
    return False


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    _match: Callable[[bytes], object] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, op: Op, value: str) -> Matcher:
        if not name:
            raise MatcherError("a matcher needs a label name")
        return cls(name, op, value, _compile(value) if op in ("=~", "!~") else None)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.matches_value(labels.get(self.name, "") or "")

    def matches_value(self, actual: str) -> bool:
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._match is not None
        found = self._match(_utf8(actual)) is not None
        return found if self.op == "=~" else not found

    def matches_empty(self) -> bool:
        return self.matches({})

    @property
    def sort_key(self) -> tuple[str, str, int]:
        """Alertmanager's order (``labels.Matchers.Less``): name, then value, then operator."""
        return self.name, self.value, _OP_ORDER[self.op]

    def __str__(self) -> str:
        """Alertmanager's ``Matcher.String()``."""
        if any(char in _RESERVED for char in self.name):
            return f"{go_quote(self.name)}{self.op}{go_quote(self.value)}"
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: what Alertmanager prints for quoted names and label values."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():  # the same classes as Go's strconv.IsPrint
            out.append(char)
        elif char in _GO_QUOTE:
            out.append(_GO_QUOTE[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:  # not a character: Go escapes the bytes of invalid UTF-8
            out.extend(f"\\x{byte:02x}" for byte in _utf8(char))
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def format_matchers(matchers: Sequence[Matcher]) -> str:
    """Alertmanager's ``Matchers.String()``, e.g. ``{severity="page",sla=~"gl-.*"}``."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def sort_matchers(matchers: Iterable[Matcher]) -> list[Matcher]:
    return sorted(matchers, key=lambda m: m.sort_key)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _GO_SPACE:
            self.pos += 1

    def error(self, message: str) -> MatcherError:
        return MatcherError(f"{message} at position {self.pos + 1} of {self.text!r}")

    def quoted(self, go: bool) -> str:
        """A double-quoted string: Go's escapes if ``go``, else Alertmanager's classic ones."""
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
            if char != "\\" or self.pos >= len(self.text):
                out.append(char)
            elif go:
                out.append(self.go_escape())
            elif self.text[self.pos] in _CLASSIC_ESCAPES:
                out.append(_CLASSIC_ESCAPES[self.text[self.pos]])
                self.pos += 1
            else:
                out.append("\\")  # a lone backslash stays literal, as in Alertmanager's classic parser

    def go_escape(self) -> str:
        """The character a Go escape stands for; ``pos`` is just after its backslash."""
        start, kind = self.pos - 1, self.text[self.pos]
        self.pos += 1
        if kind in _GO_ESCAPES:
            return _GO_ESCAPES[kind]
        if kind in _HEX_DIGITS:
            digits, allowed = self.text[self.pos : self.pos + _HEX_DIGITS[kind]], _HEX
            width = _HEX_DIGITS[kind]
        else:
            self.pos -= 1  # an octal escape's first digit is the character after the backslash
            digits, allowed, width = self.text[self.pos : self.pos + 3], _OCTAL, 3
        self.pos += len(digits)
        if len(digits) == width and set(digits) <= allowed:
            code = int(digits, 8 if allowed is _OCTAL else 16)
            # \x and octal escapes are bytes in Go: only ASCII ones are characters by themselves.
            if code < 0x80 or (kind in "uU" and code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF):
                return chr(code)
        self.pos = start
        raise self.error("invalid escape in a quoted label name or in the value after it (Go escapes)")

    def name(self) -> tuple[str, bool]:
        """A label name, and whether it was quoted."""
        self.skip_space()
        if self.peek() == '"':
            return self.quoted(go=True), True
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _RESERVED:
            self.pos += 1
        if start == self.pos:
            raise self.error("expected a label name")
        return self.text[start : self.pos], False

    def op(self) -> Op:
        self.skip_space()
        for op in _OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        raise self.error("expected one of =, !=, =~, !~")

    def value(self, closing: str, go: bool) -> str:
        self.skip_space()
        if self.peek() == '"':
            return self.quoted(go)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in {",", closing, '"'}:
            self.pos += 1
        if self.peek() == '"':
            raise self.error("unexpected double quote inside a bare value (quote the whole value)")
        return self.text[start : self.pos].strip("".join(_GO_SPACE))


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
        name, quoted_name = reader.name()
        op = reader.op()
        value = reader.value(closing, go=quoted_name)
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


def regex_matcher(name: str, regex: str) -> Matcher:
    """A ``match_re`` entry as Alertmanager builds it: the value is the anchored pattern itself.

    Alertmanager hands the compiled ``^(?:regex)$`` back as the matcher's value, so that is what
    route keys (and therefore group keys) show; anchoring twice matches the same values.
    """
    return Matcher.create(name, "=~", f"^(?:{regex})$")


def from_equality_map(match: Mapping[str, str], match_re: Mapping[str, str]) -> list[Matcher]:
    """Alertmanager's deprecated ``match``/``match_re`` maps as matchers."""
    out = [Matcher.create(k, "=", str(v)) for k, v in sorted(match.items())]
    out += [regex_matcher(k, str(v)) for k, v in sorted(match_re.items())]
    return out

"""Built-in detectors for the HIPAA Safe Harbor identifier kinds, and the scanner that runs them.

Two families:

* **key detectors** (``collector.phi_keys``) recognise an attribute whose *name* says it holds an
  identifier (``patient.name``, ``pid.19``, ``memberId``...), on a normalised key.
* **value detectors** (``collector.phi_shapes``) find identifiers inside free text (attribute
  values, span names, status messages, event names) by their shape, a context word, the key or
  column name in front of them (the key detectors' vocabulary), or the structure around them
  (HL7 v2, FHIR JSON, SQL). Text holding percent escapes (``jane.doe%40example.org``,
  ``Patient%3A%20Doe``) is also scanned decoded, and what is found there is replaced in the
  encoded text.

Each detector has a name used in config (``redaction.detectors``), in the ``[REDACTED:<name>]``
marker (``keyed_value`` names the key's kind instead) and in the ``rule`` label of the redaction
counter.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any, NamedTuple, cast
from urllib.parse import unquote_to_bytes

import re2

from collector.phi_keys import ALL_KEY_DETECTORS, KEY_DETECTORS, compile_key_detectors, normalize_key
from collector.phi_shapes import CHECKS, VALUE_DETECTORS, WIDE_PRE, Check, Spans


class Found(NamedTuple):
    """One identifier: ``data[start:context_end]`` is kept, ``data[context_end:end]`` is replaced
    (offsets into the UTF-8 bytes; every detector starts and ends on an ASCII character)."""

    start: int
    context_end: int
    end: int
    kind: str


class _Part:
    def __init__(self, kind: str, pattern: str, check: Check | None, wide_pre: bool) -> None:
        self.kind = kind
        self.pattern = pattern
        self.regex = re2.compile(pattern.encode())
        #: Past the start, the characters in front are searched for, never the start of the text.
        self._inside = re2.compile(pattern.replace("(?P<pre>^|", "(?P<pre>").encode())
        self.check = check
        # The wrapper's search and match object cost more than RE2 itself per candidate: the
        # scanner asks RE2 for the spans directly (groups are numbered alike in both patterns).
        self._whole = cast("Any", self.regex)._regexp
        self._later = cast("Any", self._inside)._regexp
        self._names = {name.decode(): index for name, index in self.regex.groupindex.items()}
        self._pre = self._names.get("pre", 0)
        self._ctx = self._names.get("ctx", 0)
        #: How far in front of a position its ``pre`` may begin.
        self._back = (4 if wide_pre else 1) if self._pre else 0

    def search(self, text: bytes, pos: int) -> Found | None:
        """The first identifier that starts at or after ``pos``."""
        at = pos - self._back
        while pos <= len(text):
            if at <= 0:
                spans = self._whole.Match(_UNANCHORED, text, 0, len(text))
            else:
                spans = self._later.Match(_UNANCHORED, text, at, len(text))
            whole = spans[0]
            if whole[0] < 0:
                return None
            start = spans[self._pre][1] if self._pre else whole[0]
            if start < pos:  # a context in front of ``pos`` that ends past it: look further on
                at = max(at, 0) + 1 if whole[0] < at else whole[0] + 1
                continue
            end: int = whole[1]
            context_end = spans[self._ctx][1] if self._ctx and spans[self._ctx][0] >= 0 else start
            kind = self.kind
            if self.check is not None:
                hit, again = self.check(text, Spans(spans, self._names))
                if hit is None:
                    pos = max(again, start + 1)
                    at = pos - self._back
                    continue
                if isinstance(hit, int):
                    end = hit
                else:
                    context_end, end, kind = hit
            if _marker_at(text, start, context_end):
                pos = start + 1
                at = pos - self._back
                continue
            return Found(start, context_end, end, kind)
        return None

    def glued(self, text: bytes, pos: int) -> Found | None:
        """An identifier starting right at ``pos``, where the one before it ended: seen as the
        redacted text will show it, after a marker's closing ``]`` (so that a second redaction
        finds nothing more). Looked at in a short window, widened only for a long match."""
        window = b""
        spans: Any = None
        for width in (_GLUE_WINDOW, len(text) - pos):
            window = b"]" + text[pos : pos + width]
            spans = self._whole.Match(_ANCHOR_START, window, 0 if self._pre else 1, len(window))
            if spans[0][0] < 0:
                return None
            if spans[0][1] < len(window) - _GLUE_MARGIN or width >= len(text) - pos:
                break
        start = spans[self._pre][1] if self._pre else spans[0][0]
        if start != 1:
            return None
        end: int = spans[0][1]
        context_end = spans[self._ctx][1] if self._ctx and spans[self._ctx][0] >= 0 else start
        kind = self.kind
        if self.check is not None:
            hit, _ = self.check(window, Spans(spans, self._names))
            if hit is None:
                return None
            if isinstance(hit, int):
                end = hit
            else:
                context_end, end, kind = hit
        if _marker_at(window, start, context_end):
            return None
        shift = pos - 1
        return Found(pos, context_end + shift, end + shift, kind)


def _marker_at(text: bytes, start: int, context_end: int) -> bool:
    """Whether what would be replaced is a marker, or starts inside one (``[REDACTED:mrn]`` read
    as the key ``mrn``): text that was redacted once is left as it is (idempotence)."""
    before = max(0, start - len(_MARKER))
    return text.startswith(_MARKER, context_end) or text.endswith(_MARKER, before, start)


#: Bytes looked at for an identifier glued to the one before; a match ending within the margin
#: of the window's end is looked for again in the whole rest of the text.
_GLUE_WINDOW = 256
_MARKER = b"[REDACTED:"
_GLUE_MARGIN = 64
#: What an identifier glued to the one before can start with (else the usual search finds it).
_GLUE_START = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+(")
_ANCHOR_START = cast("Any", re2)._Anchor.ANCHOR_START
_GROUP_NAME = re.compile(r"\(\?P<\w+>")
_PREFILTER_OPTIONS = re2.Options()
_PREFILTER_OPTIONS.max_mem = 64 << 20
_UNANCHORED = cast("Any", re2)._Anchor.UNANCHORED
_ESCAPE = re.compile(rb"%[0-9A-Fa-f]{2}|\+")
_PERCENT = re2.compile(rb"%[0-9A-Fa-f]{2}")


class _Decoded:
    """A percent-decoded view of a text (``%XX`` and ``+`` decoded as a query string is). Where
    each escape was is worked out only when something is found in the view: ``at`` are the
    decoded offsets, ``raw`` and ``width`` the escapes' offsets and lengths in the text."""

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.data = unquote_to_bytes(text.replace(b"+", b" "))
        self._at: list[int] = []
        self._raw: list[int] = []
        self._width: list[int] = []
        self._mapped = False

    def _map(self) -> None:
        length = cursor = 0
        for escape in _ESCAPE.finditer(self.text):
            start, end = escape.span()
            length += start - cursor
            self._at.append(length)
            self._raw.append(start)
            self._width.append(end - start)
            length += 1
            cursor = end
        self._mapped = True

    def original(self, offset: int) -> int:
        """The text's offset for a decoded offset (a character's start, or the end)."""
        if not self._mapped:
            self._map()
        i = bisect_right(self._at, offset) - 1
        if i < 0:
            return offset
        if offset == self._at[i]:
            return self._raw[i]
        return self._raw[i] + self._width[i] + offset - self._at[i] - 1


def _merged(first: list[Found], second: list[Found]) -> list[Found]:
    """Both lists as one, in order; an identifier overlapping the one before widens it."""
    out: list[Found] = []
    for item in sorted((*first, *second)):
        if out and item.start < out[-1].end:
            if item.end > out[-1].end:
                out[-1] = out[-1]._replace(end=item.end)
            continue
        out.append(item)
    return out


class ValueScanner:
    """The chosen value detectors over one text, as a leftmost-first alternation would find them:
    the identifier starting first wins, and at the same position the detector listed first."""

    def __init__(self, names: Iterable[str]) -> None:
        chosen = set(names)
        self._parts = [
            _Part(name, pattern, CHECKS.get((name, i)), (name, i) in WIDE_PRE)
            for name, patterns in VALUE_DETECTORS.items()
            if name in chosen
            for i, pattern in enumerate(patterns)
        ]
        #: Every part's pattern as one alternation: most texts hold no candidate at all, and one
        #: RE2 pass over them says so instead of one pass per part.
        self._any = (
            re2.compile(
                "|".join(f"(?:{_GROUP_NAME.sub('(?:', part.pattern)})" for part in self._parts).encode(),
                _PREFILTER_OPTIONS,
            )
            if self._parts
            else None
        )

    def _find(self, text: bytes) -> list[Found]:
        if self._any is not None and self._any.search(text) is None:
            return []
        parts = self._parts
        found: list[Found] = []
        nexts = [part.search(text, 0) for part in parts]
        cursor = 0
        while True:
            best: Found | None = None
            for i, previous in enumerate(nexts):
                candidate = previous
                if candidate is not None and candidate.start < cursor:
                    candidate = nexts[i] = parts[i].search(text, cursor)
                if candidate is not None and (best is None or candidate.start < best.start):
                    best = candidate
            glue = found and (best is None or best.start > cursor) and cursor < len(text)
            if glue and text[cursor] in _GLUE_START:
                for part in parts:
                    glued = part.glued(text, cursor)
                    if glued is not None:
                        best = glued
                        break
            if best is None:
                return found
            found.append(best)
            cursor = best.end

    def find(self, text: bytes) -> list[Found]:
        """The identifiers in the UTF-8 bytes ``text``, in order; with percent escapes in it, also
        those its decoded form holds (as offsets into ``text``)."""
        found = self._find(text)
        if not _PERCENT.search(text):
            return found
        decoded = _Decoded(text)
        original = decoded.original
        return _merged(
            found,
            [
                Found(original(item.start), original(item.context_end), original(item.end), item.kind)
                for item in self._find(decoded.data)
            ],
        )

    def redact(self, text: str) -> tuple[str, tuple[str, ...]]:
        """``text`` with every identifier replaced by ``[REDACTED:<kind>]``, and the rules that
        fired (``value.<kind>``, one per identifier)."""
        data = text.encode("utf-8", "surrogatepass")
        found = self.find(data)
        return (
            (substitute(data, found), tuple(f"value.{item.kind}" for item in found)) if found else (text, ())
        )


def substitute(data: bytes, found: Iterable[Found]) -> str:
    """The UTF-8 ``data`` as text with each found identifier (in order, not overlapping) replaced
    by ``[REDACTED:<kind>]``; its context is kept."""
    pieces: list[bytes] = []
    cursor = 0
    for item in found:
        pieces += (data[cursor : item.context_end], f"[REDACTED:{item.kind}]".encode())
        cursor = item.end
    pieces.append(data[cursor:])
    joined = b"".join(pieces)
    try:
        return joined.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # a site's pattern cut a character's bytes apart
        return joined.decode("utf-8", "replace")


ALL_VALUE_DETECTORS: frozenset[str] = frozenset(VALUE_DETECTORS)


def compile_value_detectors(names: Iterable[str]) -> ValueScanner | None:
    """A scanner for the chosen value detectors, or None when none is chosen."""
    scanner = ValueScanner(names)
    return scanner if scanner._parts else None


__all__ = [
    "ALL_KEY_DETECTORS",
    "ALL_VALUE_DETECTORS",
    "KEY_DETECTORS",
    "VALUE_DETECTORS",
    "Found",
    "ValueScanner",
    "compile_key_detectors",
    "compile_value_detectors",
    "normalize_key",
    "substitute",
]

"""What identifiers look like in free text: the value detectors, as RE2 patterns over UTF-8 bytes,
and the checks RE2 cannot express, each in constant time per match.

A value detector finds an identifier by its shape (SSN, phone, e-mail, calendar dates), by a
context word in front of it (``DOB:``, ``MRN-``, ``tel:``), by the key, column or member name in
front of it (``WHERE last_name = 'Smith'``, ``?patient_mrn=…``, ``"family": "Doe"``: the key
detectors' vocabulary, ``collector.phi_keys``), or by the structure around it (HL7 v2 segments,
the HL7 ``FAMILY^GIVEN`` name form, FHIR ``name``/``telecom``/``identifier``/``address`` lists,
``INSERT`` statements naming an identifier column). A person's name in prose with no such
context cannot be told from any other words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from collector.phi_keys import key_stems, text_key_kind

_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|(?:19|20)\d{2}[/.-]\d{1,2}[/.-]\d{1,2}|(?:19|20)\d{6}"
    r"|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}"
    r"|\d{1,2}\s+(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{4})"
)

#: Words that start another detector's context: a name never runs on into them.
_CONTEXT_WORDS = (
    r"(?i:(?:mrn|dob|d\.o\.b|ssn|date|born|birth|phone|tel|fax|email|e-mail|member|acct|account|chart)\b)"
)

_LETTERS = r"[A-Za-z'.-]"
#: SSN area, group and serial numbers that are never issued (000, 666, 9xx; 00; 0000), spelled
#: out because RE2 has no lookahead.
_SSN = (
    r"(?:00[1-9]|0[1-9]\d|[1-578]\d\d|6[0-57-9]\d|66[0-57-9])[- ](?:0[1-9]|[1-9]\d)[- ]"
    r"(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})"
)

#: Segments about a person (patient, next of kin, guarantor, insurance, merge): every field is an
#: identifier.
_HL7_PERSON = r"(?:PID|PD1|NK1|GT1|IN1|IN2|IN3|MRG)"
#: What ends an HL7 segment as it shows up in telemetry: a carriage return or line feed, the same
#: escaped in a log or JSON string (the two characters ``\r``), or ``<CR>``. HL7's own escapes
#: (``\F\``, ``\S\``, ``\R\``, ``\.br\``) stay inside the segment.
_HL7_FIELDS = r"(?:[^\r\n\\<]|\\[^rn\r\n]|<[^C\r\n]|<C[^R\r\n]|<CR[^>\r\n])*"
_HL7_BREAK = r"[\r\n\x0b\x1c]|\\[rn]|<CR>"


def _nested(depth: int) -> str:
    """A JSON array or object nested at most ``depth`` deep (brackets and braces counted alike),
    which a regular expression can say."""
    inner = r"[\[{][^\[\]{}]*[\]}]"
    for _ in range(depth - 1):
        inner = rf"[\[{{](?:[^\[\]{{}}]|{inner})*[\]}}]"
    return inner


_KEY_WORD = r"[A-Za-z][A-Za-z0-9_.\-]*"
#: A word of a key holding a word of the vocabulary: a key without one is not looked at.
_STEM_WORD = r"[A-Za-z0-9_.\-]*(?i:" + "|".join(key_stems()) + r")[A-Za-z0-9_.\-]*"
#: Up to four words, one of them holding a word of the vocabulary.
_KEY = "|".join(
    " ".join([_KEY_WORD] * before + [_STEM_WORD]) + f"(?: {_KEY_WORD}){{0,{3 - before}}}"
    for before in range(4)
)
#: ``<key> <sep> <value>``: up to four words of key (``WHERE last_name``, ``patient id``), an
#: optional closing quote or bracket of a quoted column, ``=``, ``:``, ``==``, ``:=`` or ``LIKE``,
#: then a quoted string (SQL, JSON, JSON escaped inside another JSON string), a JSON array or
#: object, or an unquoted token (URL query, form, log ``key=value``) and up to four more words.
_KEYED = (
    r"(?P<pre>^|[^A-Za-z0-9_.\-])"
    rf"(?P<ctx>(?P<key>{_KEY})(?:\\?[\"'`\])])?[ \t]*"
    r"(?P<sep>[:=]=?|[ \t](?i:like)[ \t])[ \t]*)"
    r"(?:'(?P<sq>(?:[^'\r\n]|'')+)'"
    r"|\"(?P<dq>(?:[^\"\\\r\n]|\\[^\r\n])+)\""
    r"|\\\"(?P<eq>(?:[^\"\\\r\n]|\\[^\"\r\n])+)\\\""
    rf"|(?P<nest>{_nested(6)})|(?P<open>[\[{{])"
    r"|(?P<bare>[^\s&;,:='\"<>()\[\]{}|\\^`]+)(?P<more>(?:,?[ \t]+[A-Za-z0-9][A-Za-z0-9'.\-#]*){0,4}))"
)

#: A segment of a dotted or slashed name after a segment that names an identifier, as engines
#: that name instruments or routes after the record do (``member_id/ZQH7044/claims``,
#: ``patient_name.Jane.Doe.visits``): the segment, and for a name the capitalised ones after it.
_SEGMENT_KEY = r"[A-Za-z0-9_\-]*(?i:" + "|".join(key_stems()) + r")[A-Za-z0-9_\-]*"
_SEGMENT = (
    rf"(?P<pre>^|[^A-Za-z0-9_.\-])(?P<ctx>(?P<key>{_SEGMENT_KEY})[./])"
    r"[A-Za-z0-9][A-Za-z0-9_\-]*(?P<more>(?:\.[A-Za-z][A-Za-z'\-]*){0,3})"
)

#: ``INSERT INTO t (col, …) VALUES (…), (…)``: the columns cannot be paired with the values in
#: linear time, so when any column names an identifier every value list goes.
_INSERT = (
    r"(?P<ctx>(?i:\binsert[ \t\r\n]+into)[ \t\r\n]+[A-Za-z0-9_.\"`\[\]]+[ \t\r\n]*"
    r"\((?P<cols>[^()]*)\)[ \t\r\n]*(?i:values)[ \t\r\n]*)"
    r"\((?:[^()'\"]|'[^']*'|\"[^\"]*\")*\)(?:[ \t\r\n]*,[ \t\r\n]*\((?:[^()'\"]|'[^']*'|\"[^\"]*\")*\))*"
)

#: name -> RE2 patterns, each run on its own (in this order at the same position). A ``(?P<ctx>...)``
#: group is a context prefix kept in the output; a ``(?P<pre>...)`` group is what must come in
#: front of an identifier and not be part of it (RE2 has no lookbehind), also kept.
#: What RE2 cannot say (a word that follows, a context word inside a name, whether a key names an
#: identifier) is checked in Python, in constant time per match (``CHECKS``), so every detector
#: runs in time linear in its input.
VALUE_DETECTORS: dict[str, tuple[str, ...]] = {
    # A raw HL7 v2 segment about a person: everything after the segment id goes, up to the end of
    # the segment. Inside a log line after any non-alphanumeric character with ``|``; at the start
    # of a segment, also with a custom field separator (``MSH#^~\&#``).
    "hl7_segment": (
        rf"(?P<pre>^|[^A-Za-z0-9]|\\[rn])(?P<ctx>{_HL7_PERSON}\|){_HL7_FIELDS}",
        rf"(?P<pre>^|{_HL7_BREAK})(?P<ctx>{_HL7_PERSON}[!#$%*+;?@^~]){_HL7_FIELDS}",
    ),
    # Context words first: "DOB: 1961-04-12" is a birth date before it is a date.
    "birth_date": (
        r"(?P<ctx>(?i:\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|born)\b)\s*[:=#]?\s*(?:on\s+)?)"
        + _DATE,
    ),
    # MRN:…, MRN-…, mrn#…, MRN …, MRN12345678 (after a space, a dash or nothing the identifier
    # must hold a digit: "MRN lookup failed" stays).
    "mrn": (
        r"(?P<ctx>(?i:\b(?:mrn|mr\#|med(?:ical)?\s*rec(?:ord)?s?(?:\s*(?:number|num|no\.?|\#))?"
        r"|chart\s*(?:number|num|no\.?|\#)|patient\s+(?:id|identifier|number|no\.?|\#)))"
        r"(?P<sep>\s*[:=#]\s*|\s*-\s*|\s+|)['\"]?)[A-Za-z0-9][A-Za-z0-9-]{3,}",
    ),
    "ssn": (
        rf"(?P<pre>^|[^\w-]){_SSN}",  # not followed by a word character or '-'
        r"(?P<ctx>(?i:\b(?:ssn|social\s+security(?:\s+(?:number|no\.?))?)\b)\s*[:=#]?\s*)\d{9}\b",
    ),
    "name": (
        # Up to three more words, cut before the first that is another detector's context word.
        r"(?P<ctx>(?:(?i:\b(?:patient|pt|member|subscriber|guarantor|insured|guardian)(?:'s)?"
        r"(?:\s+(?:full\s+)?name)?|\b(?:full|first|last|given|family)\s+name|^name)|\bName)\s*[:=]\s*)"
        rf"[A-Z]{_LETTERS}+(?P<more>(?:,?\s+[A-Z]{_LETTERS}*){{0,3}})",
        # HL7 XPN: FAMILY^GIVEN[^MIDDLE...]; trigger events such as ADT^A01 have digits and stay.
        r"\b[A-Za-z][A-Za-z'-]*\^(?P<given>[A-Za-z][A-Za-z'-]*)",
        # "for patient Jane Doe": with no separator, two or more capitalised words.
        r"(?P<ctx>(?i:\b(?:patient|pt|member|subscriber|guarantor|insured)(?:'s)?)[ \t]+)"
        r"[A-Z][a-z'-]+(?P<more>(?:[ \t]+[A-Z][a-z'-]+){1,3})",
    ),
    "email": (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",),
    "phone": (
        r"(?P<pre>^|[^\w+-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}",  # then no [\w-]
        r"(?P<pre>^|[^\w+])\+[1-9]\d{9,14}\b",
        # Digits only after a phone word: phone 5558675309, tel:+15558675309, fax# 555.867.5309.
        r"(?P<ctx>(?i:\b(?:phone|telephone|tel|mobile|cell|fax|pager|ph)\b\.?(?:\s*(?:number|num|no\.?|\#))?)"
        r"[ \t]*[:=#]?[ \t]*['\"]?)(?:\+?1[ .-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .-]?)\d{3}[ .-]?\d{4}",
        # A bare ten-digit NANP number (area code and exchange valid), or eleven with a leading 1;
        # ids, sizes and durations are told apart by what comes before and after (``_bare_phone``).
        r"(?P<pre>^|[^\w+.\-/:$#@%])1?[2-9][0-8]\d[2-9]\d{6}",
    ),
    # Safe Harbor removes every element of a date but the year; a date that is part of a
    # timestamp (2024-05-01T10:00) is when the telemetry happened and stays.
    "date": (
        r"\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:19|20)\d{2}\b",
        r"\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b",  # then no clock time
    ),
    # A value after a key, column or member name that names an identifier (the key detectors'
    # vocabulary and ``TEXT_KEYS``); the marker names the key's kind: ``[REDACTED:mrn]``.
    "keyed_value": (_KEYED, _INSERT, _SEGMENT),
}

#: Parts whose ``pre`` group may be longer than one character (``\r``, ``<CR>``).
WIDE_PRE: frozenset[tuple[str, int]] = frozenset({("hl7_segment", 0), ("hl7_segment", 1)})

# Scanners work on the UTF-8 bytes of a text: RE2 is handed them once, not re-encoded per search.
_CONTEXT = re.compile(_CONTEXT_WORDS.encode())
_WORD_OR_DASH = re.compile(rb"[\w-]")
_WORD = re.compile(rb"\w")
_DIGIT = re.compile(rb"\d")
_CLOCK = re.compile(rb"[T ]?\d{1,2}:")
_NEXT_WORD = re.compile(rf",?\s+([A-Z]{_LETTERS}*)".encode())
_XPN_TAIL = re.compile(rb"(?:\^[A-Za-z'-]*)*")
_MORE_WORD = re.compile(rb",?[ \t]+([A-Za-z0-9][A-Za-z0-9'.\-#]*)")
_DOT_SEGMENT = re.compile(rb"\.[A-Za-z][A-Za-z'\-]*")
_DOT_FOLLOWS = re.compile(rb"\.[A-Za-z0-9]")
_CLOSER = re.compile(rb"[\]}]")
_KEY_FOLLOWS = re.compile(rb"[ \t]*[:=]")
#: Two to four capitalised words, or ``Family, Given``: what a person's name looks like.
_PERSON_NAME = re.compile(rb"[A-Z][A-Za-z'\-]+(?:(?:,? |\+)[A-Z][A-Za-z'.\-]*){1,3}")
_DATE_AT = re.compile(_DATE.encode())
_EMAIL_MARK = re.compile(rb"(?:[^@%]|%(?!40)){0,320}(?:@|%40)")
_PLACEHOLDER = re.compile(rb"(?:[?$:@{]|%(?![0-9A-Fa-f]{2})|(?i:null|none|nil|true|false|undefined)\Z)")
_NUMBER_GOES_ON = re.compile(rb"\w|[.,:/-]\d")
_UNIT = re.compile(rb"[ \t]*(?i:ns|us|ms|s|sec|secs|seconds|b|bytes|kb|mb|gb|kib|mib|gib|hz)\b")
#: A key, word or sign in front of a bare number that says it counts or identifies something else.
_ID_BEFORE = re.compile(
    rb"(?:(?:^|[^A-Za-z])(?i:id|ids|no|num|number|nbr|seq|sequence|offset|count|size|bytes|len|length"
    rb"|ts|timestamp|time|epoch|duration|total|amount|port|version|hash|key|index|idx|order|claim"
    rb"|invoice|batch|trace|span)|[a-z0-9]I[dD]s?|\#)[\"'`\]]?[ \t]*[:=]?[ \t]*[\"'(\[]?\Z"
)

#: Kinds whose identifiers always hold a digit: a value after their key without one is a word
#: ("phone: missing"), not an identifier.
_DIGIT_KINDS = frozenset(
    {"mrn", "ssn", "phone", "birth_date", "member_id", "account_number", "license_number", "vehicle_id"}
)
#: Kinds whose unquoted value may run over several words (``patient_name: Jane Q Doe``).
_WORDY_KINDS = frozenset({"name", "address"})
_KEY_CACHE_SIZE = 4096
_KEY_MAX = 96


class Spans:
    """An RE2 match as the spans of its groups, asked for by name. The ``re2`` wrapper's match
    object costs microseconds per question and a check asks several per candidate."""

    __slots__ = ("names", "spans")

    def __init__(self, spans: list[tuple[int, int]], names: dict[str, int]) -> None:
        self.spans = spans
        self.names = names

    def span(self, name: str = "") -> tuple[int, int]:
        return self.spans[self.names[name]] if name else self.spans[0]

    def start(self, name: str = "") -> int:
        return self.span(name)[0]

    def end(self, name: str = "") -> int:
        return self.span(name)[1]


#: What a check answers: the identifier's end (the context is the pattern's), or (context end,
#: end, kind) when it decides those too; None when there is none here.
Hit = int | tuple[int, int, str] | None
#: A check gets the text and an RE2 match; it answers a ``Hit`` and the position from which to
#: look again when there is none (at least one past the start is used).
Check = Callable[[bytes, Spans], "tuple[Hit, int]"]


def _not_followed_by_word_or_dash(text: bytes, match: Spans) -> tuple[Hit, int]:
    end = match.end()
    return (None, 0) if _WORD_OR_DASH.match(text, end) else (end, end)


def _not_a_timestamp(text: bytes, match: Spans) -> tuple[Hit, int]:
    end = match.end()
    return (None, 0) if _CLOCK.match(text, end) else (end, end)


def _name_words(text: bytes, match: Spans) -> tuple[Hit, int]:
    """The name ends before the first further word that starts another detector's context."""
    start, end = match.span("more")
    for word in _NEXT_WORD.finditer(text, start, end):
        if _CONTEXT.match(text, word.start(1)):
            return word.start(), word.start()
    return match.end(), match.end()


def _xpn(text: bytes, match: Spans) -> tuple[Hit, int]:
    """The given name must not run into a word character (``ADT^A01``): as a backtracking engine
    would, fall back to the last ``'`` or ``-`` inside it, else there is no name from this caret."""
    given, end = match.span("given")
    if end < len(text) and _WORD.match(text, end):
        cut = max(text.rfind(b"'", given + 1, end), text.rfind(b"-", given + 1, end))
        return (None, given) if cut < 0 else (cut, cut)
    tail = _XPN_TAIL.match(text, end)
    return (tail.end() if tail else end), end


def _mrn(text: bytes, match: Spans) -> tuple[Hit, int]:
    """After ``:``, ``=`` or ``#`` any token is the MRN; after a space, a dash or nothing it must
    hold a digit (``MRN lookup failed`` stays), and it must not run into a word character."""
    end = match.end()
    sep = text[slice(*match.span("sep"))]
    value = match.end("ctx")
    if not any(c in sep for c in b":=#") and not _DIGIT.search(text, value, min(end, value + 64)):
        return None, 0
    return end, end


def _bare_phone(text: bytes, match: Spans) -> tuple[Hit, int]:
    """A bare NANP number, unless the number goes on (``5558675309.25``, ``…/2``), a unit follows
    (``2147483648 bytes``) or a key or word in front says it is an id, a count or a time."""
    start = match.end("pre")
    end = match.end()
    if _NUMBER_GOES_ON.match(text, end) or _UNIT.match(text, end):
        return None, 0
    if _ID_BEFORE.search(text, max(0, start - 40), start):
        return None, 0
    return end, end


class _KeyKinds:
    """Which kind each key names, remembered for the keys seen (bounded: a key is at most
    ``_KEY_MAX`` bytes and the table at most ``_KEY_CACHE_SIZE`` entries)."""

    def __init__(self) -> None:
        self._known: dict[bytes, tuple[str, str] | None] = {}

    def __call__(self, key: bytes) -> tuple[str, str] | None:
        try:
            return self._known[key]
        except KeyError:
            pass
        kind = text_key_kind(key.decode("ascii"))
        if len(self._known) >= _KEY_CACHE_SIZE:
            self._known.clear()
        self._known[key] = kind
        return kind


_key_kind = _KeyKinds()


def _words(text: bytes, kind: str, start: int, end: int) -> int:
    """Where further words of a name or address end: before a word that is a key (``status:``),
    another detector's context word, or, for a name, not capitalised."""
    last = start
    for word in _MORE_WORD.finditer(text, start, end):
        first = text[word.start(1)]
        if (
            _KEY_FOLLOWS.match(text, word.end())
            or _CONTEXT.match(text, word.start(1))
            or (kind == "name" and not 65 <= first <= 90)
        ):
            break
        last = word.end()
    return last


def _keyed(text: bytes, match: Spans) -> tuple[Hit, int]:
    """The value after a key that names an identifier kind, in the shape that key takes."""
    key_start, key_end = match.span("key")
    if key_end - key_start > _KEY_MAX:
        return None, 0
    found = _key_kind(text[key_start:key_end])
    if found is None:  # nor is any key that ends it: look again after it
        return None, key_end
    kind, shape = found
    # A value refused here is refused after every shorter key ending the same way too.
    value = match.end("ctx")
    colon = text[slice(*match.span("sep"))].strip()[:1] == b":"
    nest = match.span("nest")
    if nest[0] >= 0:
        return (nest[0], nest[1], kind), 0
    opener = match.start("open")
    if opener >= 0:  # cut off, or nested too deep: up to the first closing bracket or the end
        closer = _CLOSER.search(text, opener)
        return (opener, closer.start() if closer else len(text), kind), 0
    if shape == "structured":
        return None, value
    for quoted in ("sq", "dq", "eq"):
        start, end = match.span(quoted)
        if start >= 0:
            if shape == "person" and not (end - start <= 80 and _PERSON_NAME.fullmatch(text, start, end)):
                return None, value
            break
    else:
        start, end = match.span("bare")
        first = text[start]
        if _PLACEHOLDER.match(text, start, end):
            return None, value
        if colon and (shape == "capitalised" or kind == "name") and not 65 <= first <= 90:
            return None, value
        if kind in _WORDY_KINDS:
            end = max(end, _words(text, kind, *match.span("more")))
        if shape == "person" and not (end - start <= 80 and _PERSON_NAME.fullmatch(text, start, end)):
            return None, value
        if kind == "birth_date" and (date := _DATE_AT.match(text, start)):
            end = max(end, date.end())
    if kind in _DIGIT_KINDS and not _DIGIT.search(text, start, min(end, start + 64)):
        return None, value
    if kind == "email" and not _EMAIL_MARK.match(text, start, min(end, start + 330)):
        return None, value
    return (start, end, kind), 0


def _segment(text: bytes, match: Spans) -> tuple[Hit, int]:
    """A segment after one naming a kind whose identifiers hold a digit, if it holds one; after
    one naming a name, capitalised segments."""
    key_start, key_end = match.span("key")
    found = _key_kind(text[key_start:key_end]) if key_end - key_start <= _KEY_MAX else None
    if found is None or found[1] == "structured":
        return None, key_end
    kind = found[0]
    start, end = match.end("ctx"), match.start("more")
    if kind == "name":
        # Capitalised: the capitalised segments. In lower case (OpenTelemetry SDKs lower-case
        # instrument names) the name cannot be told from the measurement: every segment but
        # the dotted name's last goes.
        capitalised = 65 <= text[start] <= 90
        for segment in _DOT_SEGMENT.finditer(text, end, match.end()):
            if capitalised and not 65 <= text[segment.start() + 1] <= 90:
                break
            if not capitalised and not _DOT_FOLLOWS.match(text, segment.end()):
                break
            end = segment.end()
    elif kind not in _DIGIT_KINDS or not _DIGIT.search(text, start, min(end, start + 64)):
        return None, 0
    return (start, end, kind), 0


def _insert(text: bytes, match: Spans) -> tuple[Hit, int]:
    """Every value list, when a column of the statement names an identifier (the first such
    column's kind). Columns are looked at once per statement: linear in the statement."""
    start, end = match.span("cols")
    for column in text[start:end].split(b","):
        name = column.strip().strip(b'"`[]')
        found = _key_kind(name) if 0 < len(name) <= _KEY_MAX and name.isascii() else None
        if found is not None and found[1] != "structured":
            return (match.end("ctx"), match.end(), found[0]), 0
    return None, 0


CHECKS: dict[tuple[str, int], Check] = {
    ("mrn", 0): _mrn,
    ("ssn", 0): _not_followed_by_word_or_dash,
    ("name", 0): _name_words,
    ("name", 1): _xpn,
    ("name", 2): _name_words,
    ("phone", 0): _not_followed_by_word_or_dash,
    ("phone", 2): _not_followed_by_word_or_dash,
    ("phone", 3): _bare_phone,
    ("date", 1): _not_a_timestamp,
    ("keyed_value", 0): _keyed,
    ("keyed_value", 1): _insert,
    ("keyed_value", 2): _segment,
}

__all__ = ["CHECKS", "VALUE_DETECTORS", "WIDE_PRE", "Check", "Hit", "Spans"]

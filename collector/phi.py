"""Built-in detectors for the HIPAA Safe Harbor identifier kinds, as data.

Two families:

* **key detectors** recognise an attribute whose *name* says it holds an identifier
  (``patient.name``, ``pid.19``, ``memberId``...). They run on a normalised key: camelCase split,
  lower case, every run of other characters turned into ``_``, wrapped in ``_`` so that patterns
  match whole words. ``service.name`` or ``server.address`` are OpenTelemetry conventions, not
  identifiers, and the patterns are written not to catch them.
* **value detectors** find identifiers inside free text (attribute values, span names, status
  messages, event names) by their shape (SSN, phone, e-mail, calendar dates) or by a context
  word in front of them (``DOB:``, ``MRN:``, ``Patient:``) and the HL7 ``FAMILY^GIVEN`` name form.
  A person's name in prose without such a context cannot be told from any other words; keep
  names in attributes whose key says so, and the key detectors catch them.

Each detector has a name used in config (``redaction.detectors``), in the ``[REDACTED:<name>]``
marker and in the ``rule`` label of the redaction counter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import re2

#: Who an identifier in a key may belong to (a patient, a relative, a payer's member...).
_PERSON = (
    r"patient|person|member|subscriber|guarantor|insured|guardian|beneficiary|dependent|"
    r"contact|emergency_contact|next_of_kin|nok|user|customer|employee|mother|father|spouse"
)

KEY_DETECTORS: dict[str, str] = {
    "name": (
        rf"_(?:{_PERSON})_(?:(?:first|last|middle|given|family|full|maiden|legal|display|preferred)_?)?name_"
        r"|_(?:first|last|middle|given|family|full|maiden|legal|sur|fore)_?name_"
        r"|_name_(?:first|last|given|family|full)_"
        r"|_pid_5_|_nk1_2_"
    ),
    "mrn": (
        r"_(?:mrn|medical_record(?:_(?:number|no|num|id))?|med_rec(?:_(?:no|num|number))?"
        r"|chart_(?:number|no|num|id)|patient_(?:id|identifier|number|no|num|ident)|pid_[23]|mrn_id)_"
    ),
    "ssn": r"_(?:ssn|social_security(?:_(?:number|no|num))?|social_sec_(?:no|num)|pid_19)_",
    "birth_date": r"_(?:dob|d_o_b|birth_?date|date_of_birth|birth_?day|birth_dt|birth_time|pid_7)_",
    "address": (
        r"_(?:street(?:_address)?|address_line_?\d*|addr_line_?\d*|zip|zip_?code|postal_code|postcode"
        r"|pid_11|nk1_4)_"
        rf"|_(?:{_PERSON}|home|mailing|residential|postal|billing|street)_addr(?:ess)?(?:_line_?\d*)?_"
    ),
    "phone": (
        r"_(?:phone|telephone|mobile|cell_?phone|fax|pager)(?:_?(?:number|no|num))?_"
        r"|_(?:tel|cell)_(?:number|no|num)_|_pid_1[34]_|_nk1_5_"
    ),
    "email": r"_e_?mail(?:_?(?:address|addr))?_",
    "member_id": (
        r"_(?:member|subscriber|beneficiary|insurance|insured|policy|health_plan|plan_member|medicaid"
        r"|medicare|payer_member)_(?:id|number|no|num|identifier)_"
        r"|_(?:memberid|subscriberid|mbi|hicn|in1_36|in1_49)_"
    ),
    "account_number": (
        r"_(?:account|acct|bank_account|patient_account|guarantor_account)_(?:number|no|num)_"
        r"|_(?:patient_account|guarantor_account)_id_"
        r"|_(?:card_number|credit_card(?:_number)?|cc_number|iban|routing_number|pid_18)_"
    ),
    "license_number": (
        r"_(?:license|licence|certificate|cert|dl)_(?:number|no|num)_|_drivers?_licen[cs]e(?:_(?:number|no))?_"
    ),
    "vehicle_id": r"_(?:vin|vehicle_(?:id|identifier|number)|license_plate|plate_number)_",
    "device_id": r"_(?:implant|device)_(?:serial(?:_number)?|udi)_|_udi_",
    "biometric": r"_(?:biometric|fingerprint|retina_scan|voiceprint|face_?print|full_face_photo|photo)_",
}

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

#: name -> RE2 patterns, each run on its own (in this order at the same position). A ``(?P<ctx>...)``
#: group is a context prefix kept in the output; a ``(?P<pre>...)`` group is the one character in
#: front of an identifier that must not be part of a word (RE2 has no lookbehind), also kept.
#: What RE2 cannot say (a word that follows, a context word inside a name) is checked in Python,
#: in constant time per match (``_CHECKS``), so every detector runs in time linear in its input.
VALUE_DETECTORS: dict[str, tuple[str, ...]] = {
    # A raw HL7 v2 segment about a person (patient, next of kin, guarantor, insurance): every field
    # is an identifier, so everything after the segment id goes.
    "hl7_segment": (r"(?P<pre>^|[^A-Za-z0-9])(?P<ctx>(?:PID|PD1|NK1|GT1|IN1|IN2|IN3|MRG)\|)[^\r\n]*",),
    # Context words first: "DOB: 1961-04-12" is a birth date before it is a date.
    "birth_date": (
        r"(?P<ctx>(?i:\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|born)\b)\s*[:=#]?\s*(?:on\s+)?)"
        + _DATE,
    ),
    "mrn": (
        r"(?P<ctx>(?i:\b(?:mrn|medical\s+record(?:\s+(?:number|no\.?|\#))?|chart\s+(?:number|no\.?|\#))"
        r")\s*[:=#]?\s*)[A-Za-z0-9][A-Za-z0-9-]{3,}",
    ),
    "ssn": (
        rf"(?P<pre>^|[^\w-]){_SSN}",  # not followed by a word character or '-'
        r"(?P<ctx>(?i:\b(?:ssn|social\s+security(?:\s+(?:number|no\.?))?)\b)\s*[:=#]?\s*)\d{9}\b",
    ),
    "name": (
        # Up to three more words, cut before the first that is another detector's context word.
        r"(?P<ctx>(?i:\b(?:patient|pt|member|subscriber|guarantor|insured|guardian)(?:'s)?"
        r"(?:\s+(?:full\s+)?name)?|\b(?:full|first|last|given|family)\s+name|^name)\s*[:=]\s*)"
        rf"[A-Z]{_LETTERS}+(?P<more>(?:,?\s+[A-Z]{_LETTERS}*){{0,3}})",
        # HL7 XPN: FAMILY^GIVEN[^MIDDLE...]; trigger events such as ADT^A01 have digits and stay.
        r"\b[A-Za-z][A-Za-z'-]*\^(?P<given>[A-Za-z][A-Za-z'-]*)",
    ),
    "email": (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",),
    "phone": (
        r"(?P<pre>^|[^\w+-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}",  # then no [\w-]
        r"(?P<pre>^|[^\w+])\+[1-9]\d{9,14}\b",
    ),
    # Safe Harbor removes every element of a date but the year; a date that is part of a
    # timestamp (2024-05-01T10:00) is when the telemetry happened and stays.
    "date": (
        r"\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:19|20)\d{2}\b",
        r"\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b",  # then no clock time
    ),
}

# Scanners work on the UTF-8 bytes of a text: RE2 is handed them once, not re-encoded per search.
_CONTEXT = re.compile(_CONTEXT_WORDS.encode())
_WORD_OR_DASH = re.compile(rb"[\w-]")
_WORD = re.compile(rb"\w")
_CLOCK = re.compile(rb"[T ]?\d{1,2}:")
_NEXT_WORD = re.compile(rf",?\s+([A-Z]{_LETTERS}*)".encode())
_XPN_TAIL = re.compile(rb"(?:\^[A-Za-z'-]*)*")

#: A check gets the text and an RE2 match; it answers where the identifier ends, or None when
#: there is none here, with the position from which to look again (at least one past the start).
_Check = Callable[[bytes, Any], "tuple[int | None, int]"]


def _not_followed_by_word_or_dash(text: bytes, match: Any) -> tuple[int | None, int]:
    end: int = match.end()
    return (None, 0) if _WORD_OR_DASH.match(text, end) else (end, end)


def _not_a_timestamp(text: bytes, match: Any) -> tuple[int | None, int]:
    end: int = match.end()
    return (None, 0) if _CLOCK.match(text, end) else (end, end)


def _name_words(text: bytes, match: Any) -> tuple[int | None, int]:
    """The name ends before the first further word that starts another detector's context."""
    start, end = match.span(match.re.groupindex[b"more"])
    for word in _NEXT_WORD.finditer(text, start, end):
        if _CONTEXT.match(text, word.start(1)):
            return word.start(), word.start()
    return match.end(), match.end()


def _xpn(text: bytes, match: Any) -> tuple[int | None, int]:
    """The given name must not run into a word character (``ADT^A01``): as a backtracking engine
    would, fall back to the last ``'`` or ``-`` inside it, else there is no name from this caret."""
    given, end = match.span(match.re.groupindex[b"given"])
    if end < len(text) and _WORD.match(text, end):
        cut = max(text.rfind(b"'", given + 1, end), text.rfind(b"-", given + 1, end))
        return (None, given) if cut < 0 else (cut, cut)
    tail = _XPN_TAIL.match(text, end)
    return (tail.end() if tail else end), end


_CHECKS: dict[tuple[str, int], _Check] = {
    ("ssn", 0): _not_followed_by_word_or_dash,
    ("name", 0): _name_words,
    ("name", 1): _xpn,
    ("phone", 0): _not_followed_by_word_or_dash,
    ("date", 1): _not_a_timestamp,
}


class Found(NamedTuple):
    """One identifier: ``data[start:context_end]`` is kept, ``data[context_end:end]`` is replaced
    (offsets into the UTF-8 bytes; every detector starts and ends on an ASCII character)."""

    start: int
    context_end: int
    end: int
    kind: str


class _Part:
    def __init__(self, kind: str, pattern: str, check: _Check | None) -> None:
        self.kind = kind
        self.regex = re2.compile(pattern.encode())
        #: Past the start, the character in front is searched for, never the start of the text.
        self._inside = re2.compile(pattern.replace("(?P<pre>^|", "(?P<pre>").encode())
        self.check = check
        self._pre = self.regex.groupindex.get(b"pre")
        self._ctx = self.regex.groupindex.get(b"ctx")

    def search(self, text: bytes, pos: int) -> Found | None:
        """The first identifier that starts at or after ``pos``."""
        while pos <= len(text):
            if not pos:
                match = self.regex.search(text, 0)
            elif self._pre:
                match = self._inside.search(text, pos - 1)
            else:
                match = self.regex.search(text, pos)
            if match is None:
                return None
            start = match.end(self._pre) if self._pre else match.start()
            end: int = match.end()
            if self.check is not None:
                checked, again = self.check(text, match)
                if checked is None:
                    pos = max(again, start + 1)
                    continue
                end = checked
            context_end = match.end(self._ctx) if self._ctx and match.start(self._ctx) >= 0 else start
            return Found(start, context_end, end, self.kind)
        return None


class ValueScanner:
    """The chosen value detectors over one text, as a leftmost-first alternation would find them:
    the identifier starting first wins, and at the same position the detector listed first."""

    def __init__(self, names: Iterable[str]) -> None:
        chosen = set(names)
        self._parts = [
            _Part(name, pattern, _CHECKS.get((name, i)))
            for name, patterns in VALUE_DETECTORS.items()
            if name in chosen
            for i, pattern in enumerate(patterns)
        ]

    def find(self, text: bytes) -> list[Found]:
        """The identifiers in the UTF-8 bytes ``text``, in order."""
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
            if best is None:
                return found
            found.append(best)
            cursor = best.end


    def redact(self, text: str) -> tuple[str, tuple[str, ...]]:
        """``text`` with every identifier replaced by ``[REDACTED:<kind>]``, and the rules that
        fired (``value.<kind>``, one per identifier)."""
        data = text.encode("utf-8", "surrogatepass")
        found = self.find(data)
        if not found:
            return text, ()
        pieces: list[bytes] = []
        cursor = 0
        for item in found:
            pieces += (data[cursor : item.context_end], f"[REDACTED:{item.kind}]".encode())
            cursor = item.end
        pieces.append(data[cursor:])
        return b"".join(pieces).decode("utf-8", "surrogatepass"), tuple(
            f"value.{item.kind}" for item in found
        )


ALL_KEY_DETECTORS: frozenset[str] = frozenset(KEY_DETECTORS)
ALL_VALUE_DETECTORS: frozenset[str] = frozenset(VALUE_DETECTORS)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_key(key: str) -> str:
    """``patient.birthDate`` -> ``_patient_birth_date_`` (the form key detectors match)."""
    return "_" + _NON_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_") + "_"


def compile_key_detectors(names: Iterable[str]) -> Callable[[str], str | None]:
    """A function from an attribute key to the name of the first detector that matches, or None."""
    chosen = [name for name in KEY_DETECTORS if name in set(names)]
    if not chosen:
        return lambda key: None
    pattern = re2.compile("|".join(f"(?P<{name}>{KEY_DETECTORS[name]})" for name in chosen))

    def detect(key: str) -> str | None:
        match = pattern.search(normalize_key(key))
        # Every alternative is a named group, so a match always names its detector.
        return str(match.lastgroup) if match else None

    return detect


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
]

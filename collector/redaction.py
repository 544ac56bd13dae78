"""PHI redaction: what leaves an attribute (its key and its value), a name or a message before it
is stored.

Pure functions over plain values; the receiver runs every span and metric through one
``Redactor`` before anything is written or logged. Every attribute *key* is scanned by the value
detectors first (a key is text a sender chose, like any value): a key with an identifier in it is
stored redacted and its value replaced, whatever rule would apply to it. Then the first rule that
applies to the key decides what happens to its value:

1. ``deny_keys`` (glob patterns): the value becomes ``[REDACTED:deny]``;
2. ``hc.key.*``: the value becomes its keyed HMAC-SHA256 (``hash_key``), so two systems that
   send the same business key still correlate, and the key itself is never stored;
3. site key detectors (``site_key_detectors``): the value becomes ``[REDACTED:<name>]``;
4. ``unscanned_keys`` (a site's opt-out, with a written reason): kept as sent, not scanned;
   ``exception.*`` keys can never be opted out (messages and stack traces quote data);
5. ``allow_keys`` (``DEFAULT_ALLOW_KEYS`` plus config): not subject to key detectors nor to strict
   mode, but still scanned by the value detectors;
6. key detectors (``patient.name``, ``ssn``, ``dob``...): the value becomes ``[REDACTED:<kind>]``;
7. every other string value is scanned (site detectors, then the built-in value detectors), and
   only the identifier inside it is replaced (``"admit MRN: [REDACTED:mrn]"``); in strict mode
   it becomes ``[REDACTED:strict]`` instead.

Bytes values that are not UTF-8 text are opaque: ``[REDACTED:bytes]`` (unless the policy keeps
them as base64). Decisions per short key and per short string are cached (bounded in entries and
in size), since telemetry repeats itself. Every detector runs on RE2: time linear in the text.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2

from collector.attributes import json_text
from collector.phi import (
    ALL_KEY_DETECTORS,
    ALL_VALUE_DETECTORS,
    Found,
    compile_key_detectors,
    compile_value_detectors,
    substitute,
)

HASHED_KEY_PREFIX = "hc.key."

#: Keys whose values are Vitals' own vocabulary or OpenTelemetry plumbing, never identifiers.
#: They are stored as sent and not scanned (config ``allow_keys`` adds to this list).
DEFAULT_ALLOW_KEYS: tuple[str, ...] = (
    "service.name",
    "service.namespace",
    "service.version",
    "service.instance.id",
    "telemetry.sdk.*",
    "telemetry.distro.*",
    "deployment.environment*",
    "hc.workflow",
    "hc.stage",
    "hc.system",
    "hc.message.type",
    "hc.occurred_at",
    "hc.facility",
    "hc.service_line",
    "hc.amount",
    "hc.denial.code",
    "hc.supply.category",
    "messaging.system",
    "messaging.destination.name",
    "messaging.operation.type",
    "messaging.operation.name",
    "http.request.method",
    "http.response.status_code",
    "rpc.system",
    "rpc.service",
    "rpc.method",
    # Vitals' own queue vocabulary (pollers and engine-pushed queue gauges).
    "queue",
    "broker",
    "poller",
)

#: Strings (values and keys) longer than this are decided every time instead of being remembered,
#: so each cache holds at most ``cache_size`` entries of at most this many characters, whatever
#: senders put in their keys and values.
_CACHEABLE_TEXT = 256

#: Keys no allow-list or opt-out can exempt from scanning: exception messages and stack traces
#: quote the data an integration choked on.
ALWAYS_SCANNED_KEYS: tuple[str, ...] = ("exception.*",)

#: A plain number of up to six integer digits (``1843.20``, ``42``): no built-in detector's shape
#: (an SSN, a phone number, a date) fits in it, so it is not scanned by them, as an int or double
#: attribute is not; site detectors still run on it. The hot path's unique strings are mostly
#: these (amounts, counts), and a scan costs tens of microseconds.
_PLAIN_NUMBER = re.compile(r"[+-]?\d{1,6}(?:\.\d{1,9})?")
#: Strict mode: runs of four or more digits in a name become ``#`` (``GET /patients/#``).
_DIGIT_RUN = re.compile(r"\d{4,}")

_SCAN, _KEEP, _HASH, _REPLACE, _STRICT = range(5)
_SCALARS = (int, float, bool)
_PLAIN = (str, int, float, bool)
#: (kind, key to store under, the marker that replaces the value, rules counted per use)
_Action = tuple[int, str, str, tuple[str, ...]]

STRICT_MARKER = "[REDACTED:strict]"
BYTES_MARKER = "[REDACTED:bytes]"


def hash_key(secret: bytes | str, value: str) -> str:
    """The stored form of a business correlation key: HMAC-SHA256(secret, value) as 64 hex digits."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.digest(key, value.encode(), hashlib.sha256).hex()


class KeyHasher:
    """``hash_key`` with the secret's inner and outer SHA-256 states computed once (RFC 2104):
    a third of the cost per value, for the hot path."""

    def __init__(self, secret: bytes) -> None:
        block = hashlib.sha256().block_size
        key = hashlib.sha256(secret).digest() if len(secret) > block else secret
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, value: str) -> str:
        inner = self._inner.copy()
        inner.update(value.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def _plain(value: Any) -> Any:
    """A value as stored unscanned: bytes as base64 text (JSON has no bytes), the rest as is."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def key_text(value: Any) -> str:
    """The text of an ``hc.key.*`` value that ``hash_key`` hashes: strings as sent, numbers in
    decimal, booleans as true/false, bytes that are not UTF-8 as base64, anything else as compact
    JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json_text(_plain(value))


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [fnmatch.translate(pattern) for pattern in patterns]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


#: Names of site detectors: they appear in markers, in config and in a metric label.
DETECTOR_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (linear time in the text it searches), as UTF-8 bytes.

    Raises ``ValueError`` saying why a pattern is refused: RE2 cannot compile it (lookarounds and
    backreferences have no linear-time algorithm), or it matches the empty string (it would find
    an identifier between every two characters).
    """
    options = re2.Options()
    options.log_errors = False
    try:
        compiled = re2.compile(pattern.encode(), options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"not an RE2 pattern: {reason}") from None
    if compiled.fullmatch(b"") is not None:
        raise ValueError("the pattern matches the empty string")
    return compiled


@dataclass(frozen=True)
class SiteDetector:
    """A site's own value detector: every match of ``pattern`` (RE2) becomes ``[REDACTED:<name>]``."""

    name: str
    pattern: str


@dataclass(frozen=True)
class SiteKeyDetector:
    """A site's own key detector: a key matching one of ``keys`` (globs, case-insensitive) or in
    which ``pattern`` (RE2) is found has its whole value replaced by ``[REDACTED:<name>]``."""

    name: str
    keys: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True)
class RedactionPolicy:
    """What to redact. Defaults: every built-in detector on, no extra allow or deny keys."""

    allow_keys: tuple[str, ...] = ()
    deny_keys: tuple[str, ...] = ()
    key_detectors: frozenset[str] = ALL_KEY_DETECTORS
    value_detectors: frozenset[str] = ALL_VALUE_DETECTORS
    #: Keys (globs) a site has opted out of scanning, each for a reason it wrote down.
    unscanned_keys: tuple[str, ...] = ()
    site_detectors: tuple[SiteDetector, ...] = ()
    site_key_detectors: tuple[SiteKeyDetector, ...] = ()
    #: Free text of keys not allow-listed is dropped, not scanned (see ``Redactor``).
    strict: bool = False
    #: Bytes values that are not UTF-8 text are kept as base64 instead of ``[REDACTED:bytes]``.
    keep_bytes: bool = False


class _SiteScanner:
    """The site's value detectors, run before the built-in ones (a site knows its own formats
    best); where two matches overlap, the one starting first wins, then the one listed first."""

    def __init__(self, detectors: Iterable[SiteDetector]) -> None:
        self._parts = [(d.name, compile_pattern(d.pattern)) for d in detectors]

    def redact(self, text: str) -> tuple[str, tuple[str, ...]]:
        data = text.encode("utf-8", "surrogatepass")
        matches = sorted(
            (match.start(), index, match.end(), name)
            for index, (name, regex) in enumerate(self._parts)
            for match in regex.finditer(data)
            if match.end() > match.start()
        )
        found: list[Found] = []
        for start, _, end, name in matches:
            if not found or start >= found[-1].end:
                found.append(Found(start, start, end, name))
        if not found:
            return text, ()
        return substitute(data, found), tuple(f"value.{item.kind}" for item in found)


class Redactor:
    """Applies a ``RedactionPolicy``; counts each redaction by rule in ``counts``.

    Strict mode (``policy.strict``): string values of keys neither allow-listed nor opted out
    become ``[REDACTED:strict]`` (numbers and booleans stay); status messages become
    ``[REDACTED:strict]``; names (span, event, scope, metric names and units) are kept, scanned,
    with runs of four or more digits replaced by ``#``.

    Not thread-safe: the collector uses one, from the single worker thread of its ``Ingest``.
    """

    def __init__(self, policy: RedactionPolicy, secret: bytes, cache_size: int = 65536) -> None:
        if not secret:
            raise ValueError("the hash secret for hc.key.* values must not be empty")
        self.policy = policy
        self._hash = KeyHasher(secret)
        self._cache_size = cache_size
        self._deny = _globs(policy.deny_keys)
        self._allow = _globs((*DEFAULT_ALLOW_KEYS, *policy.allow_keys))
        self._unscanned = _globs(policy.unscanned_keys)
        self._always_scanned = _globs(ALWAYS_SCANNED_KEYS)
        self._site_keys = [
            (d.name, _globs(d.keys), compile_pattern(d.pattern) if d.pattern else None)
            for d in policy.site_key_detectors
        ]
        self._key_detector = compile_key_detectors(policy.key_detectors)
        self._values = compile_value_detectors(policy.value_detectors)
        self._site = _SiteScanner(policy.site_detectors) if policy.site_detectors else None
        self._strict = policy.strict
        self._keep_bytes = policy.keep_bytes
        self._key_actions: dict[str, _Action] = {}
        #: Short strings scanned and found clean (one set lookup on the hot path), and short
        #: strings with identifiers, with what they become and the rules that fired.
        self._clean: set[str] = set()
        self._texts: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.counts: dict[str, int] = {}

    # -- counting -------------------------------------------------------------------------

    def _count(self, rule: str, n: int = 1) -> None:
        self.counts[rule] = self.counts.get(rule, 0) + n

    def _count_all(self, rules: tuple[str, ...]) -> None:
        counts = self.counts
        for rule in rules:
            counts[rule] = counts.get(rule, 0) + 1

    def take_counts(self) -> dict[str, int]:
        """Redactions by rule since the last call (the caller adds them to its metrics)."""
        counts, self.counts = self.counts, {}
        return counts

    # -- free text ------------------------------------------------------------------------

    def _scan(self, text: str) -> tuple[str, tuple[str, ...]]:
        rules: tuple[str, ...] = ()
        if self._site is not None:
            text, rules = self._site.redact(text)
        if self._values is not None and not _PLAIN_NUMBER.fullmatch(text):
            text, more = self._values.redact(text)
            rules += more
        return text, rules

    def text(self, text: str) -> str:
        """``text`` with every identifier the detectors find replaced by a marker."""
        if text in self._clean:
            return text
        found = self._texts.get(text)
        if found is None:
            if self._site is None and _PLAIN_NUMBER.fullmatch(text):
                # Amounts and counts are mostly unique: not worth a cache entry.
                return text
            found = self._scan(text)
            if len(text) <= _CACHEABLE_TEXT:
                if not found[1]:
                    if len(self._clean) >= self._cache_size:
                        self._clean.clear()
                    self._clean.add(text)
                    return text
                if len(self._texts) >= self._cache_size:
                    self._texts.clear()
                self._texts[text] = found
        if found[1]:
            self._count_all(found[1])
        return found[0]

    def name(self, text: str) -> str:
        """A span, event, scope or metric name, or a unit: scanned; in strict mode, runs of four
        or more digits become ``#`` too (names are kept: dashboards and SLAs group by them)."""
        out = self.text(text)
        if self._strict and _DIGIT_RUN.search(out):
            self._count("strict")
            out = _DIGIT_RUN.sub("#", out)
        return out

    def message(self, text: str) -> str:
        """A status message: scanned; in strict mode, dropped (``[REDACTED:strict]``)."""
        if self._strict and text:
            self._count("strict")
            return STRICT_MARKER
        return self.text(text)

    # -- attributes -----------------------------------------------------------------------

    def _matches(self, globs: re.Pattern[str] | None, key: str) -> bool:
        return globs is not None and globs.match(key) is not None

    def _site_key(self, key: str) -> str | None:
        for name, globs, pattern in self._site_keys:
            if (globs is not None and globs.match(key)) or (
                pattern is not None and pattern.search(key.encode("utf-8", "surrogatepass"))
            ):
                return name
        return None

    def _value_action(self, key: str) -> _Action:
        """What happens to the value of ``key``, by the first rule that applies."""
        if self._matches(self._deny, key):
            return (_REPLACE, key, marker("deny"), ("deny_keys",))
        if key.startswith(HASHED_KEY_PREFIX):
            return (_HASH, key, "", ())
        if (site := self._site_key(key)) is not None:
            return (_REPLACE, key, marker(site), (f"key.{site}",))
        allowed = self._matches(self._allow, key)
        if self._matches(self._always_scanned, key):
            return (_STRICT if self._strict and not allowed else _SCAN, key, "", ())
        if self._matches(self._unscanned, key):
            return (_KEEP, key, "", ())
        if allowed:
            return (_SCAN, key, "", ())
        if (kind := self._key_detector(key)) is not None:
            return (_REPLACE, key, marker(kind), (f"key.{kind}",))
        return (_STRICT if self._strict else _SCAN, key, "", ())

    def _decide(self, key: str) -> _Action:
        action = self._value_action(key)
        scanned, rules = self._scan(key)
        if rules:
            # An identifier in the key itself: store the key redacted and drop the value (an
            # hc.key.* key is then neither hashed nor indexed under its name).
            if action[3] == ("deny_keys",):
                action = (_REPLACE, scanned, action[2], (*action[3], *rules))
            else:
                action = (_REPLACE, scanned, marker(rules[0].partition(".")[2]), rules)
        if len(key) <= _CACHEABLE_TEXT:
            if len(self._key_actions) >= self._cache_size:
                self._key_actions.clear()
            self._key_actions[key] = action
        return action

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._value(item) for item in value]
        if isinstance(value, dict):
            return self.attributes(value)
        if isinstance(value, bytes):
            return self._opaque(value)
        return value

    def _strict_value(self, value: Any) -> Any:
        if isinstance(value, str):
            self._count("strict")
            return STRICT_MARKER
        if isinstance(value, list):
            return [self._strict_value(item) for item in value]
        if isinstance(value, dict):
            return self.attributes(value)
        if isinstance(value, bytes):
            return self._opaque(value)
        return value

    def _opaque(self, value: bytes) -> str:
        """Bytes: UTF-8 text is scanned as text (``any_value`` decodes it already), the rest is
        opaque."""
        try:
            return self.text(value.decode("utf-8"))
        except UnicodeDecodeError:
            pass
        if self._keep_bytes:
            return base64.b64encode(value).decode("ascii")
        self._count("bytes")
        return BYTES_MARKER

    def attributes(
        self, attrs: dict[str, Any], hashed: list[tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        """A redacted copy of ``attrs`` (nested key/value lists are redacted the same way).

        ``hashed`` collects (key, HMAC) of the ``hc.key.*`` values, for the span_keys rows.
        """
        out: dict[str, Any] = {}
        actions = self._key_actions
        clean = self._clean
        hashes = 0
        for key, value in attrs.items():
            action = actions.get(key) or self._decide(key)
            kind = action[0]
            if kind == _SCAN:
                if value.__class__ is str:
                    # Fast path: a string already seen and found clean.
                    out[key] = value if value in clean else self.text(value)
                elif value.__class__ in _SCALARS or value is None:
                    out[key] = value
                else:
                    out[key] = self._value(value)
            elif kind == _KEEP:
                out[key] = value if value.__class__ in _PLAIN or value is None else _plain(value)
            elif kind == _HASH:
                if value is None:
                    out[key] = None
                    continue
                digest = self._hash(key_text(value))
                out[key] = digest
                if hashed is not None:
                    hashed.append((key, digest))
                hashes += 1
            elif kind == _STRICT:
                out[key] = (
                    value if value.__class__ in _SCALARS or value is None else self._strict_value(value)
                )
            else:
                out[action[1]] = action[2]
                self._count_all(action[3])
        if hashes:
            self._count("hash_key", hashes)
        return out


__all__ = [
    "ALWAYS_SCANNED_KEYS",
    "BYTES_MARKER",
    "DEFAULT_ALLOW_KEYS",
    "DETECTOR_NAME",
    "HASHED_KEY_PREFIX",
    "STRICT_MARKER",
    "KeyHasher",
    "RedactionPolicy",
    "Redactor",
    "SiteDetector",
    "SiteKeyDetector",
    "compile_pattern",
    "hash_key",
    "key_text",
    "marker",
]

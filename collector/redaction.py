"""PHI redaction: what leaves an attribute, a span name or a status message before it is stored.

Pure functions over plain values; the receiver runs every span through one ``Redactor`` before
anything is written or logged. Order of rules for an attribute key:

1. ``deny_keys`` (glob patterns): the value becomes ``[REDACTED:deny]``;
2. ``hc.key.*``: the value becomes its keyed HMAC-SHA256 (``hash_key``), so two systems that
   send the same business key still correlate, and the key itself is never stored;
3. ``allow_keys`` (built-in list plus config): kept as sent, not scanned;
4. key detectors (``patient.name``, ``ssn``, ``dob``...): the value becomes ``[REDACTED:<kind>]``;
5. every other string value is scanned by the value detectors, and only the identifier inside
   it is replaced (``"admit MRN: [REDACTED:mrn]"``).

Decisions per short key and per short string are cached (bounded in entries and in size), since
telemetry repeats itself. Value detectors run on RE2 (``collector.phi``): time linear in the text.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from collector.attributes import json_text
from collector.phi import (
    ALL_KEY_DETECTORS,
    ALL_VALUE_DETECTORS,
    compile_key_detectors,
    compile_value_detectors,
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
)

#: Strings (values and keys) longer than this are decided every time instead of being remembered,
#: so each cache holds at most ``cache_size`` entries of at most this many characters, whatever
#: senders put in their keys and values.
_CACHEABLE_TEXT = 256

_SCAN, _KEEP, _HASH, _REPLACE = range(4)
_SCALARS = (int, float, bool)
_Action = tuple[int, str, str]  # (kind, rule counted, key to store under)


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


def key_text(value: Any) -> str:
    """The text of an ``hc.key.*`` value that ``hash_key`` hashes: strings as sent, numbers in
    decimal, booleans as true/false, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json_text(value)


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [fnmatch.translate(pattern) for pattern in patterns]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


@dataclass(frozen=True)
class RedactionPolicy:
    """What to redact. Defaults: every built-in detector on, no extra allow or deny keys."""

    allow_keys: tuple[str, ...] = ()
    deny_keys: tuple[str, ...] = ()
    key_detectors: frozenset[str] = ALL_KEY_DETECTORS
    value_detectors: frozenset[str] = ALL_VALUE_DETECTORS


class Redactor:
    """Applies a ``RedactionPolicy``; counts each redaction by rule in ``counts``.

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
        self._key_detector = compile_key_detectors(policy.key_detectors)
        self._values = compile_value_detectors(policy.value_detectors)
        self._key_actions: dict[str, _Action] = {}
        self._texts: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.counts: dict[str, int] = {}

    # -- counting -------------------------------------------------------------------------

    def _count(self, rule: str, n: int = 1) -> None:
        self.counts[rule] = self.counts.get(rule, 0) + n

    def take_counts(self) -> dict[str, int]:
        """Redactions by rule since the last call (the caller adds them to its metrics)."""
        counts, self.counts = self.counts, {}
        return counts

    # -- free text ------------------------------------------------------------------------

    def _scan(self, text: str) -> tuple[str, tuple[str, ...]]:
        if self._values is None:
            return text, ()
        return self._values.redact(text)

    def text(self, text: str) -> str:
        """``text`` with every identifier the value detectors find replaced by a marker."""
        found = self._texts.get(text)
        if found is None:
            found = self._scan(text)
            if len(text) <= _CACHEABLE_TEXT:
                if len(self._texts) >= self._cache_size:
                    self._texts.clear()
                self._texts[text] = found
        for rule in found[1]:
            self._count(rule)
        return found[0]

    # -- attributes -----------------------------------------------------------------------

    def _decide(self, key: str) -> _Action:
        action: _Action
        if self._deny is not None and self._deny.match(key):
            action = (_REPLACE, "deny_keys", key)
        elif key.startswith(HASHED_KEY_PREFIX):
            action = (_HASH, "hash_key", key)
        elif self._allow is not None and self._allow.match(key):
            action = (_KEEP, "", key)
        elif (kind := self._key_detector(key)) is not None:
            action = (_REPLACE, f"key.{kind}", key)
        else:
            scanned, rules = self._scan(key)
            # An identifier in the key itself: store the key redacted and drop the value.
            action = (_REPLACE, rules[0], scanned) if rules else (_SCAN, "", key)
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
        return value

    def attributes(
        self, attrs: dict[str, Any], hashed: list[tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        """A redacted copy of ``attrs`` (nested key/value lists are redacted the same way).

        ``hashed`` collects (key, HMAC) of the ``hc.key.*`` values, for the span_keys rows.
        """
        out: dict[str, Any] = {}
        actions = self._key_actions
        texts = self._texts
        hashes = 0
        for key, value in attrs.items():
            action = actions.get(key) or self._decide(key)
            kind = action[0]
            if kind == _KEEP:
                out[key] = value
            elif kind == _SCAN:
                if value.__class__ is str:
                    found = texts.get(value)
                    # Fast path: a string already seen and found clean.
                    out[key] = value if found is not None and not found[1] else self.text(value)
                elif value.__class__ in _SCALARS or value is None:
                    out[key] = value
                else:
                    out[key] = self._value(value)
            elif kind == _HASH:
                if value is None:
                    out[key] = None
                    continue
                digest = self._hash(key_text(value))
                out[key] = digest
                if hashed is not None:
                    hashed.append((key, digest))
                hashes += 1
            else:
                rule = action[1]
                out[action[2]] = marker("deny" if rule == "deny_keys" else rule.partition(".")[2])
                self._count(rule)
        if hashes:
            self._count("hash_key", hashes)
        return out


__all__ = [
    "DEFAULT_ALLOW_KEYS",
    "HASHED_KEY_PREFIX",
    "KeyHasher",
    "RedactionPolicy",
    "Redactor",
    "hash_key",
    "key_text",
    "marker",
]

"""Inhibition: a firing source alert mutes target alerts that share the ``equal`` labels.

Alertmanager's rules: any unresolved alert can be a source (even a silenced or inhibited one);
for each label named in ``equal`` the source and target values must be the same, where missing
and empty are the same; and an alert that matches *both* the source and the target side cannot
be inhibited by an alert for which that is also true (itself included), so a rule whose sides
overlap never makes alerts mute each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alerts.matchers import Matcher, matches_all


@dataclass(frozen=True)
class InhibitRule:
    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    fingerprint: str
    labels: Mapping[str, str]


def inhibitor(rules: Sequence[InhibitRule], target: Candidate, sources: Sequence[Candidate]) -> str | None:
    """The fingerprint of a source that inhibits ``target``, or None."""
    for rule in rules:
        if not matches_all(rule.target_matchers, target.labels):
            continue
        two_sided = matches_all(rule.source_matchers, target.labels)
        for source in sources:
            if not matches_all(rule.source_matchers, source.labels):
                continue
            if any((source.labels.get(n) or "") != (target.labels.get(n) or "") for n in rule.equal):
                continue
            if two_sided and matches_all(rule.target_matchers, source.labels):
                continue
            return source.fingerprint
    return None


def inhibitions(rules: Sequence[InhibitRule], alerts: Sequence[Candidate]) -> dict[str, str]:
    """Map every inhibited alert's fingerprint to the fingerprint of one alert inhibiting it.

    ``alerts`` are the unresolved alerts; they are both the possible sources and the targets.
    Same answer as ``inhibitor`` per alert, but sources are indexed by their ``equal`` values so
    thousands of alerts cost one pass per rule rather than a pass per pair.
    """
    out: dict[str, str] = {}
    for rule in rules:
        sources: dict[tuple[str, ...], list[Candidate]] = {}
        for alert in alerts:
            if matches_all(rule.source_matchers, alert.labels):
                sources.setdefault(_key(rule, alert), []).append(alert)
        if not sources:
            continue
        for target in alerts:
            if target.fingerprint in out or not matches_all(rule.target_matchers, target.labels):
                continue
            candidates = sources.get(_key(rule, target), [])
            two_sided = bool(candidates) and matches_all(rule.source_matchers, target.labels)
            for source in candidates:
                if two_sided and matches_all(rule.target_matchers, source.labels):
                    continue
                out[target.fingerprint] = source.fingerprint
                break
    return out


def _key(rule: InhibitRule, alert: Candidate) -> tuple[str, ...]:
    return tuple(alert.labels.get(name) or "" for name in rule.equal)

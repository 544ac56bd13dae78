"""Silences: mute alerts whose labels match, for a while, optionally on a recurring schedule.

As in Alertmanager a silence has matchers (all must match), a start, an end, an author and a
comment, and at least one matcher must not match the empty string (a silence of everything is
refused). Vitals adds two things: ``time_intervals`` (the silence is only in force inside those
recurring windows, e.g. Saturdays 02:00-04:00 for a maintenance window) and
``expire_on_resolve`` (the silence ends by itself once every alert it has muted has resolved).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from alerts.matchers import Matcher, matches_all
from vitals.kernel.timeintervals import TimeInterval, any_contains

SilenceStatus = Literal["pending", "active", "expired"]


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    expire_on_resolve: bool = False
    time_intervals: tuple[TimeInterval, ...] = ()
    expired_by: str | None = None
    matched_any: bool = False

    def status(self, now: float) -> SilenceStatus:
        if now >= self.ends_at:
            return "expired"
        if now < self.starts_at:
            return "pending"
        return "active"

    def in_force(self, now: float) -> bool:
        """Active, and inside one of its recurring windows if it has any."""
        if self.status(now) != "active":
            return False
        return not self.time_intervals or any_contains(self.time_intervals, now)

    def silences(self, labels: Mapping[str, str], now: float) -> bool:
        return self.in_force(now) and matches_all(self.matchers, labels)


class SilenceError(ValueError):
    """A silence that would be refused (and why)."""


def validate(matchers: Sequence[Matcher], starts_at: float, ends_at: float, now: float) -> None:
    if not matchers:
        raise SilenceError("a silence needs at least one matcher")
    if all(m.matches_empty() for m in matchers):
        raise SilenceError(
            "at least one matcher must not match the empty string (this silence would mute every alert)"
        )
    if ends_at <= starts_at:
        raise SilenceError("the end must be after the start")
    if ends_at <= now:
        raise SilenceError("the end is in the past")


def silencing(silences: Iterable[Silence], labels: Mapping[str, str], now: float) -> list[int]:
    """Ids of the silences in force for ``labels`` at ``now``."""
    return [s.id for s in silences if s.silences(labels, now)]


def to_expire_on_resolve(
    silences: Iterable[Silence], open_labels: Sequence[Mapping[str, str]], now: float
) -> list[int]:
    """Silences with ``expire_on_resolve`` that have muted something and now match no open alert."""
    out = []
    for silence in silences:
        if not silence.expire_on_resolve or not silence.matched_any or silence.status(now) != "active":
            continue
        if not any(matches_all(silence.matchers, labels) for labels in open_labels):
            out.append(silence.id)
    return out

"""The routing tree: which routes (receivers, grouping, timers) an alert's labels reach.

Alertmanager's algorithm: an alert enters at the root (which matches everything), then visits
the children in order; a matching child is descended into, and unless that child has
``continue: true`` the walk stops at it. A node none of whose children match handles the alert
itself. Children inherit the options they do not set (receiver, group_by, the three timers,
Vitals' escalation policy); mute and active time intervals are not inherited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alerts.matchers import Matcher, format_matchers, matches_all

GROUP_BY_ALL = "..."


@dataclass(frozen=True)
class RouteOpts:
    receiver: str
    group_by: tuple[str, ...] = ()
    group_by_all: bool = False
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    escalation_policy: str | None = None


@dataclass(frozen=True)
class Route:
    key: str  # Alertmanager-style id: parent key / matchers / index
    matchers: tuple[Matcher, ...]
    continue_: bool
    opts: RouteOpts
    routes: tuple[Route, ...] = ()
    line: int | None = None  # where it is in alerts.yaml, for messages

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes that handle ``labels``, in order (empty if this node does not match)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            found.extend(matched)
            if matched and not child.continue_:
                break
        return found or [self]

    def walk(self) -> list[Route]:
        out = [self]
        for child in self.routes:
            out.extend(child.walk())
        return out


def route_key(parent_key: str | None, matchers: Sequence[Matcher], index: int | None) -> str:
    own = format_matchers(matchers)
    key = own if parent_key is None else f"{parent_key}/{own}"
    return key if index is None else f"{key}/{index}"


def group_labels(opts: RouteOpts, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that define an alert's group on a route (absent ones are left out)."""
    if opts.group_by_all:
        return {k: v for k, v in sorted(labels.items()) if v}
    return {name: labels[name] for name in sorted(opts.group_by) if labels.get(name)}


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    grouped = group_labels(route.opts, labels)
    inner = ",".join(f'{k}="{v}"' for k, v in grouped.items())
    return f"{route.key}:{{{inner}}}"


def group_ref(key: str) -> str:
    """A short, stable handle for a group (outbox keys, Slack button values)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]

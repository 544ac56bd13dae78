"""The routing tree: which routes (receivers, grouping, timers) an alert's labels reach.

Alertmanager's algorithm: an alert enters at the root (which matches everything), then visits
the children in order; a matching child is descended into, and unless that child has
``continue: true`` the walk stops at it. A node none of whose children match handles the alert
itself. Children inherit the options they do not set (receiver, group_by, the three timers,
Vitals' escalation policy and ``pages``); mute and active time intervals are not inherited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from alerts.matchers import Matcher, format_matchers, go_quote, matches_all

GROUP_BY_ALL = "..."

#: When a route's fast burns page: always, never (tickets only), or inside these time intervals.
Pages = Literal["always", "never"] | tuple[str, ...]


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
    pages: Pages = "always"


@dataclass(frozen=True)
class Route:
    key: str  # Alertmanager's Route.Key(): the matchers of the route and its ancestors
    id: str  # Alertmanager's Route.ID(): the key plus each route's position among its siblings
    matchers: tuple[Matcher, ...]  # in Alertmanager's order (see matchers.sort_matchers)
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


def route_key(parent_key: str | None, matchers: Sequence[Matcher]) -> str:
    """Alertmanager's ``Route.Key()``: ``{}`` for the root, then ``/`` and each route's matchers.

    It does not tell apart sibling routes with the same matchers (``route_id`` does); it is what
    Alertmanager puts in front of a group key, so receivers see the same ``groupKey``.
    """
    own = format_matchers(matchers)
    return own if parent_key is None else f"{parent_key}/{own}"


def route_id(parent_id: str | None, matchers: Sequence[Matcher], index: int | None) -> str:
    """Alertmanager's ``Route.ID()``: the key with each route's index among its siblings."""
    own = format_matchers(matchers)
    return own if parent_id is None or index is None else f"{parent_id}/{own}/{index}"


def group_labels(opts: RouteOpts, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that define an alert's group on a route (absent and empty ones are left out)."""
    if opts.group_by_all:
        return {k: v for k, v in sorted(labels.items()) if v}
    return {name: labels[name] for name in sorted(opts.group_by) if labels.get(name)}


def label_set(labels: Mapping[str, str]) -> str:
    """Prometheus' ``LabelSet.String()``: ``{a="1", b="2"}``, names sorted, values Go-quoted."""
    return "{" + ", ".join(f"{name}={go_quote(labels[name])}" for name in sorted(labels)) + "}"


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    """Alertmanager's ``groupKey`` (route key, a colon, the group labels), byte for byte."""
    return f"{route.key}:{label_set(group_labels(route.opts, labels))}"


def group_ref(route: Route, labels: Mapping[str, str]) -> str:
    """A short, stable handle for a group (outbox keys, Slack button values).

    Built from the route's id, not its key: two sibling routes with the same matchers (say one
    with ``continue: true`` to a second receiver) share Alertmanager's group key, yet are two
    groups with their own timers and notifications, as they are in Alertmanager.
    """
    identity = f"{route.id}:{label_set(group_labels(route.opts, labels))}"
    return hashlib.sha256(identity.encode()).hexdigest()[:16]

"""Grouping timers, notification decisions and escalation for one group. Pure.

Alertmanager's timing: a new group waits ``group_wait`` before its first notification, then is
flushed every ``group_interval``; at a flush it notifies if an alert fired that was not in the
last notification, if alerts resolved (when the integration sends resolved), or, with nothing new,
when ``repeat_interval`` has passed since the last notification. Groups whose alerts all resolved
before the first flush notify nobody. Mute/active time intervals silence a route's flushes.

Vitals adds, per group episode (first firing to all resolved): one parent message that is
updated in place whenever an alert's state changes (ack, suppression, resolution), follow-ups as
replies in its thread, acknowledged alerts that do not count as firing (no repeats, no
escalation), and the escalation policy of the route.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from alerts import escalation as esc
from alerts.model import Alert
from alerts.notification import Action, AlertView, Kind, Notification
from alerts.routing import RouteOpts
from vitals.kernel.timeintervals import TimeInterval, any_contains

LinkBuilder = Callable[[Alert], Mapping[str, str]]


@dataclass(frozen=True)
class GroupState:
    route_key: str
    group_key: str
    group_ref: str
    receiver: str
    group_labels: Mapping[str, str]
    open: bool = False
    episode: int = 0
    seq: int = 0
    opened_at: float | None = None
    next_flush_at: float | None = None
    notified_at: float | None = None
    notified_firing: frozenset[str] = frozenset()
    notified_resolved: frozenset[str] = frozenset()
    members: frozenset[str] = frozenset()  # alerts notified during this episode
    content: str = ""
    parent_key: str | None = None
    escalation: esc.EscalationState | None = None
    #: Every alert routed to the group now (open ones and those resolved in this episode): the
    #: incident's alerts, as ``vitals alerts list`` and the dashboard show them.
    alerts: frozenset[str] = frozenset()
    #: The incident's acknowledgement: it covers its alerts now and those that join it later.
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    ack_comment: str | None = None
    #: "page" or "ticket": how the incident was last notified ("" before its first notification).
    urgency: str = ""
    #: (receiver, key) of the escalation posts outside the thread, updated in place with it.
    escalated_posts: tuple[tuple[str, str], ...] = ()
    id: int | None = None
    version: int = 0

    def to_json(self) -> dict[str, Any]:
        e = self.escalation
        return {
            "open": self.open,
            "episode": self.episode,
            "seq": self.seq,
            "opened_at": self.opened_at,
            "next_flush_at": self.next_flush_at,
            "notified_at": self.notified_at,
            "notified_firing": sorted(self.notified_firing),
            "notified_resolved": sorted(self.notified_resolved),
            "members": sorted(self.members),
            "content": self.content,
            "parent_key": self.parent_key,
            "escalation": None
            if e is None
            else {"level": e.level, "round": e.round, "started_at": e.started_at, "next_at": e.next_at},
            "alerts": sorted(self.alerts),
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
            "ack_comment": self.ack_comment,
            "urgency": self.urgency,
            "escalated_posts": [list(p) for p in self.escalated_posts],
        }

    @classmethod
    def from_json(
        cls,
        data: Mapping[str, Any],
        *,
        route_key: str,
        group_key: str,
        group_ref: str,
        receiver: str,
        group_labels: Mapping[str, str],
        id: int | None = None,
        version: int = 0,
    ) -> GroupState:
        e = data.get("escalation")
        return cls(
            route_key=route_key,
            group_key=group_key,
            group_ref=group_ref,
            receiver=receiver,
            group_labels=dict(group_labels),
            open=bool(data.get("open")),
            episode=int(data.get("episode", 0)),
            seq=int(data.get("seq", 0)),
            opened_at=data.get("opened_at"),
            next_flush_at=data.get("next_flush_at"),
            notified_at=data.get("notified_at"),
            notified_firing=frozenset(data.get("notified_firing") or ()),
            notified_resolved=frozenset(data.get("notified_resolved") or ()),
            members=frozenset(data.get("members") or ()),
            content=data.get("content") or "",
            parent_key=data.get("parent_key"),
            escalation=None
            if not e
            else esc.EscalationState(
                int(e["level"]), int(e["round"]), float(e["started_at"]), e.get("next_at")
            ),
            alerts=frozenset(data.get("alerts") or ()),
            acknowledged_by=data.get("acknowledged_by"),
            acknowledged_at=data.get("acknowledged_at"),
            ack_comment=data.get("ack_comment"),
            urgency=str(data.get("urgency") or ""),
            escalated_posts=tuple((str(r), str(k)) for r, k in data.get("escalated_posts") or ()),
            id=id,
            version=version,
        )


@dataclass(frozen=True)
class PlanEnv:
    time_intervals: Mapping[str, tuple[TimeInterval, ...]] = field(default_factory=dict)
    policies: Mapping[str, esc.EscalationPolicy] = field(default_factory=dict)
    links: LinkBuilder = lambda alert: {}


@dataclass(frozen=True)
class Plan:
    state: GroupState
    notifications: tuple[Notification, ...] = ()


def is_muted(opts: RouteOpts, now: float, intervals: Mapping[str, tuple[TimeInterval, ...]]) -> bool:
    """Muted now by a mute interval, or outside every active interval (if it has any)."""
    for name in opts.mute_time_intervals:
        if any_contains(intervals.get(name, ()), now):
            return True
    if opts.active_time_intervals:
        return not any(any_contains(intervals.get(name, ()), now) for name in opts.active_time_intervals)
    return False


def pages_now(opts: RouteOpts, now: float, intervals: Mapping[str, tuple[TimeInterval, ...]]) -> bool:
    """Whether a fast burn on this route pages at ``now`` (``pages``), else it is a ticket."""
    if opts.pages == "always":
        return True
    if opts.pages == "never":
        return False
    return any(any_contains(intervals.get(name, ()), now) for name in opts.pages)


def urgency(
    firing: Sequence[Alert], opts: RouteOpts, now: float, intervals: Mapping[str, tuple[TimeInterval, ...]]
) -> str:
    """ "page" when an unacknowledged alert burns fast and the route pages now, else "ticket"."""
    fast = any(a.labels.get("severity") == "page" for a in firing)
    return "page" if fast and pages_now(opts, now, intervals) else "ticket"


def _digest(alerts: Sequence[Alert]) -> str:
    parts = sorted(
        f"{a.fingerprint}:{a.state}:{a.acknowledged_by or ''}:{a.labels.get('severity', '')}" for a in alerts
    )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class _Builder:
    """Collects notifications for one planning step, numbering their keys."""

    def __init__(self, state: GroupState, content: Sequence[Alert], env: PlanEnv, now: float) -> None:
        self.state = state
        self.views = tuple(AlertView.of(a, env.links(a)) for a in content)
        self.now = now
        self.urgency = "page"
        self.out: list[Notification] = []

    def add(
        self,
        receiver: str,
        action: Action,
        kind: Kind,
        *,
        parent: str | None = None,
        highlight: Sequence[str] = (),
        note: str = "",
        broadcast: bool = False,
        escalation: Mapping[str, Any] | None = None,
    ) -> str:
        seq = self.state.seq + 1
        self.state = replace(self.state, seq=seq)
        key = f"{self.state.group_ref}:{self.state.episode}:{seq}"
        self.out.append(
            Notification(
                key=key,
                receiver=receiver,
                action=action,
                kind=kind,
                group_ref=self.state.group_ref,
                group_key=self.state.group_key,
                group_labels=dict(self.state.group_labels),
                alerts=self.views,
                created_at=self.now,
                parent_key=parent,
                highlight=tuple(highlight),
                note=note,
                broadcast=broadcast,
                escalation=escalation,
                route_receiver=self.state.receiver,
                urgency=self.urgency,
            )
        )
        return key


def plan_group(
    state: GroupState, members: Sequence[Alert], opts: RouteOpts, now: float, env: PlanEnv
) -> Plan:
    """Decide what the group's receiver (and escalation targets) are told at ``now``.

    ``members`` are the alerts routed to this group: every unresolved one, plus recently resolved
    ones (only those notified during the current episode matter).
    """
    open_alerts = [a for a in members if a.is_open]
    # Paging: firing alerts, except one held open by hysteresis that was never notified (its
    # condition cleared before anyone heard of it).
    page = frozenset(
        a.fingerprint
        for a in open_alerts
        if a.state == "firing" and (a.clear_since is None or (state.open and a.fingerprint in state.members))
    )
    if not state.open:
        if not page:
            return Plan(state)
        state = replace(
            state,
            open=True,
            episode=state.episode + 1,
            opened_at=now,
            next_flush_at=now + opts.group_wait,
            notified_at=None,
            notified_firing=frozenset(),
            notified_resolved=frozenset(),
            members=frozenset(),
            content="",
            parent_key=None,
            escalation=None,
            acknowledged_by=None,
            acknowledged_at=None,
            ack_comment=None,
            urgency="",
            escalated_posts=(),
        )
    # An alert that stopped paging (acknowledged, silenced) leaves the notified set quietly, so
    # that it pages again when it comes back (ack timeout, silence expiry).
    state = replace(
        state,
        notified_firing=state.notified_firing & page,
        alerts=frozenset(a.fingerprint for a in members if a.is_open or a.fingerprint in state.members),
    )
    resolved_in_episode = {a.fingerprint for a in members if not a.is_open and a.fingerprint in state.members}
    resolved_new = frozenset(resolved_in_episode - state.notified_resolved)

    def content_alerts(st: GroupState) -> list[Alert]:
        """What the group's message shows: the alerts notified in this episode, as they are now.

        An alert joins the message only through a notification (at a flush), so group_interval
        still batches newcomers; the state of those already shown is kept current in place.
        """
        return [a for a in members if a.fingerprint in st.members]

    muted = is_muted(opts, now, env.time_intervals)
    builder = _Builder(state, content_alerts(state), env, now)
    want = urgency([a for a in open_alerts if a.fingerprint in page], opts, now, env.time_intervals)
    # Messages about an incident that paged stay pages (an acknowledgement updates a page, it does
    # not turn it into a ticket).
    builder.urgency = "page" if "page" in (want, state.urgency) else "ticket"
    receiver = state.receiver

    if state.next_flush_at is not None and now >= state.next_flush_at:
        # Flushes keep their cadence (group_wait, then every group_interval) even when a
        # planning step runs late.
        missed = int((now - state.next_flush_at) // opts.group_interval)
        builder.state = replace(
            builder.state, next_flush_at=state.next_flush_at + (missed + 1) * opts.group_interval
        )
        st = builder.state
        kind: Kind | None = None
        if muted:
            kind = None
        elif page - st.notified_firing:
            kind = "firing"
        elif page and want == "page" and st.urgency == "ticket":
            kind = "firing"  # notified as a ticket (out of hours), burning fast now: page
        elif resolved_new:
            kind = "resolved"
        elif page and st.notified_at is not None and now - st.notified_at >= _repeat_after(opts, want):
            kind = "repeat"
        if kind is not None:
            builder.state = replace(st, members=st.members | page)
            shown = content_alerts(builder.state)
            builder.views = tuple(AlertView.of(a, env.links(a)) for a in shown)
            highlight = sorted(page - st.notified_firing) if kind == "firing" else sorted(resolved_new)
            note = ""
            if kind == "repeat" or (kind == "firing" and not highlight):
                highlight = sorted(page)
            if kind == "firing" and st.urgency == "ticket" and want == "page":
                note = "Paging now: opened as a ticket, still burning fast and not acknowledged"
            if st.parent_key is None:
                parent = builder.add(receiver, "post", "firing", highlight=highlight)
                builder.state = replace(builder.state, parent_key=parent)
            else:
                if _digest(shown) != st.content:
                    _update_posts(builder, st, shown, paging=bool(page))
                builder.add(
                    receiver,
                    "reply",
                    kind,
                    parent=st.parent_key,
                    highlight=highlight,
                    note=note,
                    broadcast=kind in ("firing", "repeat") and want == "page",
                )
            builder.state = replace(
                builder.state,
                urgency="page" if "page" in (st.urgency, want) else "ticket",
                notified_at=now,
                notified_firing=page,
                notified_resolved=st.notified_resolved | resolved_new,
                content=_digest(shown),
            )
        if not open_alerts:
            builder.state = replace(builder.state, open=False, next_flush_at=None, escalation=None)
            return Plan(builder.state, tuple(builder.out))

    st = builder.state
    shown = content_alerts(st)
    if not muted and st.parent_key is not None and _digest(shown) != st.content:
        builder.views = tuple(AlertView.of(a, env.links(a)) for a in shown)
        _update_posts(builder, st, shown, paging=bool(page))
        builder.state = replace(builder.state, content=_digest(shown))

    # Escalation runs while an unacknowledged alert burns fast and the route pages now; a finished
    # burn (a spent budget, a ticket now) does not wake the director. Severity hysteresis keeps a
    # dipping fast burn from restarting it.
    burning = frozenset(a.fingerprint for a in open_alerts if a.fingerprint in page and a.clear_since is None)
    _escalate(builder, opts, now, env, page=burning if want == "page" else frozenset(), muted=muted)
    return Plan(builder.state, tuple(builder.out))


#: A ticket (nothing burns fast) is reminded at most daily: it waits for working hours anyway.
TICKET_REPEAT_S = 24 * 3600.0


def _repeat_after(opts: RouteOpts, want: str) -> float:
    return opts.repeat_interval if want == "page" else max(opts.repeat_interval, TICKET_REPEAT_S)


def _update_posts(builder: _Builder, st: GroupState, shown: Sequence[Alert], *, paging: bool) -> None:
    """Update the thread's parent and, with it, the escalation posts in other channels."""
    assert st.parent_key is not None
    builder.add(st.receiver, "update", "update", parent=st.parent_key)
    note = "Escalated: not acknowledged yet" if paging else _stopped_note(shown)
    for target, key in st.escalated_posts:
        builder.add(target, "update", "update", parent=key, note=note)


def _stopped_note(shown: Sequence[Alert]) -> str:
    acked = sorted({a.acknowledged_by for a in shown if a.acknowledged_by})
    if acked:
        return f"Escalation stopped: acknowledged by {', '.join(acked)}"
    if shown and all(not a.is_open for a in shown):
        return "Escalation stopped: resolved"
    return "Escalation stopped"


def _escalate(
    builder: _Builder, opts: RouteOpts, now: float, env: PlanEnv, *, page: frozenset[str], muted: bool
) -> None:
    st = builder.state
    policy = env.policies.get(opts.escalation_policy) if opts.escalation_policy else None
    if policy is None or not st.open:
        return
    if not page:
        if st.escalation is not None:
            builder.state = replace(st, escalation=None)
        return
    if muted:
        return
    step: esc.EscalationStep | None
    if st.escalation is None:
        if not (page & st.notified_firing) or st.parent_key is None:
            return  # escalation starts once the route's receiver has been paged
        state, step = esc.start(policy, now)
    else:
        state, step = esc.advance(policy, st.escalation, now)
    builder.state = replace(builder.state, escalation=state)
    if step is None:
        return
    targets = step.receivers or (st.receiver,)
    detail = {
        "policy": policy.name,
        "level": step.level + 1,
        "of_levels": step.of_levels,
        "round": step.round + 1,
        "of_rounds": step.of_rounds,
        "receivers": list(targets),
    }
    unacked = sorted(page)
    others = [r for r in targets if r != st.receiver]
    for target in targets:
        if target == st.receiver:
            if step.level == 0 and step.round == 0:
                continue  # the group's own first notification is level 0 for the route's receiver
            builder.add(
                target,
                "reply",
                "escalated",
                parent=builder.state.parent_key,
                highlight=unacked,
                note=_escalation_note(detail, [target]),
                broadcast=True,
                escalation=detail,
            )
        elif (earlier := dict(builder.state.escalated_posts).get(target)) is not None:
            # Escalated here before in this episode (a new alert, a lapsed ack): one post per
            # incident per receiver, the new escalation in its thread.
            builder.add(
                target,
                "reply",
                "escalated",
                parent=earlier,
                highlight=unacked,
                note=_escalation_note(detail, [target]),
                broadcast=True,
                escalation=detail,
            )
        else:
            key = builder.add(
                target,
                "post",
                "escalated",
                highlight=unacked,
                note=_escalation_note(detail, [target]),
                escalation=detail,
            )
            posts = (*builder.state.escalated_posts, (target, key))
            builder.state = replace(builder.state, escalated_posts=posts)
    if others and builder.state.parent_key is not None:
        builder.add(
            st.receiver,
            "reply",
            "escalated",
            parent=builder.state.parent_key,
            highlight=unacked,
            note=_escalation_note(detail, others),
            escalation=detail,
        )


def _escalation_note(detail: Mapping[str, Any], receivers: Sequence[str]) -> str:
    text = f"Escalated to {', '.join(receivers)} (level {detail['level']} of {detail['of_levels']}"
    if detail["of_rounds"] > 1:
        text += f", round {detail['round']} of {detail['of_rounds']}"
    return text + "): not acknowledged yet"

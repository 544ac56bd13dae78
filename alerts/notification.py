"""A notification: what one receiver is told about one group, as plain JSON-able values.

Planned by the grouping core, stored in the outbox, and rendered per integration only at send
time (Block Kit for Slack, Alertmanager's webhook JSON, a console line), so a notification that
fails over to another receiver carries the same facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from alerts.model import Alert, AlertState, Figures

Action = Literal["post", "update", "reply"]
Kind = Literal["firing", "repeat", "resolved", "update", "escalated"]


@dataclass(frozen=True)
class AlertView:
    """An alert as shown in a message: labels, state and figures, nothing else."""

    fingerprint: str
    sla_id: str
    slice: str
    tier: str
    labels: Mapping[str, str]
    state: AlertState
    started_at: float
    figures: Figures
    resolved_at: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    ack_comment: str | None = None
    suppressed_by: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, alert: Alert, links: Mapping[str, str]) -> AlertView:
        return cls(
            fingerprint=alert.fingerprint,
            sla_id=alert.sla_id,
            slice=alert.slice,
            tier=alert.tier,
            labels=dict(alert.labels),
            state=alert.state,
            started_at=alert.started_at,
            figures=alert.figures,
            resolved_at=alert.resolved_at,
            acknowledged_by=alert.acknowledged_by,
            acknowledged_at=alert.acknowledged_at,
            ack_comment=alert.ack_comment,
            suppressed_by=alert.suppressed_by,
            links=dict(links),
        )

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["figures"] = self.figures.to_json()
        out["labels"] = dict(self.labels)
        out["links"] = dict(self.links)
        out["suppressed_by"] = list(self.suppressed_by)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertView:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        values["figures"] = Figures.from_json(data["figures"])
        values["suppressed_by"] = tuple(data.get("suppressed_by") or ())
        return cls(**values)


@dataclass(frozen=True)
class Notification:
    key: str  # idempotency key; the outbox appends the integration
    receiver: str
    action: Action
    kind: Kind
    group_ref: str
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[AlertView, ...]
    created_at: float
    parent_key: str | None = None  # the post this updates or replies to (same receiver)
    highlight: tuple[str, ...] = ()  # fingerprints this notification is about
    note: str = ""
    broadcast: bool = False  # a thread reply that should also show in the channel
    escalation: Mapping[str, Any] | None = None
    route_receiver: str = ""
    via_fallback_of: str | None = None  # set when delivered to a fallback receiver
    #: "page" (someone must act now: mentions, escalation) or "ticket" (handled in working hours).
    urgency: str = "page"

    @property
    def status(self) -> Literal["firing", "resolved"]:
        return "firing" if any(a.state != "resolved" for a in self.alerts) else "resolved"

    @property
    def firing(self) -> tuple[AlertView, ...]:
        return tuple(a for a in self.alerts if a.state != "resolved")

    @property
    def resolved(self) -> tuple[AlertView, ...]:
        return tuple(a for a in self.alerts if a.state == "resolved")

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "receiver": self.receiver,
            "action": self.action,
            "kind": self.kind,
            "group_ref": self.group_ref,
            "group_key": self.group_key,
            "group_labels": dict(self.group_labels),
            "alerts": [a.to_json() for a in self.alerts],
            "created_at": self.created_at,
            "parent_key": self.parent_key,
            "highlight": list(self.highlight),
            "note": self.note,
            "broadcast": self.broadcast,
            "escalation": dict(self.escalation) if self.escalation else None,
            "route_receiver": self.route_receiver,
            "via_fallback_of": self.via_fallback_of,
            "urgency": self.urgency,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        return cls(
            key=data["key"],
            receiver=data["receiver"],
            action=data["action"],
            kind=data["kind"],
            group_ref=data["group_ref"],
            group_key=data["group_key"],
            group_labels=dict(data["group_labels"]),
            alerts=tuple(AlertView.from_json(a) for a in data["alerts"]),
            created_at=float(data["created_at"]),
            parent_key=data.get("parent_key"),
            highlight=tuple(data.get("highlight") or ()),
            note=data.get("note") or "",
            broadcast=bool(data.get("broadcast")),
            escalation=data.get("escalation"),
            route_receiver=data.get("route_receiver") or "",
            via_fallback_of=data.get("via_fallback_of"),
            urgency=str(data.get("urgency") or "page"),
        )

"""The durable outbox: rows to deliver, one per notification and integration. Pure parts.

A planned notification becomes one row per integration of its receiver (``expand``), keyed by an
idempotency key that the planner derives from the group's own counter, so planning the same step
twice can never enqueue twice (the key is unique in the table). Rows are delivered in id order
per *lane* (a Slack channel, or one webhook), which keeps a thread's parent before its replies and
is the unit of pacing. Failover copies a row to the receiver's fallback (``fallback_rows``).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from alerts.config import DeliverySettings, Integration, Receiver
from alerts.notification import Action, Notification

Status = Literal["pending", "sending", "sent", "failed_over", "dead", "skipped"]
UNFINISHED: tuple[Status, ...] = ("pending", "sending")


@dataclass(frozen=True)
class OutboxItem:
    key: str
    receiver: str
    integration: str
    kind: str
    action: Action
    target: str
    group_ref: str
    notification: Notification
    parent_key: str | None = None
    status: Status = "pending"
    attempts: int = 0
    not_before: float = 0.0
    first_failure_at: float | None = None
    attempt_started_at: float | None = None
    lease_owner: str | None = None
    lease_until: float | None = None
    last_error: str | None = None
    result: Mapping[str, Any] | None = None
    fallback_of: int | None = None
    created_at: float = 0.0
    sent_at: float | None = None
    id: int | None = None


def lane(integration: Integration) -> str:
    """Rows in one lane are delivered in order and paced together."""
    if integration.kind == "slack_bot":
        source = integration.token.describe() if integration.token else ""  # where, never the token
        workspace = hashlib.sha256(source.encode()).hexdigest()[:8]
        return f"slack:{workspace}:{integration.channel}"[:128]
    return f"{integration.kind}:{integration.receiver}/{integration.name}"[:128]


def wants(integration: Integration, n: Notification) -> bool:
    """Whether this integration is told about this notification at all."""
    if n.action == "update" and not (integration.threads or integration.send_updates):
        return False
    return not (n.kind == "resolved" and not integration.send_resolved)


def row_key(notification_key: str, receiver: str, integration: Integration) -> str:
    return f"{notification_key}/{receiver}/{integration.name}"[:255]


def expand(n: Notification, receivers: Mapping[str, Receiver], now: float) -> list[OutboxItem]:
    receiver = receivers.get(n.receiver)
    if receiver is None:
        return []
    out = []
    for integration in receiver.integrations:
        if not wants(integration, n):
            continue
        parent = None
        if n.parent_key and integration.threads:
            parent = row_key(n.parent_key, n.receiver, integration)
        out.append(
            OutboxItem(
                key=row_key(n.key, n.receiver, integration),
                receiver=n.receiver,
                integration=integration.name,
                kind=integration.kind,
                action=n.action if integration.threads else ("post" if n.action != "update" else "update"),
                target=lane(integration),
                group_ref=n.group_ref,
                notification=n,
                parent_key=parent,
                not_before=now,
                created_at=now,
            )
        )
    return out


def fallback_rows(item: OutboxItem, receivers: Mapping[str, Receiver], now: float) -> list[OutboxItem]:
    """The copies of ``item`` for its receiver's fallback (posts; in-place updates are dropped)."""
    receiver = receivers.get(item.receiver)
    if receiver is None or receiver.fallback is None or item.action == "update":
        return []
    n = replace(
        item.notification,
        key=f"{item.notification.key}>fb",
        receiver=receiver.fallback,
        action="post",
        parent_key=None,
        via_fallback_of=item.receiver,
    )
    rows = expand(n, receivers, now)
    return [
        replace(r, key=f"{item.key}>{r.receiver}/{r.integration}"[:255], fallback_of=item.id) for r in rows
    ]


def backoff(settings: DeliverySettings, attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with +-20% jitter so retries of many rows do not stampede."""
    base = min(settings.retry_max, settings.retry_initial * float(2 ** max(attempts - 1, 0)))
    jitter = float((rng or random).uniform(0.8, 1.2))
    return min(settings.retry_max, base * jitter)


def integration_of(receivers: Mapping[str, Receiver], item: OutboxItem) -> Integration | None:
    receiver = receivers.get(item.receiver)
    if receiver is None:
        return None
    return next((i for i in receiver.integrations if i.name == item.integration), None)

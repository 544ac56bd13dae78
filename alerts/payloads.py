"""Webhook JSON, Alertmanager API bodies and console lines for notifications. Pure.

The generic webhook body is Alertmanager's own webhook format (version 4), so tools that consume
Alertmanager webhooks work unchanged; Vitals' extras (state, acknowledgement, figures, the
notification key for de-duplication) sit under one extra ``vitals`` key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from alerts.messages import alert_line, exhaustion, facility, headline, pct
from alerts.notification import AlertView, Notification

ZERO_TIME = "0001-01-01T00:00:00Z"


def iso(ts: float | None) -> str:
    if ts is None:
        return ZERO_TIME
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_annotations(view: AlertView) -> dict[str, str]:
    """Alertmanager annotations (strings) describing an alert's figures."""
    f = view.figures
    out = {
        "title": f.title,
        "summary": alert_line(view, f.evaluated_at or view.started_at),
        "observed": pct(f.sli),
        "objective": pct(f.objective),
        "window": f.window_label,
        "budget_remaining": pct(f.budget_remaining, 1),
        "budget_exhaustion": exhaustion(view),
        "facility": facility(view),
    }
    if f.at_risk_amount is not None:
        out["at_risk_amount"] = f"{f.at_risk_amount:.2f}"
    for key in ("sla", "evidence"):
        if view.links.get(key):
            out[f"{key}_url"] = view.links[key]
    return out


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = dict(maps[0])
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def webhook_body(
    n: Notification, external_url: str, max_alerts: int = 0, key: str | None = None
) -> dict[str, Any]:
    """Alertmanager's webhook JSON (version 4) plus ``vitals``; ``key`` is the delivery's own key."""
    views = list(n.alerts)
    truncated = 0
    if max_alerts and len(views) > max_alerts:
        truncated = len(views) - max_alerts
        views = views[:max_alerts]
    alerts = [
        {
            "status": "resolved" if v.state == "resolved" else "firing",
            "labels": dict(v.labels),
            "annotations": alert_annotations(v),
            "startsAt": iso(v.started_at),
            "endsAt": iso(v.resolved_at),
            "generatorURL": v.links.get("sla", ""),
            "fingerprint": v.fingerprint,
        }
        for v in views
    ]
    return {
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": truncated,
        "status": n.status,
        "receiver": n.receiver,
        "groupLabels": dict(n.group_labels),
        "commonLabels": _common([v.labels for v in n.alerts]),
        "commonAnnotations": _common([alert_annotations(v) for v in n.alerts]),
        "externalURL": external_url,
        "alerts": alerts,
        "vitals": {
            "notificationKey": key or n.key,
            "kind": n.kind,
            "action": n.action,
            "note": n.note,
            "highlight": list(n.highlight),
            "escalation": dict(n.escalation) if n.escalation else None,
            "viaFallbackOf": n.via_fallback_of,
            "alerts": {
                v.fingerprint: {
                    "state": v.state,
                    "acknowledgedBy": v.acknowledged_by,
                    "acknowledgedAt": iso(v.acknowledged_at) if v.acknowledged_at else None,
                    "suppressedBy": list(v.suppressed_by),
                    "figures": v.figures.to_json(),
                }
                for v in views
            },
        },
    }


def alertmanager_alerts(n: Notification, alert_ttl_s: float) -> list[dict[str, Any]]:
    """``POST /api/v2/alerts`` body: firing alerts expire after ``alert_ttl_s`` unless re-sent."""
    out = []
    for v in n.alerts:
        ends = v.resolved_at if v.state == "resolved" else n.created_at + alert_ttl_s
        notes = alert_annotations(v)
        notes["vitals_state"] = v.state
        if v.acknowledged_by:
            notes["vitals_acknowledged_by"] = v.acknowledged_by
        out.append(
            {
                "labels": dict(v.labels),
                "annotations": notes,
                "startsAt": iso(v.started_at),
                "endsAt": iso(ends),
                "generatorURL": v.links.get("sla", ""),
            }
        )
    return out


def console_line(n: Notification) -> str:
    head = f"[vitals alert] {n.kind} -> {n.receiver}: {headline(n)}"
    if n.note:
        head += f" ({n.note})"
    focus = [v for v in n.alerts if not n.highlight or v.fingerprint in set(n.highlight)] or list(n.alerts)
    return "\n".join([head, *(f"  - {alert_line(v, n.created_at)}" for v in focus)])

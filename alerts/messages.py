"""Slack messages (Block Kit plus a plain-text fallback) for notifications. Pure.

Everything shown comes from the notification's alert views: the SLA's id, title, owner and
priority (from the SLA file), safe labels, and figures. No free text from telemetry is used.
The parent message of a group episode is rebuilt in full on every update; thread replies are
short follow-ups (new alert, still firing, escalated, resolved).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from alerts.notification import AlertView, Notification
from vitals.kernel.units import format_duration

MAX_ALERT_SECTIONS = 8
ACK_ALERT_ACTION = "vitals_ack_alert"
ACK_GROUP_ACTION = "vitals_ack_group"
SILENCE_GROUP_ACTION = "vitals_silence_group"
#: How long the "Silence" button silences the group's alerts.
BUTTON_SILENCE_S = 2 * 3600.0

_STATE_EMOJI = {
    "firing": ":rotating_light:",
    "acknowledged": ":eyes:",
    "suppressed": ":zzz:",
    "resolved": ":white_check_mark:",
}


def pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def when(ts: float | None) -> str:
    if ts is None:
        return "n/a"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def slack_when(ts: float | None) -> str:
    """A time in Block Kit text: Slack shows it in each reader's own time zone.

    ``<!date^...>`` with the UTC time as the fallback for clients that cannot format it; never
    the bare epoch seconds.
    """
    if ts is None:
        return "n/a"
    return f"<!date^{int(ts)}^{{date_num}} {{time}}|{when(ts)}>"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return format_duration(max(seconds, 0.0)) if seconds >= 60 else f"{max(int(seconds), 0)}s"


def money(value: float | None) -> str:
    return "" if value is None else f"${value:,.0f}"


def exhaustion(view: AlertView) -> str:
    """``exhausted``, ``exhausted in 3h10m`` (at the current burn rate) or ``not burning``."""
    f = view.figures
    if f.budget_remaining is not None and f.budget_remaining <= 0:
        return "exhausted"
    if f.time_to_exhaustion_s is None:
        return "not burning"
    return f"exhausted in {duration(f.time_to_exhaustion_s)}"


def facility(view: AlertView) -> str:
    return view.labels.get("facility") or view.labels.get("hc_facility") or "all facilities"


def headline(n: Notification) -> str:
    """``[STATUS] priority title`` of what the notification is about.

    A thread reply is about its highlighted alerts, so its status is theirs: a "resolved" reply in
    a group that still has other alerts firing starts ``[RESOLVED]``, not the group's ``[FIRING]``.
    """
    views = _focus(n)
    status = n.status.upper()
    if n.kind == "escalated":
        status = "ESCALATED"
    elif n.action == "reply":
        status = "RESOLVED" if all(v.state == "resolved" for v in views) else "FIRING"
    if status == "FIRING" and n.urgency == "ticket":
        status = "TICKET"  # handled in working hours: nobody is paged
    priority = min((v.labels.get("priority", "P4") for v in views), default="P4")
    titles = sorted({v.figures.title for v in views})
    title = titles[0] if len(titles) == 1 else f"{len(views)} alerts ({', '.join(titles[:3])})"
    return f"[{status}] {priority} {title}"


def alert_line(view: AlertView, now: float) -> str:
    """One alert as plain text: the figures a responder needs, in a fixed order."""
    f = view.figures
    if f.kind == "watchdog":
        # Not an SLA: no figures to compare, only since when evaluations stopped (or resumed).
        since = (
            f"resolved {when(view.resolved_at)}"
            if view.state == "resolved"
            else (f"since {when(view.started_at)} ({duration(now - view.started_at)})")
        )
        return f"{f.title} [{view.sla_id}]; state {view.state}; {f.window_label}; {since}"
    parts = [
        f"{view.figures.title} [{view.sla_id}]",
        f"tier {view.tier} ({view.labels.get('severity', '')})",
        f"state {view.state}",
        f"observed {pct(f.sli)} vs objective {pct(f.objective)} over {f.window_label}",
        f"budget remaining {pct(f.budget_remaining, 1)} ({exhaustion(view)})",
        f"facility {facility(view)}",
    ]
    if view.slice:
        parts.append(f"slice {view.slice}")
    if view.state == "resolved":
        parts.append(f"resolved {when(view.resolved_at)}")
    else:
        parts.append(f"since {when(view.started_at)} ({duration(now - view.started_at)})")
    if view.acknowledged_by:
        parts.append(f"acknowledged by {view.acknowledged_by}")
    if f.at_risk_amount:
        parts.append(f"at risk {money(f.at_risk_amount)}")
    return "; ".join(parts)


def fallback_text(n: Notification) -> str:
    """The plain-text version (notifications, screen readers, clients without Block Kit)."""
    shown = _focus(n)
    lines = [headline(n) + (f": {n.note}" if n.note else "")]
    lines += [alert_line(v, n.created_at) for v in shown[:MAX_ALERT_SECTIONS]]
    if len(shown) > MAX_ALERT_SECTIONS:
        lines.append(f"+{len(shown) - MAX_ALERT_SECTIONS} more alerts")
    link = next((v.links.get("evidence") for v in shown if v.links.get("evidence")), None)
    if link:
        lines.append(f"Evidence: {link}")
    return "\n".join(lines)


def _focus(n: Notification) -> list[AlertView]:
    """Replies talk about the highlighted alerts; full messages about all of them."""
    if n.action == "reply" and n.highlight:
        chosen = [v for v in n.alerts if v.fingerprint in set(n.highlight)]
        if chosen:
            return chosen
    return list(n.alerts)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text[:3000]}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _alert_section(view: AlertView, now: float, interactive: bool) -> list[dict[str, Any]]:
    f = view.figures
    emoji = _STATE_EMOJI.get(view.state, "")
    severity = view.labels.get("severity", "")
    lines = [
        f"{emoji} *{_escape(f.title)}* · `{view.sla_id}` · tier `{view.tier}` ({severity})",
        f"*Observed* {pct(f.sli)} vs *objective* {pct(f.objective)} over {_escape(f.window_label)}"
        f" ({f.good:,.0f} good of {f.total:,.0f})",
        f"*Budget remaining* {pct(f.budget_remaining, 1)} ({exhaustion(view)})",
        f"*Facility* {_escape(facility(view))}"
        + (f" · *slice* `{_escape(view.slice)}`" if view.slice else "")
        + (f" · *at risk* {money(f.at_risk_amount)}" if f.at_risk_amount else ""),
    ]
    if view.state == "resolved":
        lasted = duration((view.resolved_at or now) - view.started_at)
        lines.append(f"*Resolved* {slack_when(view.resolved_at)} after {lasted}")
    else:
        lines.append(f"*Since* {slack_when(view.started_at)} ({duration(now - view.started_at)})")
    if f.burn_rate is not None and f.burn_threshold is not None:
        lines.append(f"*Burn rate* {f.burn_rate:.1f}x (threshold {f.burn_threshold:.1f}x)")
    section: dict[str, Any] = {"type": "section", "text": _mrkdwn("\n".join(lines))}
    if interactive and view.state == "firing":
        section["accessory"] = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Acknowledge"},
            "action_id": f"{ACK_ALERT_ACTION}:{view.fingerprint}",
            "value": f"alert:{view.fingerprint}",
        }
    blocks = [section]
    notes = []
    if view.acknowledged_by:
        note = f":eyes: Acknowledged by {_escape(view.acknowledged_by)} at {slack_when(view.acknowledged_at)}"
        if view.ack_comment:
            note += f": {_escape(view.ack_comment)[:200]}"
        notes.append(note)
    if view.suppressed_by:
        notes.append(":zzz: Suppressed (" + ", ".join(view.suppressed_by) + ")")
    if notes:
        blocks.append({"type": "context", "elements": [_mrkdwn(n) for n in notes]})
    return blocks


def _buttons(n: Notification, views: Sequence[AlertView], interactive: bool) -> dict[str, Any] | None:
    elements: list[dict[str, Any]] = []
    firing = [v for v in views if v.state == "firing"]
    if interactive and firing:
        elements.append(
            {
                "type": "button",
                "style": "primary",
                "text": {
                    "type": "plain_text",
                    "text": "Acknowledge incident" if len(views) > 1 else "Acknowledge",
                },
                "action_id": ACK_GROUP_ACTION,
                "value": f"group:{n.group_ref}",
            }
        )
    if interactive and any(v.state != "resolved" for v in views):
        elements.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": f"Silence {duration(BUTTON_SILENCE_S)}"},
                "action_id": SILENCE_GROUP_ACTION,
                "value": f"group:{n.group_ref}",
                "confirm": {
                    "title": {"type": "plain_text", "text": "Silence these alerts?"},
                    "text": _mrkdwn(f"Silence the alerts of this message for {duration(BUTTON_SILENCE_S)}."),
                    "confirm": {"type": "plain_text", "text": "Silence"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                },
            }
        )
    first = views[0] if views else None
    links = [("sla", "SLA page"), ("evidence", "Evidence")]
    if not interactive:
        links.insert(0, ("silence", "Silence"))  # without the in-place button, link to the dashboard
    for key, label in links:
        url = first.links.get(key) if first is not None else None
        if url:
            elements.append(
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": label},
                    "url": url[:3000],
                    "action_id": f"vitals_link_{key}",
                }
            )
    return {"type": "actions", "elements": elements} if elements else None


def slack_message(n: Notification, *, interactive: bool = True) -> dict[str, Any]:
    """The parent message of a group (post and in-place update), or an escalation post."""
    views = list(n.alerts)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline(n)[:150], "emoji": True}}
    ]
    context = [f"Receiver *{_escape(n.receiver)}*"]
    owners = sorted({v.labels.get("owner", "") for v in views if v.labels.get("owner")})
    if owners:
        context.append("owner " + ", ".join(_escape(o) for o in owners))
    domains = sorted({v.labels.get("domain", "") for v in views if v.labels.get("domain")})
    if domains:
        context.append("domain " + ", ".join(domains))
    blocks.append({"type": "context", "elements": [_mrkdwn(" · ".join(context))]})
    if n.note:
        blocks.append({"type": "section", "text": _mrkdwn(f":arrow_up: *{_escape(n.note)}*")})
    for view in views[:MAX_ALERT_SECTIONS]:
        blocks.extend(_alert_section(view, n.created_at, interactive))
    if len(views) > MAX_ALERT_SECTIONS:
        blocks.append(
            {
                "type": "context",
                "elements": [_mrkdwn(f"+{len(views) - MAX_ALERT_SECTIONS} more alerts in this group")],
            }
        )
    actions = _buttons(n, views, interactive)
    if actions:
        blocks.append(actions)
    if n.via_fallback_of:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    _mrkdwn(f"Delivered here because receiver *{_escape(n.via_fallback_of)}* is unreachable.")
                ],
            }
        )
    return {"text": fallback_text(n)[:3000], "blocks": blocks[:50]}


_REPLY_LEAD = {
    "firing": ":rotating_light: New alert firing",
    "repeat": ":repeat: Still firing and not acknowledged",
    "resolved": ":white_check_mark: Resolved",
    "escalated": ":arrow_up: Escalated",
    "update": "Updated",
}


def slack_reply(n: Notification) -> dict[str, Any]:
    """A thread follow-up: what changed, about which alerts."""
    views = _focus(n)
    lead = _REPLY_LEAD.get(n.kind, n.kind)
    text = n.note if n.kind == "escalated" and n.note else lead
    lines = [f"*{_escape(text)}*"]
    for view in views[:MAX_ALERT_SECTIONS]:
        f = view.figures
        if view.state == "resolved":
            lasted = duration((view.resolved_at or n.created_at) - view.started_at)
            detail = f"resolved {slack_when(view.resolved_at)} after {lasted}"
        else:
            budget = pct(f.budget_remaining, 1)
            detail = f"observed {pct(f.sli)} vs {pct(f.objective)}, budget {budget}, {view.state}"
        lines.append(f"• {_escape(f.title)} · `{view.tier}` · {_escape(facility(view))}: {detail}")
    blocks = [{"type": "section", "text": _mrkdwn("\n".join(lines))}]
    return {"text": fallback_text(n)[:3000], "blocks": blocks}

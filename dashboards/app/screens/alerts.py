"""Alerts: incidents first (what is firing, who owns it, for how long), each with its alerts;
acknowledge and silence (via alerts.api).

Tallies and lists come from one query; after an action the query is forgotten and the page
reruns at once, so the counts shown are those after the action, never the ones before it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from alerts import api
from dashboards import views
from dashboards.timerange import format_duration, snap
from dashboards.ui import cached, widgets
from dashboards.ui.frame import PageContext, banners, render
from dashboards.ui.resources import engine_for
from vitals.kernel.units import NS

SILENCE_FOR = {"1 hour": 1, "4 hours": 4, "1 day": 24, "1 week": 24 * 7}
STATE_ICONS = {
    "firing": "✖ firing",
    "acknowledged": "✔ acknowledged",
    "suppressed": "⊘ suppressed",
    "resolved": "○ resolved",
}
STATES = ("firing", "acknowledged", "suppressed", "resolved")
#: A message to show after the rerun that follows an action (st.success would vanish with it).
FLASH = "alerts.flash"


@st.cache_data(ttl=10, show_spinner=False)
def incidents(url: str, now_s: int, recent_h: int) -> list[api.IncidentInfo]:
    """Incidents (with their alerts) open now or resolved in the last ``recent_h`` hours."""
    return api.list_incidents(engine_for(url), recent=timedelta(hours=recent_h), now=now_s)


def changed(message: str) -> None:
    """After an action: forget the cached state and rerun, so every count is the new one."""
    st.session_state[FLASH] = message
    incidents.clear()
    cached.forget_alerts()
    st.rerun()


def alert_frame(ctx: PageContext, alerts: list[Any]) -> pd.DataFrame:
    now = datetime.fromtimestamp(ctx.now_ns / NS, UTC)
    rows = []
    for a in alerts:
        end = a.resolved or now
        rows.append(
            {
                "id": a.id,
                "state": STATE_ICONS.get(a.state, a.state),
                "priority": a.priority,
                "title": a.title,
                "slice": a.slice or "",
                "window": a.tier,
                "owner": a.owner,
                "facility": a.facility or "",
                "since": ctx.fmt(int(a.started.timestamp() * NS)),
                "duration": format_duration((end - a.started).total_seconds()),
                "SLI / objective": f"{views.pct(a.observed)} / {a.objective * 100:g}% over {a.window_label}",
                "budget left": views.pct(a.budget_remaining, 1),
                "at risk": views.money(a.at_risk_amount) if a.at_risk_amount is not None else "",
                "acknowledged by": a.acknowledged_by or "",
                "evidence": ctx.link("sla", sla=a.sla_id, slice=a.slice or ""),
            }
        )
    return pd.DataFrame(rows)


def _table(ctx: PageContext, frame: pd.DataFrame, key: str) -> None:
    widgets.table(
        frame,
        key=key,
        file_name=f"{key}.csv",
        column_config={
            "evidence": st.column_config.LinkColumn("evidence", display_text="SLA and bad events")
        },
    )


def who(ctx: PageContext, key: str) -> str:
    """The name the audit log records: the signed-in user, or one typed in when there is no login."""
    if ctx.identity.username:
        return ctx.identity.username
    return st.text_input("Your name (for the audit log)", key=key, max_chars=80).strip()


def acknowledge(ctx: PageContext, firing: list[Any]) -> None:
    st.subheader("Acknowledge one alert")
    if not firing:
        st.caption("Nothing firing to acknowledge.")
        return
    labels = {a.id: f"#{a.id} {a.priority} {a.title} {a.slice or ''} ({a.tier})" for a in firing}
    with st.form("ack", clear_on_submit=True):
        alert_id = st.selectbox("Alert", list(labels), format_func=lambda i: labels.get(i, str(i)))
        comment = st.text_input("Comment", placeholder="Looking into it: ERP posting service restarted")
        by = who(ctx, "ack.by")
        submitted = st.form_submit_button("Acknowledge", type="primary", icon=":material/check:")
    if submitted:
        if not by:
            st.error("Give your name: the audit log records who acknowledged.")
            return
        if alert_id is None:
            return
        try:
            info = api.acknowledge(ctx.engine, int(alert_id), by, comment, source="dashboard")
        except (api.AckError, api.NotFound) as exc:
            st.error(f"Not acknowledged: {exc}")
            return
        changed(f"Acknowledged #{info.id} as {by}; repeats and escalation stop until the ack timeout.")


def silence(ctx: PageContext, open_alerts: list[Any]) -> None:
    st.subheader("Silence")
    suggestions = [f'sla="{a.sla_id}"' + (f', slice="{a.slice}"' if a.slice else "") for a in open_alerts]
    with st.form("silence", clear_on_submit=True):
        matchers = st.text_input(
            "Matchers",
            value=suggestions[0] if suggestions else "",
            help='Alertmanager matchers, comma separated: sla="gl-posting-errors", facility=~"north.*"',
        )
        length = st.segmented_control("For", list(SILENCE_FOR), default="1 hour")
        comment = st.text_input("Comment (required)", placeholder="ERP maintenance window")
        expire = st.checkbox("End the silence when its alerts resolve")
        by = who(ctx, "silence.by")
        submitted = st.form_submit_button("Create silence", icon=":material/notifications_off:")
    if submitted:
        if not by or not comment.strip() or not matchers.strip():
            st.error("A silence needs matchers, a comment and your name.")
            return
        hours = SILENCE_FOR[length or "1 hour"]
        ends = datetime.now(UTC) + timedelta(hours=hours)
        try:
            silence_id = api.create_silence(
                ctx.engine, matchers, None, ends, by, comment.strip(), expire, source="dashboard"
            )
        except api.SilenceError as exc:
            st.error(f"Not silenced: {exc}")
            return
        changed(f"Silence #{silence_id} created until {ctx.fmt(int(ends.timestamp() * NS))}.")


def silences(ctx: PageContext, now_s: int) -> None:
    show_expired = st.toggle("Show expired silences", key="silences.expired")
    rows = cached.silences(ctx.url, now_s, show_expired)
    if not rows:
        st.caption("No silences.")
        return
    frame = pd.DataFrame(
        [
            {
                "id": s.id,
                "status": s.status,
                "matchers": ", ".join(s.matchers),
                "starts": ctx.fmt(int(s.starts_at.timestamp() * NS)),
                "ends": ctx.fmt(int(s.ends_at.timestamp() * NS)),
                "created by": s.created_by,
                "comment": s.comment,
                "ends when resolved": s.expire_on_resolve,
            }
            for s in rows
        ]
    )
    widgets.table(frame, key="silences", file_name="silences.csv")
    active = [s for s in rows if s.status in ("active", "pending")]
    if not active:
        return
    with st.form("expire", clear_on_submit=True):
        silence_id = st.selectbox(
            "Expire a silence",
            [s.id for s in active],
            format_func=lambda i: f"#{i} " + next(", ".join(s.matchers) for s in active if s.id == i),
        )
        by = who(ctx, "expire.by")
        submitted = st.form_submit_button("Expire now", icon=":material/timer_off:")
    if submitted:
        if not by:
            st.error("Give your name: the audit log records who expired the silence.")
            return
        try:
            api.expire_silence(ctx.engine, int(silence_id), by, source="dashboard")
        except (api.NotFound, api.SilenceError) as exc:
            st.error(f"Not expired: {exc}")
            return
        changed(f"Silence #{silence_id} expired.")


def audit(ctx: PageContext, now_s: int) -> None:
    st.subheader("Audit log")
    entries = cached.audit(ctx.url, now_s)
    if not entries:
        st.caption("No acknowledgements, silences or config reloads yet.")
        return
    frame = pd.DataFrame(
        [
            {
                "at": ctx.fmt(int(e.at.timestamp() * NS), seconds=True),
                "who": e.actor,
                "action": e.action,
                "target": e.target,
                "from": e.source,
                "detail": ", ".join(f"{k}={v}" for k, v in e.detail.items()),
            }
            for e in entries
        ]
    )
    widgets.table(frame, key="audit", file_name="alerts-audit.csv")


def incident_label(ctx: PageContext, incident: api.IncidentInfo) -> str:
    """One line a person can scan: state, urgency, priority, what, who is told, since, owner."""
    counts = ", ".join(f"{n} {state}" for state, n in incident.counts.items() if n)
    parts = [STATE_ICONS.get(incident.state, incident.state)]
    parts += [p for p in (incident.urgency, incident.priority) if p]
    parts.append(f"**{incident.title}**" + (f" → {incident.receiver}" if incident.receiver else ""))
    if incident.started_at is not None:
        parts.append("since " + ctx.fmt(int(incident.started_at.timestamp() * NS)))
    if incident.acknowledged_by:
        parts.append(f"acknowledged by {incident.acknowledged_by}")
    parts.append(f"({counts})")
    return " · ".join(parts)


def acknowledge_incident(ctx: PageContext, incident: api.IncidentInfo) -> None:
    """The incident's Acknowledge button: every alert in it, and its escalation stops."""
    with st.form(f"ack-incident-{incident.ref}", clear_on_submit=True, border=False):
        comment = st.text_input("Comment", key=f"ack-incident-{incident.ref}.comment")
        by = who(ctx, f"ack-incident-{incident.ref}.by")
        submitted = st.form_submit_button("Acknowledge incident", type="primary", icon=":material/check:")
    if not submitted:
        return
    if not by:
        st.error("Give your name: the audit log records who acknowledged.")
        return
    try:
        done = api.acknowledge_incident(
            ctx.engine, ctx.res.settings.config_dir, incident.ref, by, comment, "dashboard"
        )
    except (api.AckError, api.NotFound) as exc:
        st.error(f"Not acknowledged: {exc}")
        return
    changed(
        f"Acknowledged the incident {done.title} as {by} ({done.counts['acknowledged']} alerts); "
        "repeats and escalation stop until the ack timeout."
    )


def incident_list(ctx: PageContext, shown: list[api.IncidentInfo]) -> None:
    """One expander per incident, the most urgent first (firing ones open), with its alerts."""
    for incident in shown:
        name = incident.ref or "not-grouped"
        with st.expander(incident_label(ctx, incident), expanded=incident.state == "firing"):
            if incident.grouped:
                labels = ", ".join(f"{k}={v}" for k, v in sorted(incident.group_labels.items()))
                notes = [f"Incident `{incident.ref}` · group {labels or '(all)'}"]
                if incident.opened_at is not None:
                    notes.append("opened " + ctx.fmt(int(incident.opened_at.timestamp() * NS)))
                if incident.ack_comment:
                    notes.append(f"comment: {incident.ack_comment}")
                st.caption(" · ".join(notes))
            else:
                st.caption(
                    "Alerts that no incident holds: never notified (silenced or inhibited from the "
                    "start), or firing for less than one planning step."
                )
            _table(ctx, alert_frame(ctx, list(incident.alerts)), f"incident-{name}")
            if incident.grouped and incident.counts.get("firing"):
                acknowledge_incident(ctx, incident)


def tally(shown: list[api.IncidentInfo]) -> None:
    counts = api.tallies(shown)
    for what in ("incidents", "alerts"):
        columns = st.columns(4)
        for column, state in zip(columns, STATES, strict=True):
            column.metric(f"{STATE_ICONS[state]} {what}", counts[what][state])


def body(ctx: PageContext) -> None:
    st.title("Alerts")
    banners(ctx, needs_telemetry=False, needs_evaluations=True)
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(str(flash))
    now_s = int(snap(ctx.now_ns, 10) // NS)
    recent_h = max(24, int(ctx.tr.seconds // 3600))
    shown = incidents(ctx.url, now_s, recent_h)
    alerts = list({a.fingerprint: a for i in shown for a in i.alerts}.values())
    open_alerts = [a for a in alerts if a.state != "resolved"]
    firing = [a for a in open_alerts if a.state == "firing"]
    tally(shown)
    st.caption(
        f"Open incidents, and those resolved in the last {format_duration(recent_h * 3600)}: firing "
        "first, then acknowledged, then suppressed; pages before tickets, P1 first, the newest first."
    )
    st.subheader("Incidents")
    if not any(i.is_open for i in shown):
        st.success("Nothing is firing.", icon=":material/check_circle:")
    incident_list(ctx, shown)
    left, right = st.columns(2)
    with left:
        acknowledge(ctx, firing)
    with right:
        silence(ctx, open_alerts)
    silences(ctx, now_s)
    audit(ctx, now_s)


render("alerts", body)

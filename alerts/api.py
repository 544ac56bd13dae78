"""The alerts API for Python callers (the dashboard): incidents, alerts, acknowledge, silence, audit.

Stable signatures; every function takes the SQLAlchemy ``Engine`` of a migrated Vitals store.
Times come back as timezone-aware UTC ``datetime``; times going in may be aware datetimes,
naive datetimes (taken as UTC) or Unix seconds. Every mutation is written together with its
audit entry (who, when, what, from where). Errors: ``NotFound`` (no such alert or silence),
``AckError`` (e.g. the alert is resolved), ``SilenceError`` (invalid matchers or times).
Incidents (``list_incidents``, ``acknowledge_incident``) are the alerting groups, with their alerts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

from sqlalchemy.engine import Engine

from alerts import actions
from alerts import config as alerts_config
from alerts.grouping import GroupState
from alerts.lifecycle import AckError
from alerts.model import ALERT_STATES, Alert, AlertState
from alerts.silences import Silence, SilenceError
from alerts.sqlstore import SqlStore
from alerts.store import AlertStore, NotFound
from vitals.kernel.timeintervals import TimeInterval

__all__ = [
    "AckError",
    "AlertInfo",
    "AuditInfo",
    "EventInfo",
    "IncidentInfo",
    "NotFound",
    "SilenceError",
    "SilenceInfo",
    "acknowledge",
    "acknowledge_incident",
    "alert_history",
    "audit_log",
    "create_silence",
    "expire_silence",
    "get_alert",
    "get_incident",
    "incidents_of",
    "list_alerts",
    "list_incidents",
    "list_silences",
    "outbox_status",
    "tallies",
]

OPEN_STATES: tuple[AlertState, ...] = ("firing", "acknowledged", "suppressed")
Moment = datetime | float | int


def _plain(value: Any) -> Any:
    """A field value as JSON: times as ISO 8601, tuples as lists, mappings as dicts."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def _ts(value: Moment) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


@dataclass(frozen=True)
class AlertInfo:
    id: int
    fingerprint: str
    sla_id: str
    slice: str
    tier: str
    title: str
    priority: str
    severity: str
    domain: str
    owner: str
    facility: str | None
    state: AlertState
    started: datetime
    resolved: datetime | None
    labels: Mapping[str, str]
    observed: float | None  # the SLI, 0..1
    objective: float
    window_label: str
    budget_remaining: float | None
    time_to_exhaustion_s: float | None
    at_risk_amount: float | None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_comment: str | None = None
    suppressed_by: tuple[str, ...] = ()
    flapping: bool = False
    hysteresis_holds: int = 0
    flap_holds: int = 0
    episode: int = 1
    last_evaluated: datetime | None = None

    @classmethod
    def of(cls, alert: Alert) -> AlertInfo:
        f = alert.figures
        labels = alert.labels
        assert alert.id is not None
        started = _dt(alert.started_at)
        assert started is not None
        return cls(
            id=alert.id,
            fingerprint=alert.fingerprint,
            sla_id=alert.sla_id,
            slice=alert.slice,
            tier=alert.tier,
            title=f.title,
            priority=labels.get("priority", ""),
            severity=labels.get("severity", ""),
            domain=labels.get("domain", ""),
            owner=labels.get("owner", ""),
            facility=labels.get("facility"),
            state=alert.state,
            started=started,
            resolved=_dt(alert.resolved_at),
            labels=dict(labels),
            observed=f.sli,
            objective=f.objective,
            window_label=f.window_label,
            budget_remaining=f.budget_remaining,
            time_to_exhaustion_s=f.time_to_exhaustion_s,
            at_risk_amount=f.at_risk_amount,
            acknowledged_by=alert.acknowledged_by,
            acknowledged_at=_dt(alert.acknowledged_at),
            ack_comment=alert.ack_comment,
            suppressed_by=alert.suppressed_by,
            flapping=alert.flapping,
            hysteresis_holds=alert.hysteresis_holds,
            flap_holds=alert.flap_holds,
            episode=alert.episode,
            last_evaluated=_dt(alert.last_evaluated_at),
        )

    def to_json(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class SilenceInfo:
    id: int
    matchers: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    status: str  # pending, active, expired
    expire_on_resolve: bool
    time_intervals: tuple[Mapping[str, Any], ...] = ()
    expired_by: str | None = None

    @classmethod
    def of(cls, silence: Silence, now: float) -> SilenceInfo:
        starts, ends, created = _dt(silence.starts_at), _dt(silence.ends_at), _dt(silence.created_at)
        assert starts and ends and created
        return cls(
            id=silence.id,
            matchers=tuple(str(m) for m in silence.matchers),
            starts_at=starts,
            ends_at=ends,
            created_by=silence.created_by,
            comment=silence.comment,
            created_at=created,
            status=silence.status(now),
            expire_on_resolve=silence.expire_on_resolve,
            time_intervals=tuple(s.to_json() for s in silence.time_intervals),
            expired_by=silence.expired_by,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": list(self.matchers),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "created_by": self.created_by,
            "comment": self.comment,
            "created_at": self.created_at.isoformat(),
            "status": self.status,
            "expire_on_resolve": self.expire_on_resolve,
            "time_intervals": [dict(t) for t in self.time_intervals],
            "expired_by": self.expired_by,
        }


@dataclass(frozen=True)
class AuditInfo:
    id: int
    at: datetime
    actor: str
    action: str  # acknowledge, silence.create, silence.expire, config.reload, config.reload_failed, ...
    target: str
    source: str  # cli, api, dashboard, slack, system
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "source": self.source,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class EventInfo:
    at: datetime
    kind: str  # fired, cleared, hysteresis_held, flapping, flap_held, resolved, acknowledged, ...
    actor: str
    detail: Mapping[str, Any] = field(default_factory=dict)


def list_alerts(
    engine: Engine,
    *,
    states: Iterable[AlertState] | None = OPEN_STATES,
    recent: timedelta | None = timedelta(hours=24),
    limit: int = 500,
) -> list[AlertInfo]:
    """Alerts in ``states`` plus (with ``recent``) those resolved within that long; newest first.

    ``states=None`` means every state. The default is what an on-call view wants: everything
    open (firing, acknowledged, suppressed) and what resolved in the last day.
    """
    store = SqlStore(engine)
    wanted = None if states is None else set(states)
    if wanted is not None and recent is not None:
        wanted.add("resolved")
    since = time.time() - recent.total_seconds() if recent is not None else None
    rows = store.list_alerts(wanted, since, limit)
    return [AlertInfo.of(a) for a in rows]


def get_alert(engine: Engine, alert_id_or_fingerprint: int | str) -> AlertInfo | None:
    alert = SqlStore(engine).get_alert(alert_id_or_fingerprint)
    return AlertInfo.of(alert) if alert else None


def alert_history(engine: Engine, alert_id_or_fingerprint: int | str, limit: int = 100) -> list[EventInfo]:
    store = SqlStore(engine)
    alert = store.get_alert(alert_id_or_fingerprint)
    if alert is None:
        raise NotFound(f"no alert with id or fingerprint {alert_id_or_fingerprint!r}")
    out = []
    for e in store.events_for(alert.fingerprint, limit):
        at = _dt(e.at)
        assert at is not None
        out.append(EventInfo(at, e.kind, e.actor, dict(e.detail)))
    return out


def acknowledge(
    engine: Engine,
    alert_id_or_fingerprint: int | str,
    by: str,
    comment: str = "",
    *,
    source: str = "dashboard",
) -> AlertInfo:
    """Acknowledge an alert: stops its repeats and escalation until the ack timeout."""
    alert = actions.acknowledge(
        SqlStore(engine), alert_id_or_fingerprint, by, comment, source=source, now=time.time()
    )
    stored = SqlStore(engine).get_alert(alert.fingerprint)
    assert stored is not None
    return AlertInfo.of(stored)


def create_silence(  # noqa: PLR0917 - the signature the dashboard relies on
    engine: Engine,
    matchers: str | Sequence[str],
    starts_at: Moment | None,
    ends_at: Moment,
    author: str,
    comment: str,
    expire_on_resolve: bool = False,
    *,
    time_intervals: Sequence[Mapping[str, Any]] | None = None,
    source: str = "dashboard",
) -> int:
    """Create a silence; returns its id.

    ``matchers``: Alertmanager matcher strings (``['sla="gl-posting-errors"', 'facility=~"north.*"']``
    or one string ``'{sla="x", tier!="objective"}'``). ``starts_at`` None means now.
    ``time_intervals``: optional recurring windows (Alertmanager time_interval specs, e.g.
    ``[{"weekdays": ["saturday"], "times": [{"start_time": "02:00", "end_time": "04:00"}]}]``)
    inside which the silence applies. ``expire_on_resolve``: end the silence once every alert it
    muted has resolved.
    """
    specs = []
    for raw in time_intervals or ():
        try:
            specs.append(TimeInterval.from_json(raw))
        except (ValueError, KeyError, TypeError) as exc:
            raise SilenceError(f"invalid time interval {raw!r}: {exc}") from exc
    return actions.create_silence(
        SqlStore(engine),
        matchers,
        starts_at=None if starts_at is None else _ts(starts_at),
        ends_at=_ts(ends_at),
        author=author,
        comment=comment,
        now=time.time(),
        source=source,
        expire_on_resolve=expire_on_resolve,
        time_intervals=specs,
    )


def expire_silence(engine: Engine, silence_id: int, by: str, *, source: str = "dashboard") -> SilenceInfo:
    now = time.time()
    silence = actions.expire_silence(SqlStore(engine), int(silence_id), by, source=source, now=now)
    return SilenceInfo.of(silence, now)


def list_silences(engine: Engine, *, include_expired: bool = False, limit: int = 200) -> list[SilenceInfo]:
    now = time.time()
    silences = SqlStore(engine).silences(now, include_expired=include_expired)
    silences.sort(key=lambda s: s.id, reverse=True)
    return [SilenceInfo.of(s, now) for s in silences[:limit]]


def audit_log(engine: Engine, *, limit: int = 100, since: Moment | None = None) -> list[AuditInfo]:
    """The audit log, newest first: acknowledgements, silences and config reloads, and since the
    log became one table (access's ``audit_log``) every other component's entries too (tokens
    created and revoked, ...); ``vitals audit`` filters it by actor, action and time."""
    entries = SqlStore(engine).audit_entries(limit, None if since is None else _ts(since))
    out = []
    for e in entries:
        at = _dt(e.at)
        assert at is not None and e.id is not None
        out.append(AuditInfo(e.id, at, e.actor, e.action, e.target, e.source, dict(e.detail)))
    return out


def outbox_status(engine: Engine) -> dict[str, int]:
    """Notification counts by delivery status (pending, sending, sent, failed_over, dead, skipped)."""
    return SqlStore(engine).outbox_counts()


# --------------------------------------------------------------------------------- incidents

#: The ``ref`` of the bucket of alerts that no group holds (see ``incidents_of``).
NOT_GROUPED = ""
_STATE_RANK: Mapping[str, int] = {s: i for i, s in enumerate(ALERT_STATES)}
_URGENCY_RANK: Mapping[str, int] = {"page": 0, "ticket": 1}
_PRIORITY_RANK: Mapping[str, int] = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}
_TITLES_SHOWN = 3


def _rank(ranks: Mapping[str, int], value: str) -> int:
    return ranks.get(value, len(ranks))


def _worst_first(info: AlertInfo) -> tuple[int, int, int, float]:
    """Firing before acknowledged before suppressed before resolved; then page, P1, newest."""
    return (
        _STATE_RANK[info.state],
        _rank(_URGENCY_RANK, info.severity),
        _rank(_PRIORITY_RANK, info.priority),
        -info.started.timestamp(),
    )


@dataclass(frozen=True)
class IncidentInfo:
    """One incident: an Alertmanager group (route x ``group_by`` labels) and its alerts.

    ``state`` is the incident's as on-call reads it: ``firing`` while any of its alerts fires
    unacknowledged, else ``acknowledged`` while any is acknowledged, else ``suppressed`` while any
    is open (all silenced or inhibited), else ``resolved``. ``urgency`` is how the incident was
    last notified (``page``, ``ticket``; empty before its first notification), ``severity`` the
    worst severity label of its alerts. ``ref`` is the group ref (Slack button values, outbox
    keys); the bucket of alerts no group holds has ``ref`` ``""`` and ``grouped`` False.
    """

    ref: str
    receiver: str
    group_labels: Mapping[str, str]
    title: str
    urgency: str
    state: AlertState
    priority: str
    severity: str
    opened_at: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_comment: str | None
    counts: Mapping[str, int]
    alerts: tuple[AlertInfo, ...]
    grouped: bool = True
    open: bool = False
    episode: int = 0

    @property
    def is_open(self) -> bool:
        return self.state != "resolved"

    def to_json(self) -> dict[str, Any]:
        out = {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}
        out["alerts"] = [a.to_json() for a in self.alerts]
        return out


def _title(members: Sequence[AlertInfo], group_labels: Mapping[str, str]) -> str:
    """The interface and the SLA titles in words, worst first: what a person calls the incident."""
    titles = list(dict.fromkeys(a.title for a in members if a.title))
    interfaces = list(
        dict.fromkeys(
            a.labels.get("interface", "")
            for a in members
            if a.labels.get("interface") not in (None, a.sla_id)
        )
    )
    if not titles:
        return ", ".join(f"{k}={v}" for k, v in sorted(group_labels.items())) or "(all alerts)"
    text = "; ".join(titles[:_TITLES_SHOWN])
    if len(titles) > _TITLES_SHOWN:
        text += f" (+{len(titles) - _TITLES_SHOWN} more)"
    if len(interfaces) == 1:
        text = f"{interfaces[0]}: {text}"
    return text


def _incident(
    group: GroupState | None, members: Sequence[Alert], acked_fallback: bool = True
) -> IncidentInfo:
    infos = sorted((AlertInfo.of(a) for a in members), key=_worst_first)
    counts: dict[str, int] = {s: 0 for s in ALERT_STATES}
    for info in infos:
        counts[info.state] += 1
    state: AlertState = next((s for s in ALERT_STATES if counts[s]), "resolved")
    live = [i for i in infos if i.state != "resolved"] or infos
    priority = min(
        (i.priority for i in live if i.priority), key=lambda p: _rank(_PRIORITY_RANK, p), default=""
    )
    severity = min(
        (i.severity for i in live if i.severity), key=lambda s: _rank(_URGENCY_RANK, s), default=""
    )
    started = min((i.started for i in infos), default=None)
    resolved = max((i.resolved for i in infos if i.resolved), default=None) if state == "resolved" else None
    acked_by = group.acknowledged_by if group else None
    acked_at = _dt(group.acknowledged_at) if group else None
    comment = group.ack_comment if group else None
    if acked_by is None and acked_fallback:
        # Acknowledged alert by alert (before incident acks, or from the alert's own button).
        latest = max(
            (i for i in infos if i.state == "acknowledged"),
            key=lambda i: i.acknowledged_at or started or datetime.min.replace(tzinfo=UTC),
            default=None,
        )
        if latest is not None:
            acked_by, acked_at, comment = latest.acknowledged_by, latest.acknowledged_at, latest.ack_comment
    labels = dict(group.group_labels) if group else {}
    return IncidentInfo(
        ref=group.group_ref if group else NOT_GROUPED,
        receiver=group.receiver if group else "",
        group_labels=labels,
        title=_title(infos, labels) if group else "not grouped (not routed to a notified incident yet)",
        urgency=group.urgency if group else "",
        state=state,
        priority=priority,
        severity=severity,
        opened_at=_dt(group.opened_at) if group else None,
        started_at=started,
        resolved_at=resolved,
        acknowledged_by=acked_by,
        acknowledged_at=acked_at,
        ack_comment=comment,
        counts=counts,
        alerts=tuple(infos),
        grouped=group is not None,
        open=group.open if group else state != "resolved",
        episode=group.episode if group else 0,
    )


def _incident_order(i: IncidentInfo) -> tuple[int, int, int, int, float, str]:
    """Open ones by state (firing, acknowledged, suppressed), then page before ticket, P1 before
    P4, newest breach first; the not-grouped bucket after the open incidents; resolved ones last,
    the latest to end first."""
    if i.state == "resolved":
        ended = i.resolved_at or i.started_at
        return (9, 0 if i.grouped else 1, 0, 0, -(ended.timestamp() if ended else 0.0), i.ref)
    started = i.started_at or i.opened_at
    return (
        _STATE_RANK[i.state] if i.grouped else 8,
        _rank(_URGENCY_RANK, i.urgency or i.severity),
        _rank(_PRIORITY_RANK, i.priority),
        0,
        -(started.timestamp() if started else 0.0),
        i.ref,
    )


def incidents_of(
    store: AlertStore,
    *,
    now: Moment,
    include_resolved: bool = True,
    recent: timedelta = timedelta(hours=24),
    limit: int = 200,
) -> list[IncidentInfo]:
    """The incidents over any ``AlertStore`` (what ``list_incidents`` reads through SQL).

    Every open alert appears: in each incident (group) that holds it, or, when no group holds
    it (never notified: suppressed from the start, or firing for less than one planning step),
    in one final ``not grouped`` bucket. Alerts and incidents that resolved more than ``recent``
    before ``now`` are left out; ``include_resolved=False`` leaves out every resolved incident.
    """
    since = _ts(now) - recent.total_seconds()
    loaded = {a.fingerprint: a for a in store.open_alerts()}
    loaded.update({a.fingerprint: a for a in store.resolved_since(since) if a.fingerprint not in loaded})
    groups = store.groups()
    # Before the engine records a group's alerts, the ones it notified are the best we know.
    holds = {ref: (g.alerts or g.members) for ref, g in groups.items()}
    relevant = {ref: fps for ref, fps in holds.items() if fps & loaded.keys()}
    missing: set[str] = set()
    for fps in relevant.values():
        missing |= fps - loaded.keys()
    if missing:  # resolved earlier in an incident that is still recent
        loaded.update(store.alerts_by_fingerprint(missing))
    out: list[IncidentInfo] = []
    held: set[str] = set()
    for ref, fps in relevant.items():
        held |= fps
        members = [loaded[fp] for fp in sorted(fps) if fp in loaded]
        incident = _incident(groups[ref], members)
        if include_resolved or incident.is_open:
            out.append(incident)
    loose = [a for fp, a in loaded.items() if fp not in held and (include_resolved or a.is_open)]
    if loose:
        out.append(_incident(None, loose))
    out.sort(key=_incident_order)
    return out[:limit]


def list_incidents(
    engine: Engine,
    *,
    include_resolved: bool = True,
    recent: timedelta = timedelta(hours=24),
    limit: int = 200,
    now: Moment | None = None,
) -> list[IncidentInfo]:
    """Incidents first, each with its alerts worst first: the on-call view.

    Order: open incidents, firing ones first, then acknowledged, then suppressed; within each,
    page before ticket, then priority P1..P4, then the newest breach first. The bucket of alerts
    that no incident holds comes after the open incidents; resolved incidents come last, the
    latest to end first.
    """
    return incidents_of(
        SqlStore(engine),
        now=time.time() if now is None else now,
        include_resolved=include_resolved,
        recent=recent,
        limit=limit,
    )


def get_incident(engine: Engine, ref: str) -> IncidentInfo | None:
    """One incident by group ref, whatever its age."""
    return _incident_in(SqlStore(engine), ref)


def _incident_in(store: AlertStore, ref: str) -> IncidentInfo | None:
    group = store.groups().get(ref)
    if group is None:
        return None
    fps = group.alerts or group.members
    return _incident(group, list(store.alerts_by_fingerprint(fps).values()))


ConfigSource: TypeAlias = (
    alerts_config.AlertsConfig | Callable[[], alerts_config.AlertsConfig] | str | os.PathLike[str]
)


def _config_of(source: ConfigSource) -> alerts_config.AlertsConfig:
    if isinstance(source, alerts_config.AlertsConfig):
        return source
    if isinstance(source, (str, os.PathLike)):
        # Routing only: the secrets of the receivers are not needed to find an incident's alerts.
        return alerts_config.load_for(Path(source), read_secrets=False)
    return source()


def acknowledge_incident(  # noqa: PLR0917 - the dashboard's call, as acknowledge's
    engine: Engine,
    config: ConfigSource,
    ref: str,
    by: str,
    comment: str = "",
    source: str = "dashboard",
    *,
    now: Moment | None = None,
) -> IncidentInfo:
    """Acknowledge incident ``ref`` (a group ref): every alert in it, and its escalation stops.

    ``config``: the alerts config, a function returning it, or the config directory.
    Raises ``NotFound`` for an unknown ref and ``AckError`` when the incident has nothing left
    to acknowledge (resolved) or ``by`` is empty. Each alert acknowledged is audited as
    ``acknowledge`` with who, when and from where, as ``acknowledge`` audits one alert.
    """
    return acknowledge_incident_in(
        SqlStore(engine),
        _config_of(config),
        ref,
        by,
        comment,
        source,
        now=time.time() if now is None else now,
    )


def acknowledge_incident_in(  # noqa: PLR0917
    store: AlertStore,
    config: alerts_config.AlertsConfig,
    ref: str,
    by: str,
    comment: str = "",
    source: str = "dashboard",
    *,
    now: Moment,
) -> IncidentInfo:
    """``acknowledge_incident`` over any ``AlertStore``."""
    if not by.strip():
        raise AckError("say who acknowledges (by)")
    before = _incident_in(store, ref)
    if before is None:
        raise NotFound(f"no incident with ref {ref!r}")
    if before.state == "resolved":
        raise AckError(f"incident {ref} is resolved; there is nothing to acknowledge")
    actions.acknowledge_group(store, config, ref, by, comment=comment, source=source, now=_ts(now))
    after = _incident_in(store, ref)
    assert after is not None
    return after


def tallies(incidents: Iterable[IncidentInfo]) -> dict[str, dict[str, int]]:
    """Counts by state of the incidents (the not-grouped bucket is not one) and of their alerts
    (each alert once, also when it is in two incidents): the page's and the list's totals."""
    items = list(incidents)
    by_incident: dict[str, int] = {s: 0 for s in ALERT_STATES}
    by_alert: dict[str, int] = {s: 0 for s in ALERT_STATES}
    seen: set[str] = set()
    for incident in items:
        if incident.grouped:
            by_incident[incident.state] += 1
        for alert in incident.alerts:
            if alert.fingerprint not in seen:
                seen.add(alert.fingerprint)
                by_alert[alert.state] += 1
    return {"incidents": by_incident, "alerts": by_alert}

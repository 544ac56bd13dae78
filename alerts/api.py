"""The alerts API for Python callers (the dashboard): list, acknowledge, silence, audit.

Stable signatures; every function takes the SQLAlchemy ``Engine`` of a migrated Vitals store.
Times come back as timezone-aware UTC ``datetime``; times going in may be aware datetimes,
naive datetimes (taken as UTC) or Unix seconds. Every mutation is written together with its
audit entry (who, when, what, from where). Errors: ``NotFound`` (no such alert or silence),
``AckError`` (e.g. the alert is resolved), ``SilenceError`` (invalid matchers or times).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from alerts import actions
from alerts.lifecycle import AckError
from alerts.model import Alert, AlertState
from alerts.silences import Silence, SilenceError
from alerts.sqlstore import SqlStore
from alerts.store import NotFound
from vitals.kernel.timeintervals import TimeInterval

__all__ = [
    "AckError",
    "AlertInfo",
    "AuditInfo",
    "EventInfo",
    "NotFound",
    "SilenceError",
    "SilenceInfo",
    "acknowledge",
    "alert_history",
    "audit_log",
    "create_silence",
    "expire_silence",
    "get_alert",
    "list_alerts",
    "list_silences",
    "outbox_status",
]

OPEN_STATES: tuple[AlertState, ...] = ("firing", "acknowledged", "suppressed")
Moment = datetime | float | int


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
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[name] = value
        return out


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
    """Acknowledgements, silences and config reloads, newest first."""
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

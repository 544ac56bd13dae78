"""``/api/v1`` incidents, alerts, silences and the outbox: ``alerts.api`` and ``alerts.actions``
behind typed handlers (sync: FastAPI runs them in its thread pool, off the event loop).

``alerts.actions`` writes every acknowledgement and silence with its audit entry in one
transaction, into the one audit log (access's ``audit_log``). The API passes the token's name as
the actor and ``api`` as the source, and a store bound to the client's address (``_store``), so
the one entry of each write says who, what, when and from where (its ``remote`` column). The API
writes no entry of its own for them (that would record each write twice).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from access.model import Principal
from alerts import actions
from alerts.api import (
    OPEN_STATES,
    AlertInfo,
    SilenceInfo,
    acknowledge_incident_in,
    get_incident,
    incidents_of,
)
from alerts.model import ALERT_STATES, AlertState
from alerts.silences import SilenceError
from alerts.sqlstore import SqlStore
from alerts.store import NotFound
from api.auth import actor, deps_of, needs, remote
from api.errors import BAD, CONFLICT, NOT_FOUND
from api.models import (
    Acknowledgement,
    AlertDetail,
    AlertEventOut,
    AlertList,
    AlertOne,
    AlertOut,
    IncidentList,
    IncidentOne,
    IncidentOut,
    Moment,
    NewSilence,
    Outbox,
    SilenceCreated,
    SilenceList,
    SilenceOne,
    SilenceOut,
)
from vitals.kernel.timeintervals import TimeInterval
from vitals.kernel.units import parse_duration

router = APIRouter()
Reader = Annotated[Principal, Depends(needs("read"))]
Writer = Annotated[Principal, Depends(needs("write"))]
#: Ids are BIGINT columns: a larger number would fail in the database, not answer "no such id".
MAX_ID = 2**63 - 1
#: The audit source of the API's writes.
SOURCE = "api"


def _store(request: Request) -> SqlStore:
    """The store of one write: its audit entries carry the caller's address."""
    return SqlStore(deps_of(request).engine, remote=remote(request))


#: The latest time the API takes (the end of year 9999, the last a datetime can show).
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
Ref = Annotated[str, Path(min_length=1, max_length=200, description="an incident's group ref")]
AlertRef = Annotated[str, Path(min_length=1, max_length=200, description="an alert's id or fingerprint")]


def _alert(info: AlertInfo) -> AlertOut:
    return AlertOut.model_validate(info)


def _silence(info: SilenceInfo) -> SilenceOut:
    return SilenceOut.model_validate(info)


def _seconds(value: Moment, name: str) -> float:
    """A time from the body as Unix seconds, between 1970 and 9999; else SilenceError (400)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        try:
            seconds = moment.timestamp()
        except (OverflowError, ValueError):
            seconds = math.inf
    else:
        seconds = float(value)
    if not (math.isfinite(seconds) and 0 <= seconds <= LATEST):
        raise SilenceError(f"{name} must be a time between 1970-01-01 and 9999-12-31")
    return seconds


# ------------------------------------------------------------------------------ incidents


@router.get("/incidents", tags=["incidents"])
def list_incidents(
    *,
    request: Request,
    caller: Reader,
    resolved: Annotated[bool, Query(description="also incidents resolved in the last 24 hours")] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> IncidentList:
    """Incidents (alerting groups), the most urgent first, each with its alerts worst first."""
    deps = deps_of(request)
    rows = incidents_of(SqlStore(deps.engine), now=deps.clock(), include_resolved=resolved, limit=limit)
    return IncidentList(incidents=[IncidentOut.model_validate(i) for i in rows])


@router.get("/incidents/{ref}", tags=["incidents"], responses=NOT_FOUND)
def get_one_incident(request: Request, caller: Reader, ref: Ref) -> IncidentOne:
    found = get_incident(deps_of(request).engine, ref)
    if found is None:
        raise NotFound(f"no incident with ref {ref!r}")
    return IncidentOne(incident=IncidentOut.model_validate(found))


@router.post("/incidents/{ref}/ack", tags=["incidents"], responses={**NOT_FOUND, **BAD, **CONFLICT})
def acknowledge_incident(request: Request, caller: Writer, ref: Ref, body: Acknowledgement) -> IncidentOne:
    """Acknowledge every alert of the incident; its escalation stops. Scope: write."""
    deps = deps_of(request)
    incident = acknowledge_incident_in(
        _store(request),
        deps.alerts_config(),
        ref,
        actor(caller, body.by),
        body.comment,
        SOURCE,
        now=deps.clock(),
    )
    return IncidentOne(incident=IncidentOut.model_validate(incident))


# ------------------------------------------------------------------------------ alerts


@router.get("/alerts", tags=["alerts"])
def list_alerts(
    *,
    request: Request,
    caller: Reader,
    state: Annotated[
        str,
        Query(
            max_length=100,
            description="open (firing, acknowledged, suppressed), all, or a comma list of states",
        ),
    ] = "open",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> AlertList:
    """Alerts, newest first."""
    states: set[str] | None
    if state == "open":
        states = set(OPEN_STATES)
    elif state == "all":
        states = None
    else:
        states = {s.strip() for s in state.split(",") if s.strip()}
        unknown = sorted(states - set(ALERT_STATES))
        if unknown or not states:
            raise ValueError(f"state: expected open, all or states among {', '.join(ALERT_STATES)}")
    rows = SqlStore(deps_of(request).engine).list_alerts(states, None, limit)
    return AlertList(alerts=[_alert(AlertInfo.of(a)) for a in rows])


@router.get("/alerts/{ref}", tags=["alerts"], responses=NOT_FOUND)
def get_alert(request: Request, caller: Reader, ref: AlertRef) -> AlertDetail:
    """One alert and its history (newest first)."""
    store = SqlStore(deps_of(request).engine)
    alert = store.get_alert(ref)
    if alert is None:
        raise NotFound(f"no alert with id or fingerprint {ref!r}")
    history = [
        AlertEventOut(
            at=datetime.fromtimestamp(e.at, tz=UTC), kind=e.kind, actor=e.actor, detail=dict(e.detail)
        )
        for e in store.events_for(alert.fingerprint, 100)
    ]
    return AlertDetail(alert=_alert(AlertInfo.of(alert)), history=history)


@router.post("/alerts/{ref}/ack", tags=["alerts"], responses={**NOT_FOUND, **BAD, **CONFLICT})
def acknowledge_alert(request: Request, caller: Writer, ref: AlertRef, body: Acknowledgement) -> AlertOne:
    """Acknowledge one alert: its repeats and escalation stop until the ack timeout. Scope: write."""
    deps = deps_of(request)
    store = _store(request)
    alert = actions.acknowledge(
        store, ref, actor(caller, body.by), body.comment, source=SOURCE, now=deps.clock()
    )
    stored = store.get_alert(alert.fingerprint)
    assert stored is not None
    return AlertOne(alert=_alert(AlertInfo.of(stored)))


# ------------------------------------------------------------------------------ silences


@router.get("/silences", tags=["silences"])
def list_silences(
    *,
    request: Request,
    caller: Reader,
    expired: Annotated[bool, Query(description="also expired silences")] = False,
) -> SilenceList:
    deps = deps_of(request)
    now = deps.clock()
    silences = SqlStore(deps.engine).silences(now, include_expired=expired)
    return SilenceList(silences=[_silence(SilenceInfo.of(s, now)) for s in silences])


@router.post("/silences", tags=["silences"], status_code=status.HTTP_201_CREATED, responses={**BAD})
def create_silence(request: Request, caller: Writer, body: NewSilence) -> SilenceCreated:
    """Mute the alerts that match every matcher, from ``starts_at`` (default now) to ``ends_at``
    (or for ``duration``). Scope: write."""
    deps = deps_of(request)
    now = deps.clock()
    starts = None if body.starts_at is None else _seconds(body.starts_at, "starts_at")
    if body.ends_at is not None:
        ends = _seconds(body.ends_at, "ends_at")
    elif body.duration:
        length = parse_duration(body.duration)
        ends = _seconds((starts or now) + length, "the start plus duration")
    else:
        raise SilenceError("give ends_at or duration")
    specs = []
    for raw in body.time_intervals:
        try:
            specs.append(TimeInterval.from_json(raw))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SilenceError(f"invalid time interval {raw!r}: {exc}") from exc
    sid = actions.create_silence(
        _store(request),
        body.matchers,
        starts_at=starts,
        ends_at=ends,
        author=actor(caller, body.created_by),
        comment=body.comment,
        now=now,
        source=SOURCE,
        expire_on_resolve=body.expire_on_resolve,
        time_intervals=specs,
    )
    return SilenceCreated(id=sid)


@router.delete("/silences/{silence_id}", tags=["silences"], responses={**NOT_FOUND, **BAD})
def expire_silence(
    *,
    request: Request,
    caller: Writer,
    silence_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    by: Annotated[
        str | None, Query(max_length=200, description="only without tokens: who expires it")
    ] = None,
) -> SilenceOne:
    """Expire a silence now. Scope: write."""
    deps = deps_of(request)
    now = deps.clock()
    expired = actions.expire_silence(
        _store(request),
        silence_id,
        actor(caller, by),
        source=SOURCE,
        now=now,
    )
    return SilenceOne(silence=_silence(SilenceInfo.of(expired, now)))


# ------------------------------------------------------------------------------ outbox


@router.get("/outbox", tags=["alerts"])
def outbox(request: Request, caller: Reader) -> Outbox:
    """Notifications by delivery status (pending, sending, sent, failed_over, dead, skipped)."""
    return Outbox(outbox=SqlStore(deps_of(request).engine).outbox_counts())


__all__ = ["AlertState", "router"]

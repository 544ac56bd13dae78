"""``/api/v1/exceptions``: the exception work queue (``exceptions.queue``) behind typed handlers.

Reads refresh the groups from the stored error spans first, as the CLI does. Assign, replay and
resolve need the ``write`` scope; each writes its audit entry in the same transaction as the
change, with the token's name as the actor, ``api`` as the source and the caller's address.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from access.model import Principal
from alerts.store import NotFound
from api.auth import actor, deps_of, needs, remote
from api.errors import BAD, NOT_FOUND, ApiError
from api.models import _In
from exceptions.config import ExceptionsConfig, load_for
from exceptions.model import Attempt, Group, GroupNotFound, parse_states
from exceptions.queue import change_state, refresh
from exceptions.queue import replay as replay_group
from exceptions.sqlstore import SqlExceptionStore
from vitals.kernel.configfile import ConfigError

router = APIRouter(tags=["exceptions"])
Reader = Annotated[Principal, Depends(needs("read"))]
Writer = Annotated[Principal, Depends(needs("write"))]
GroupId = Annotated[str, Path(min_length=1, max_length=64, description="an exception group's id")]
SOURCE = "api"


class ExceptionGroupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    stage: str
    system: str
    message: str = Field(description="the status message with identifiers replaced by placeholders")
    workflow: str
    facility: str
    interface: str = Field(description="the exceptions.yaml interface that replays it; empty: none")
    team: str = Field(description="the receiver the alert route tree picks for the group")
    count: int
    first_seen: datetime
    last_seen: datetime
    amount: float = Field(description="sum of hc.amount over the failed transactions")
    state: Literal["new", "assigned", "replaying", "resolved", "ignored"]
    owner: str
    state_by: str
    state_at: datetime
    replayed: int
    succeeded: int
    failed_again: int


class ReplayAttemptOut(BaseModel):
    id: int | None
    trace_id: str
    span_id: str
    key_hash: str
    interface: str
    target: str
    status: Literal["sent", "refused", "error"]
    actor: str
    at: datetime
    result: str
    traceparent: str
    outcome: Literal["pending", "succeeded", "failed_again"]
    outcome_at: datetime | None


class ExceptionGroupList(BaseModel):
    groups: list[ExceptionGroupOut]


class ExceptionGroupOne(BaseModel):
    group: ExceptionGroupOut
    attempts: list[ReplayAttemptOut]


class ReplayOut(BaseModel):
    group: ExceptionGroupOut
    attempts: list[ReplayAttemptOut]
    deferred: int = Field(description="not sent: the target's rate limit; replay again later")
    skipped: int = Field(description="not sent: already replayed (pending) or succeeded")


class Assignment(_In):
    owner: str = Field(min_length=1, max_length=200)
    comment: str = Field(default="", max_length=2000)
    by: str | None = Field(default=None, max_length=200, description="only without tokens: who acts")


class Resolution(_In):
    comment: str = Field(default="", max_length=2000)
    by: str | None = Field(default=None, max_length=200, description="only without tokens: who acts")


class ReplayRequest(_In):
    traces: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=1000,
        description="only these trace ids; empty: every one not yet replayed",
    )
    limit: int | None = Field(default=None, ge=1, le=10_000)
    by: str | None = Field(default=None, max_length=200, description="only without tokens: who acts")


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _group(g: Group) -> ExceptionGroupOut:
    return ExceptionGroupOut(
        id=g.id,
        stage=g.stage,
        system=g.system,
        message=g.message,
        workflow=g.workflow,
        facility=g.facility,
        interface=g.interface,
        team=g.team,
        count=g.count,
        first_seen=_time(g.first_seen),
        last_seen=_time(g.last_seen),
        amount=g.amount,
        state=g.state,
        owner=g.owner,
        state_by=g.state_by,
        state_at=_time(g.state_at),
        replayed=g.replayed,
        succeeded=g.succeeded,
        failed_again=g.failed_again,
    )


def _attempt(a: Attempt) -> ReplayAttemptOut:
    return ReplayAttemptOut(
        id=a.id,
        trace_id=a.trace_id,
        span_id=a.span_id,
        key_hash=a.key_hash,
        interface=a.interface,
        target=a.target,
        status=a.status,
        actor=a.actor,
        at=_time(a.at),
        result=a.result,
        traceparent=a.traceparent,
        outcome=a.outcome,
        outcome_at=None if a.outcome_at is None else _time(a.outcome_at),
    )


def _config(request: Request) -> ExceptionsConfig:
    try:
        return load_for(deps_of(request).config_dir)
    except ConfigError as exc:
        raise ApiError(400, f"exceptions.yaml is not valid: {exc}") from exc


def _refreshed(request: Request, store: SqlExceptionStore) -> ExceptionsConfig:
    deps = deps_of(request)
    config = _config(request)
    refresh(store, deps.alerts_config().route, config, deps.clock())
    return config


@router.get("/exceptions", responses=BAD)
def list_exceptions(
    *,
    request: Request,
    caller: Reader,
    state: Annotated[
        str,
        Query(max_length=100, description="open (new, assigned, replaying), all, or a comma list of states"),
    ] = "open",
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> ExceptionGroupList:
    """Exception groups, the most recent failure first."""
    try:
        wanted = parse_states(state)
    except ValueError as exc:
        raise ValueError(f"state: {exc}") from None
    deps = deps_of(request)
    groups = refresh(
        SqlExceptionStore(deps.engine), deps.alerts_config().route, _config(request), deps.clock()
    )
    return ExceptionGroupList(groups=[_group(g) for g in groups if g.state in wanted][:limit])


@router.get("/exceptions/{group_id}", responses={**NOT_FOUND, **BAD})
def get_exception(request: Request, caller: Reader, group_id: GroupId) -> ExceptionGroupOne:
    """One group and its replay attempts (oldest first)."""
    store = SqlExceptionStore(deps_of(request).engine)
    _refreshed(request, store)
    group = store.group(group_id)
    if group is None:
        raise NotFound(f"no exception group {group_id!r}")
    return ExceptionGroupOne(
        group=_group(group), attempts=[_attempt(a) for a in store.attempts(group_id=group_id)]
    )


def _change(
    request: Request, caller: Principal, group_id: str, verb: str, by: str | None, **kw: str
) -> Group:
    deps = deps_of(request)
    store = SqlExceptionStore(deps.engine, remote=remote(request))
    _refreshed(request, store)
    try:
        return change_state(
            store, group_id, verb, actor=actor(caller, by), source=SOURCE, now=deps.clock(), **kw
        )
    except GroupNotFound as exc:
        raise NotFound(str(exc)) from exc


@router.post("/exceptions/{group_id}/assign", responses={**NOT_FOUND, **BAD})
def assign_exception(
    request: Request, caller: Writer, group_id: GroupId, body: Assignment
) -> ExceptionGroupOne:
    """Give the group to an owner. Scope: write."""
    group = _change(request, caller, group_id, "assign", body.by, owner=body.owner, comment=body.comment)
    return ExceptionGroupOne(group=_group(group), attempts=[])


@router.post("/exceptions/{group_id}/resolve", responses={**NOT_FOUND, **BAD})
def resolve_exception(
    request: Request, caller: Writer, group_id: GroupId, body: Resolution
) -> ExceptionGroupOne:
    """Close the group as handled; it reopens if it fails again. Scope: write."""
    group = _change(request, caller, group_id, "resolve", body.by, comment=body.comment)
    return ExceptionGroupOne(group=_group(group), attempts=[])


@router.post("/exceptions/{group_id}/replay", responses={**NOT_FOUND, **BAD})
def replay_exception(request: Request, caller: Writer, group_id: GroupId, body: ReplayRequest) -> ReplayOut:
    """Re-drive the group's failed transactions through its interface's replay target, as many
    as its rate limit allows now. Scope: write."""
    deps = deps_of(request)
    store = SqlExceptionStore(deps.engine, remote=remote(request))
    config = _refreshed(request, store)
    try:
        report = replay_group(
            store,
            config,
            group_id,
            actor=actor(caller, body.by),
            source=SOURCE,
            now=deps.clock(),
            traces=body.traces,
            limit=body.limit,
        )
    except GroupNotFound as exc:
        raise NotFound(str(exc)) from exc
    return ReplayOut(
        group=_group(report.group),
        attempts=[_attempt(a) for a in report.attempts],
        deferred=report.deferred,
        skipped=report.skipped,
    )


__all__ = ["router"]

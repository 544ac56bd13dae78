"""``/api/v1/slas``: every SLA's status as the engine last evaluated it, and an SLA's history.

Read through ``slas``' read API (``current_evaluations``, ``sla_history``), never its tables. The
SLA files give what is configured (an SLA the engine has not evaluated yet is listed, status
None); the engine's evaluations give the numbers.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from access.model import Principal
from alerts.store import NotFound
from api.auth import deps_of, needs
from api.errors import BAD, NOT_FOUND
from api.models import BurnRateOut, HistoryPoint, SlaHistory, SlaList, SlaStatus, SliceStatus
from api.ranges import resolve_range
from slas import SLA, Evaluation, current_evaluations, load_slas, sla_history
from vitals.kernel.configfile import ConfigError
from vitals.kernel.units import NS

log = logging.getLogger(__name__)
router = APIRouter()
Reader = Annotated[Principal, Depends(needs("read"))]
Name = Annotated[str, Path(min_length=1, max_length=200, description="the SLA's id")]
#: History: at most this many points.
MAX_POINTS = 1000


def _slas(request: Request) -> dict[str, SLA]:
    """The configured SLAs by id; none when the files do not load now (the engine keeps the last
    good ones, and the evaluations still answer)."""
    try:
        return {s.id: s for s in load_slas(deps_of(request).config_dir)}
    except ConfigError as exc:
        log.warning("the SLA files do not load; the API lists evaluated SLAs only: %s", exc)
        return {}


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / NS, tz=UTC)


def _slice(e: Evaluation) -> SliceStatus:
    return SliceStatus(
        slice=e.slice,
        evaluated_at=_at(e.at_unix_nano),
        status=e.status,
        sli=e.sli,
        objective=e.objective,
        good=e.good,
        total=e.total,
        budget_remaining=e.budget_remaining,
        time_to_exhaustion_s=e.time_to_exhaustion_s,
        at_risk_amount=e.at_risk_amount,
        labels=dict(e.labels),
        burn_rates=[BurnRateOut.model_validate(b) for b in e.burn_rates],
        breach_started_at=None if e.breach_started_unix_nano is None else _at(e.breach_started_unix_nano),
    )


def _status(sla_id: str, sla: SLA | None, evaluations: list[Evaluation]) -> SlaStatus:
    overall = next((e for e in evaluations if e.slice is None), None)
    first = overall or (evaluations[0] if evaluations else None)
    facts: tuple[str, str, str, str, str, str, float]
    if sla is not None:
        facts = (sla.title, sla.domain, sla.owner, sla.priority, sla.kind, sla.window.label, sla.objective)
    else:
        assert first is not None
        facts = (
            first.title,
            first.domain,
            first.owner,
            first.priority,
            first.kind,
            first.window_label,
            first.objective,
        )
    title, domain, owner, priority, kind, window, objective = facts
    return SlaStatus(
        id=sla_id,
        title=title,
        domain=domain,
        owner=owner,
        priority=priority,
        kind=kind,
        window=window,
        objective=float(objective),
        status=overall.status if overall is not None else None,
        overall=_slice(overall) if overall is not None else None,
        slices=[_slice(e) for e in evaluations if e.slice is not None],
    )


def _grouped(evaluations: list[Evaluation]) -> dict[str, list[Evaluation]]:
    out: dict[str, list[Evaluation]] = {}
    for e in evaluations:
        out.setdefault(e.sla_id, []).append(e)
    return out


@router.get("/slas", tags=["slas"])
def list_slas(request: Request, caller: Reader) -> SlaList:
    """Every SLA (configured or evaluated) with the status of the SLA and of each slice."""
    configured = _slas(request)
    evaluated = _grouped(current_evaluations(deps_of(request).engine))
    ids = sorted(configured.keys() | evaluated.keys())
    return SlaList(slas=[_status(i, configured.get(i), evaluated.get(i, [])) for i in ids])


@router.get("/slas/{name}", tags=["slas"], responses=NOT_FOUND)
def get_sla(request: Request, caller: Reader, name: Name) -> SlaStatus:
    configured = _slas(request).get(name)
    evaluations = current_evaluations(deps_of(request).engine, sla_id=name)
    if configured is None and not evaluations:
        raise NotFound(f"no SLA {name!r}")
    return _status(name, configured, evaluations)


@router.get("/slas/{name}/history", tags=["slas"], responses={**NOT_FOUND, **BAD})
def get_history(
    *,
    request: Request,
    caller: Reader,
    name: Name,
    start: Annotated[datetime | None, Query(alias="from", description="default: 24 hours before to")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
    slice: Annotated[
        str | None, Query(max_length=500, description="one slice; default the SLA as a whole")
    ] = None,
    points: Annotated[int, Query(ge=2, le=MAX_POINTS)] = 100,
) -> SlaHistory:
    """The SLA (or one slice) as the engine evaluates it at about ``points`` instants from
    ``from`` to ``to``, from its per-minute rollups (``reason`` says why there are none)."""
    deps = deps_of(request)
    sla = _slas(request).get(name)
    if sla is None:
        raise NotFound(f"no SLA {name!r} in the SLA files")
    start_s, end_s = resolve_range(start, end, deps.clock(), timedelta(hours=24))
    found = sla_history(
        deps.engine, sla, slice, start_ns=int(start_s * NS), end_ns=int(end_s * NS), points=points
    )
    return SlaHistory(
        sla=name,
        slice=slice,
        start=datetime.fromtimestamp(start_s, tz=UTC),
        end=datetime.fromtimestamp(end_s, tz=UTC),
        points=[
            HistoryPoint(
                at=_at(p.at_ns), sli=p.sli, budget_remaining=p.budget_remaining, good=p.good, total=p.total
            )
            for p in found.points
        ],
        reason=found.reason,
    )


__all__ = ["router"]

"""``/api/v1/apis``: the estate's APIs (or their consumers) over a time range, from the API rollups.

The same figures as the dashboard's APIs page (``analytics.query.api_stats``): request rate,
error rate by class, latency p50 / p95 / p99 from the rollups' merged histograms, the top error
signatures, and the SLAs whose selectors cover each API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from access.model import Principal
from analytics.query import api_stats, sla_scopes
from analytics.report import ApiStats, precision_for
from api.auth import deps_of, needs
from api.errors import BAD
from api.ranges import resolve_range
from vitals.kernel.units import NS

__all__ = ["ApiList", "ApiOut", "TopErrorOut", "router"]

router = APIRouter()
Reader = Annotated[Principal, Depends(needs("read"))]


class TopErrorOut(BaseModel):
    signature: str = Field(description="HTTP status and the redacted status message, numbers as #")
    error_class: str = Field(description="4xx, 5xx or other")
    count: int
    last_seen: datetime
    example_trace_id: str


class ApiOut(BaseModel):
    service: str = Field(description="service.name; '*' when grouped by consumer")
    side: str = Field(description="server or client span")
    route: str = Field(description="route template (http.route / url.template), ids stripped")
    method: str
    interaction: str = Field(description="FHIR interaction (read, search, ...) or ''")
    resource_type: str = Field(description="FHIR resource type or ''")
    consumer: str = Field(description="the consumer attribute's value; '' unknown, '*' all consumers")
    requests: int
    per_minute: float
    error_rate: float
    error_rate_4xx: float
    error_rate_5xx: float
    error_rate_other: float
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    mean_s: float | None
    top_errors: list[TopErrorOut]
    slas: list[str] = Field(description="ids of the SLAs whose span selectors cover this API")


class ApiList(BaseModel):
    start: datetime
    end: datetime
    by: str
    precision_s: int = Field(
        description="60: the range is read to the minute; 3600 (ranges over a day): its ends are rounded "
        "outward to whole hours"
    )
    apis: list[ApiOut]


def _out(s: ApiStats) -> ApiOut:
    return ApiOut(
        service=s.service,
        side=s.side,
        route=s.route,
        method=s.method,
        interaction=s.interaction,
        resource_type=s.resource_type,
        consumer=s.consumer,
        requests=s.requests,
        per_minute=s.per_minute,
        error_rate=s.error_rate,
        error_rate_4xx=s.error_rate_4xx,
        error_rate_5xx=s.error_rate_5xx,
        error_rate_other=s.error_rate_other,
        p50_s=s.p50_s,
        p95_s=s.p95_s,
        p99_s=s.p99_s,
        mean_s=s.mean_s,
        top_errors=[
            TopErrorOut(
                signature=e.signature,
                error_class=e.error_class,
                count=e.occurrences,
                last_seen=datetime.fromtimestamp(e.last_seen_ns / NS, tz=UTC),
                example_trace_id=e.example_trace_id,
            )
            for e in s.top_errors
        ],
        slas=list(s.slas),
    )


@router.get("/apis", tags=["apis"], responses=BAD)
def list_apis(
    *,
    request: Request,
    caller: Reader,
    start: Annotated[datetime | None, Query(alias="from", description="default: 1 hour before to")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
    by: Annotated[
        Literal["api", "consumer", "api_consumer"],
        Query(description="one row per API (all consumers), per consumer, or per API and consumer"),
    ] = "api",
    service: Annotated[str | None, Query(max_length=200, description="only this service.name")] = None,
) -> ApiList:
    """Request rate, error rates by class, latency percentiles, top errors and covering SLAs."""
    deps = deps_of(request)
    start_s, end_s = resolve_range(start, end, deps.clock(), timedelta(hours=1))
    start_ns, end_ns = int(start_s * NS), int(end_s * NS)
    stats = api_stats(
        deps.engine, start_ns, end_ns, by=by, service=service or None, scopes=sla_scopes(deps.config_dir)
    )
    return ApiList(
        start=datetime.fromtimestamp(start_s, tz=UTC),
        end=datetime.fromtimestamp(end_s, tz=UTC),
        by=by,
        precision_s=precision_for(start_ns, end_ns),
        apis=[_out(s) for s in stats],
    )

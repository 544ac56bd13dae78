"""Trace search, one trace, and a business object's journey across traces.

Searches go through an index (start time, service + start, stage + event time, correlation key)
and stop after ``SCAN_CAP`` candidate spans, so a search with a rare condition over a month
answers quickly and says it looked at the newest part only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.rows import UNREPEATED_ATTRIBUTES, lifted_attributes
from collector.tables import span_keys, span_resources, spans
from dashboards.queries.failed import failed_refs, fetch
from dashboards.queries.windows import rare_windows
from dashboards.sqlexpr import ERROR_STATUSES, is_error, lit, norm_kind
from dashboards.tables import business_rollups, span_rollups

SCAN_CAP = 200_000
#: Attribute prefixes a span's detail view shows. Values were redacted at ingest; the dashboard
#: still shows business and protocol attributes only (correlation keys are HMAC hashes).
SHOWN_ATTRIBUTE_PREFIXES = ("hc.", "messaging.", "http.", "rpc.", "db.system", "error.", "net.", "server.")

SPAN_COLUMNS = [
    "start",
    "trace_id",
    "span_id",
    "parent_span_id",
    "service",
    "name",
    "kind",
    "status",
    "status_message",
    "duration_ms",
    "stage",
    "facility",
    "interface",
    "end",
]


@dataclass(frozen=True)
class SpanSearch:
    start_ns: int
    end_ns: int
    service: str | None = None
    stage: str | None = None
    status: str | None = None  # "error" | "ok" (ok = not error)
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    key_hash: str | None = None
    trace_id: str | None = None
    name: str | None = None
    limit: int = 200


@dataclass(frozen=True)
class SearchResult:
    spans: pd.DataFrame
    capped: bool  # the scan stopped at SCAN_CAP candidates: narrow the range to look further


def _columns() -> list[Any]:
    s = spans.c
    return [
        s.start_time_unix_nano.label("start"),
        s.trace_id,
        s.span_id,
        s.parent_span_id,
        s.service_name.label("service"),
        s.name,
        norm_kind(s.kind).label("kind"),
        func.lower(s.status_code).label("status"),
        s.status_message,
        (s.duration_ns / lit(1_000_000.0)).label("duration_ms"),
        s.hc_stage.label("stage"),
        s.hc_facility.label("facility"),
        func.coalesce(s.messaging_destination, s.hc_message_type).label("interface"),
        s.end_time_unix_nano.label("end"),
    ]


def _frame(rows: Sequence[Any]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=SPAN_COLUMNS)
    if not frame.empty:
        frame["status"] = frame["status"].map(
            lambda v: "error" if v in ("error", "status_code_error", "2") else v
        )
    return frame


def search(engine: Engine, q: SpanSearch) -> SearchResult:
    s = spans.c
    cond: list[Any] = []
    filters: list[Any] = []  # conditions that are not the time range
    if q.trace_id:
        cond.append(s.trace_id == q.trace_id.strip().lower())
    else:
        if q.service:
            filters.append(s.service_name == q.service)
        if q.name:
            filters.append(s.name == q.name)
        if q.stage:
            filters.append(s.hc_stage == q.stage)
            cond += [s.event_time_unix_nano >= q.start_ns, s.event_time_unix_nano < q.end_ns]
        else:
            cond += [s.start_time_unix_nano >= q.start_ns, s.start_time_unix_nano < q.end_ns]
        cond += filters
    with engine.connect() as conn:
        if q.key_hash:
            refs = [
                (r.trace_id, r.span_id)
                for r in conn.execute(
                    select(span_keys.c.trace_id, span_keys.c.span_id)
                    .where(span_keys.c.key_hash == q.key_hash.strip().lower())
                    .limit(SCAN_CAP)
                )
            ]
            if not refs:
                return SearchResult(_frame([]), False)
            # The key's spans: by trace id (indexed), then exactly those spans, newest first.
            wanted = set(refs[:2000])
            query = select(*_columns()).where(*cond, s.trace_id.in_(sorted({t for t, _ in wanted})))
            keyed = [
                r
                for r in conn.execute(query.order_by(s.start_time_unix_nano.desc()))
                if (r.trace_id, r.span_id) in wanted
            ]
            if q.status == "error":
                keyed = [r for r in keyed if r.status in ERROR_STATUSES]
            elif q.status == "ok":
                keyed = [r for r in keyed if r.status not in ERROR_STATUSES]
            if q.min_duration_ms is not None:
                keyed = [r for r in keyed if r.duration_ms >= q.min_duration_ms]
            return SearchResult(_frame(keyed[: q.limit]), False)
        late: list[Any] = []
        if q.status == "error":
            late.append(is_error(s.status_code))
        elif q.status == "ok":
            late.append(~is_error(s.status_code))
        if q.min_duration_ms is not None:
            late.append(s.duration_ns >= int(q.min_duration_ms * 1_000_000))
        if q.max_duration_ms is not None:
            late.append(s.duration_ns <= int(q.max_duration_ms * 1_000_000))
        order = s.event_time_unix_nano.desc() if q.stage and not q.trace_id else s.start_time_unix_nano.desc()
        capped = False
        if q.status == "error" and not (q.trace_id or q.key_hash or q.stage):
            # Failed spans: newest first from the error index, then fetched by trace id.
            found: list[Any] = []
            for refs in failed_refs(
                conn,
                q.start_ns,
                q.end_ns,
                services=(q.service,) if q.service else (),
                names=(q.name,) if q.name else (),
            ):
                found += fetch(conn, refs, _columns(), late)
                if len(found) >= q.limit:
                    break
            found = sorted(found, key=lambda r: r.start, reverse=True)[: q.limit]
            return SearchResult(_frame([tuple(r)[:-2] for r in found]), False)
        if q.min_duration_ms is not None and not (q.trace_id or q.key_hash or q.stage):
            # Failed or slow spans: read only the windows where the rollups saw some.
            found = []
            for window in rare_windows(
                conn,
                q.start_ns,
                q.end_ns,
                services=(q.service,) if q.service else (),
                names=(q.name,) if q.name else (),
                min_duration_ns=int(q.min_duration_ms * 1_000_000),
            ):
                # Windows come newest first; stop once a window cannot hold anything newer.
                if len(found) >= q.limit and window.hi <= found[-1].start:
                    break
                bounds = [s.start_time_unix_nano >= window.lo, s.start_time_unix_nano < window.hi]
                if window.service is not None:
                    bounds.append(s.service_name == window.service)
                found += conn.execute(
                    select(*_columns()).where(*filters, *bounds, *late).order_by(order).limit(q.limit)
                ).all()
                found = sorted(found, key=lambda r: r.start, reverse=True)[: q.limit]
            return SearchResult(_frame(found), False)
        if late and not q.trace_id and not q.key_hash:
            # Look at the newest SCAN_CAP candidates only; the rare condition filters those.
            candidates = select(s.id).where(*cond).order_by(order).limit(SCAN_CAP).subquery()
            query = (
                select(*_columns())
                .where(s.id.in_(select(candidates.c.id)), *late)
                .order_by(s.start_time_unix_nano.desc())
                .limit(q.limit)
            )
            rows = conn.execute(query).all()
            if len(rows) < q.limit:
                seen = conn.execute(select(func.count()).select_from(candidates)).scalar_one()
                capped = seen >= SCAN_CAP
        else:
            rows = conn.execute(select(*_columns()).where(*cond, *late).order_by(order).limit(q.limit)).all()
    return SearchResult(_frame(rows), capped)


def trace(engine: Engine, trace_id: str, limit: int = 5000) -> pd.DataFrame:
    """Every span of one trace, in start order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(*_columns())
            .where(spans.c.trace_id == trace_id.strip().lower())
            .order_by(spans.c.start_time_unix_nano)
            .limit(limit)
        ).all()
    return _frame(rows)


def span_details(engine: Engine, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """One span's shown attributes, events and links (business and protocol keys only)."""
    s = spans.c
    with engine.connect() as conn:
        # The collector stores each resource once (span_resources); older rows carry their own.
        resource = func.coalesce(s.resource_attributes, span_resources.c.attributes)
        row = conn.execute(
            select(
                s.attributes,
                resource.label("resource_attributes"),
                s.events,
                s.links,
                *(spans.c[column] for column in UNREPEATED_ATTRIBUTES),
            )
            .select_from(spans.outerjoin(span_resources, span_resources.c.resource_id == s.resource_id))
            .where(s.trace_id == trace_id, s.span_id == span_id)
        ).first()
    if row is None:
        return None
    return {
        # The hc.* attributes held by columns are not repeated in the stored JSON.
        "attributes": shown_attributes(
            lifted_attributes(row.attributes, (row._mapping[c] for c in UNREPEATED_ATTRIBUTES))
        ),
        "resource": shown_attributes(row.resource_attributes, extra=("service.", "deployment.")),
        "events": [
            {"name": e.get("name"), "attributes": shown_attributes(e.get("attributes"))}
            for e in (row.events or [])
            if isinstance(e, Mapping)
        ],
        "links": row.links or [],
    }


def shown_attributes(raw: Any, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        return {}
    prefixes = SHOWN_ATTRIBUTE_PREFIXES + extra
    return {k: v for k, v in sorted(raw.items()) if any(k.startswith(p) for p in prefixes)}


def trace_keys(engine: Engine, trace_id: str) -> list[tuple[str, str]]:
    """The correlation keys (name, hash) on a trace's spans: the way into their journeys."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(spans.c.attributes).where(spans.c.trace_id == trace_id.strip().lower())
        ).all()
    found: dict[tuple[str, str], None] = {}
    for (attrs,) in rows:
        if isinstance(attrs, Mapping):
            for k, v in attrs.items():
                if k.startswith("hc.key."):
                    found[(k[len("hc.key.") :], str(v))] = None
    return sorted(found)


def journey(engine: Engine, key_hash: str, key_name: str | None = None, limit: int = 2000) -> pd.DataFrame:
    """Every span that carries one business object's key, across traces, in business-time order."""
    k = span_keys.c
    cond = [k.key_hash == key_hash.strip().lower()]
    if key_name:
        cond.append(k.key_name == key_name)
    with engine.connect() as conn:
        refs = [
            (r.trace_id, r.span_id)
            for r in conn.execute(select(k.trace_id, k.span_id).where(*cond).limit(limit))
        ]
        if not refs:
            return _frame([])
        wanted = set(refs)
        rows = [
            r
            for r in conn.execute(
                select(*_columns(), spans.c.event_time_unix_nano.label("event_time"))
                .where(spans.c.trace_id.in_(sorted({t for t, _ in wanted})))
                .order_by(spans.c.event_time_unix_nano)
            )
            if (r.trace_id, r.span_id) in wanted
        ]
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=[*SPAN_COLUMNS, "event_time"])
    frame["status"] = frame["status"].map(
        lambda v: "error" if v in ("error", "status_code_error", "2") else v
    )
    return frame


def services(engine: Engine, since_ns: int) -> list[str]:
    """Service names for the search box, from the hourly rollup since ``since_ns``."""
    r = span_rollups.c
    with engine.connect() as conn:
        names = conn.execute(
            select(r.service_name).where(r.resolution == 3600, r.bucket >= since_ns).distinct()
        ).scalars()
        return sorted(set(names))


def stages(engine: Engine, since_ns: int) -> list[str]:
    """Business stages seen since ``since_ns`` (hourly business rollup)."""
    b = business_rollups.c
    with engine.connect() as conn:
        return sorted(set(conn.execute(select(b.stage).where(b.bucket >= since_ns).distinct()).scalars()))

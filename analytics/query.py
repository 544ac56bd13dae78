"""Reading the API rollups for a time range: the SQL edge of :mod:`analytics.report`.

A range is tiled by :func:`analytics.report.cover`: day rows in the middle, hour and minute rows
toward its ends (ranges up to a day to the minute, longer ones to the hour), so a page reads at
most a few hundred buckets per API whatever the span volume. The SLA catalog comes from the SLA
files (``slas.load_slas``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import ColumnElement, Table, and_, func, or_, select
from sqlalchemy.engine import Engine

from analytics.identity import ALL, ApiKey
from analytics.report import ApiStats, By, ErrorRow, RollupRow, SlaScope, cover, summarise
from analytics.tables import KEY_COLUMNS, api_errors, api_rollups
from slas import load_slas
from slas.engine import selectors_of
from vitals.kernel.configfile import ConfigError

__all__ = ["api_stats", "sla_scopes"]

log = logging.getLogger(__name__)
NS = 1_000_000_000
_ROUTE_KEYS = ("http.route", "url.template")
_METHOD_KEYS = ("http.request.method", "http.method")


def sla_scopes(config_dir: Path | str | None) -> list[SlaScope]:
    """The span selectors of the configured SLAs; none when the files do not load."""
    if config_dir is None:
        return []
    try:
        slas = load_slas(config_dir)
    except (ConfigError, OSError) as exc:
        log.warning("API analytics: SLA files do not load, no coverage shown: %s", exc)
        return []
    out = []
    for sla in slas:
        for selector in selectors_of(sla):
            attrs = selector.attributes
            routes = tuple(p for key in _ROUTE_KEYS for p in attrs.get(key, ())) or None
            methods = tuple(p for key in _METHOD_KEYS for p in attrs.get(key, ())) or None
            out.append(SlaScope(sla.id, sla.title, selector.service, selector.span, routes, methods))
    return out


def _variant(table: Table, by: By, service: str | None) -> list[ColumnElement[bool]]:
    """The rows that answer ``by`` (``analytics.fold.variants``): per API, the rows summed over
    consumers; per consumer, the rows summed over APIs (or, for one service, its detailed rows,
    summed here); per API and consumer, the detailed rows."""
    if service:
        return [table.c.service == service, table.c.consumer != ALL]
    if by == "api":
        return [table.c.consumer == ALL, table.c.service != ALL]
    if by == "consumer":
        return [table.c.service == ALL]
    return [table.c.service != ALL, table.c.consumer != ALL]


def api_stats(
    engine: Engine,
    start_ns: int,
    end_ns: int,
    *,
    by: By = "api",
    service: str | None = None,
    scopes: Sequence[SlaScope] = (),
    top: int = 5,
) -> list[ApiStats]:
    """Figures per API (or consumer) over [start, end), from the rollups."""
    segments = cover(start_ns, end_ns)
    lo, hi = segments[0].lo_ns, segments[-1].hi_ns
    keys = [api_rollups.c[name] for name in KEY_COLUMNS]
    when = api_rollups.c.bucket_start_ns
    where = [
        or_(*(and_(api_rollups.c.width_s == s.width_s, when >= s.lo_ns, when < s.hi_ns) for s in segments))
    ]
    where.extend(_variant(api_rollups, by, service))
    query = select(
        *keys,
        api_rollups.c["count"],
        api_rollups.c.errors_4xx,
        api_rollups.c.errors_5xx,
        api_rollups.c.errors_other,
        api_rollups.c.duration_sum_ns,
        api_rollups.c.histogram,
    ).where(*where)
    ekeys = [api_errors.c[name] for name in KEY_COLUMNS]
    ewhen = api_errors.c.bucket_start_ns
    ewhere = [
        or_(*(and_(api_errors.c.width_s == s.width_s, ewhen >= s.lo_ns, ewhen < s.hi_ns) for s in segments))
    ]
    ewhere.extend(_variant(api_errors, by, service))
    equery = (
        select(
            *ekeys,
            api_errors.c.signature,
            func.max(api_errors.c.error_class),
            func.sum(api_errors.c["count"]),
            func.max(api_errors.c.last_seen_ns),
            func.max(api_errors.c.example_trace_id),
        )
        .where(*ewhere)
        .group_by(*ekeys, api_errors.c.signature)
    )
    with engine.connect() as conn:
        rows = [
            RollupRow(ApiKey(*r[:7]), int(r[7]), int(r[8]), int(r[9]), int(r[10]), int(r[11]), r[12] or ())
            for r in conn.execute(query)
        ]
        errors = [
            ErrorRow(ApiKey(*r[:7]), r[7], r[8], int(r[9]), int(r[10]), str(r[11]))
            for r in conn.execute(equery)
        ]
    return summarise(rows, (hi - lo) / NS, by=by, errors=errors, scopes=scopes, top=top)

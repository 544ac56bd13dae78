"""Failed spans, newest first: from ``dashboard_error_spans`` by index, then fetched by trace id."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Connection

from collector.tables import spans
from dashboards.catalog import Patterns
from dashboards.queries.windows import patterns_cond
from dashboards.tables import error_spans

PAGE = 400
MAX_PAGES = 25
_CHUNK = 400


def failed_refs(
    conn: Connection,
    start_ns: int,
    end_ns: int,
    *,
    services: Patterns = (),
    names: Patterns = (),
    facility: str | None = None,
) -> Iterator[list[tuple[str, str]]]:
    """Pages of (trace_id, span_id) of failed spans in [start, end), newest first."""
    e = error_spans.c
    cond: list[Any] = [e.start_ns >= start_ns]
    if services:
        cond.append(patterns_cond(e.service_name, services))
    if names:
        cond.append(patterns_cond(e.span_name, names))
    if facility:
        cond.append(e.facility == facility)
    # Keyset paging on (start, trace, span): exact even when many spans share one instant.
    after: tuple[int, str, str] | None = None
    for _ in range(MAX_PAGES):
        page = select(e.trace_id, e.span_id, e.start_ns).where(*cond, e.start_ns < end_ns)
        if after is not None:
            page = page.where(tuple_(e.start_ns, e.trace_id, e.span_id) < tuple_(*after))
        rows = conn.execute(
            page.order_by(e.start_ns.desc(), e.trace_id.desc(), e.span_id.desc()).limit(PAGE)
        ).all()
        if rows:
            yield [(r.trace_id, r.span_id) for r in rows]
        if len(rows) < PAGE:
            return
        after = (int(rows[-1].start_ns), rows[-1].trace_id, rows[-1].span_id)


def fetch(
    conn: Connection, refs: Sequence[tuple[str, str]], columns: Sequence[Any], where: Sequence[Any] = ()
) -> list[Any]:
    """The rows of exactly these spans (found by trace id, the unique index's prefix)."""
    wanted = set(refs)
    traces = sorted({trace for trace, _span in wanted})
    out: list[Any] = []
    for start in range(0, len(traces), _CHUNK):
        query = select(*columns, spans.c.trace_id.label("_trace"), spans.c.span_id.label("_span")).where(
            spans.c.trace_id.in_(traces[start : start + _CHUNK]), *where
        )
        out += [row for row in conn.execute(query) if (row._trace, row._span) in wanted]
    return out

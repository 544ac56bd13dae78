"""Where to look for rare spans: the rollups say which service had failures or slow spans when.

``spans`` has indexes on start time and on (service, start time) but not on span name or
status, so "the failed erp.gl.post spans of the last month" would read every span of the month.
The span rollup knows, per minute or hour, service and span name, how many failed and the
longest duration; those few windows are then read through the (service, start) index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection

from dashboards.catalog import Patterns, is_glob
from dashboards.tables import span_rollups
from vitals.kernel.units import NS

#: Ranges up to this long are searched by minute, longer ones by hour.
MINUTE_LIMIT_S = 36 * 3600
#: The newest minutes may not be in the rollups yet: always search them directly.
TAIL_S = 300
MAX_WINDOWS = 5000
#: Buckets without matches a window may span between two with matches.
MAX_GAP_BUCKETS = 24


def glob_to_like(pattern: str) -> str:
    return pattern.replace("%", r"\%").replace("_", r"\_").replace("*", "%").replace("?", "_")


def patterns_cond(column: Any, patterns: Patterns) -> Any:
    """Any of the patterns: equality for literals, LIKE for globs (check globs again exactly)."""
    terms = [column.like(glob_to_like(p), escape="\\") if is_glob(p) else column == p for p in patterns]
    return terms[0] if len(terms) == 1 else or_(*terms)


@dataclass(frozen=True)
class Window:
    service: str | None  # None: every service (the un-rolled tail)
    lo: int
    hi: int


def rare_windows(
    conn: Connection,
    start_ns: int,
    end_ns: int,
    *,
    services: Patterns = (),
    names: Patterns = (),
    errors: bool = False,
    min_duration_ns: int | None = None,
    enough: int = 200,
) -> Iterator[Window]:
    """Windows (newest first) in which matching spans failed or took at least ``min_duration_ns``.

    Adjacent buckets of one service merge into one window until they hold about ``enough``
    matches (by the rollup's error counts; one per bucket for slow spans), so a caller that wants
    the newest ``enough`` spans reads few windows, each through the (service, start) index.
    """
    tail_from = max(start_ns, end_ns - TAIL_S * NS)
    yield Window(None, tail_from, end_ns)
    if tail_from <= start_ns:
        return
    res = 60 if (end_ns - start_ns) <= MINUTE_LIMIT_S * NS else 3600
    size = res * NS
    r = span_rollups.c
    cond = [r.resolution == res, r.bucket >= start_ns // size * size, r.bucket < tail_from]
    if errors:
        cond.append(r.error_count > 0)
    if min_duration_ns is not None:
        cond.append(r.duration_max_ns >= min_duration_ns)
    if services:
        cond.append(patterns_cond(r.service_name, services))
    if names:
        cond.append(patterns_cond(r.span_name, names))
    hits = func.sum(r.error_count) if errors else func.count()
    query = (
        select(r.service_name, r.bucket, hits)
        .where(*cond)
        .group_by(r.service_name, r.bucket)
        .order_by(r.bucket.desc(), r.service_name)
        .limit(MAX_WINDOWS)
    )
    runs: dict[str, list[list[int]]] = {}  # service -> [lo, hi, matches]
    for service, bucket, count in conn.execute(query):
        lo, hi = max(int(bucket), start_ns), min(int(bucket) + size, tail_from)
        service_runs = runs.setdefault(service, [])
        last = service_runs[-1] if service_runs else None
        # Merge across short gaps too: reading a few quiet buckets costs less than another query.
        if last is not None and last[0] - hi <= MAX_GAP_BUCKETS * size and last[2] < enough:
            last[0] = lo
            last[2] += int(count)
        else:
            service_runs.append([lo, hi, int(count)])
    merged = [Window(service, lo, hi) for service, items in runs.items() for lo, hi, _n in items]
    yield from sorted(merged, key=lambda w: (-w.hi, w.service or ""))

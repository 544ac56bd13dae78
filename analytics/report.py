"""Per API or per consumer figures from rollup rows: pure, so the page, the API and the benchmark agree.

Rates are per minute over the asked range; error rates are shares of all calls, per class;
percentiles come from the merged histograms (:mod:`analytics.histogram`, relative error at most
about 4.4 %), never from raw spans. An SLA covers an API when one of its span selectors names the
API's service (or no service) and, where it names them, its span name (``METHOD route``), route
(``http.route`` / ``url.template``) and method.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from analytics.histogram import Histogram
from analytics.identity import ApiKey

__all__ = [
    "ApiStats",
    "By",
    "ErrorRow",
    "RollupRow",
    "Segment",
    "SlaScope",
    "TopError",
    "cover",
    "covering",
    "precision_for",
    "summarise",
]

By = Literal["api", "consumer", "api_consumer"]
NS = 1_000_000_000


class RollupRow(NamedTuple):
    api: ApiKey
    requests: int
    errors_4xx: int
    errors_5xx: int
    errors_other: int
    duration_sum_ns: int
    #: The stored histogram, ``[[bucket, count], ...]`` (``analytics.histogram.encode``).
    buckets: Sequence[Sequence[int]]


class Segment(NamedTuple):
    """Rollup rows of one width whose buckets start in [lo, hi)."""

    width_s: int
    lo_ns: int
    hi_ns: int


#: Ranges up to a day are read to the minute; longer ones to the hour.
MINUTE_PRECISION_UP_TO_S = 86400


def precision_for(start_ns: int, end_ns: int) -> int:
    """The granularity (s) a range is read at: its ends are rounded outward to it."""
    return 60 if end_ns - start_ns <= MINUTE_PRECISION_UP_TO_S * NS else 3600


def cover(start_ns: int, end_ns: int, widths: Sequence[int] = (60, 3600, 86400)) -> tuple[Segment, ...]:
    """The fewest rollup buckets that tile [start, end) rounded outward to its precision: whole
    days in the middle, hours then minutes toward the ends. A page reads at most a few hundred
    buckets per API (minutes at the ends of ranges up to a day, hours at the ends of longer ones),
    however long the range and however many spans it holds."""
    precision = precision_for(start_ns, end_ns)
    usable = sorted(w for w in widths if w >= precision)
    step = precision * NS
    lo = start_ns // step * step
    hi = -(-end_ns // step) * step
    out: list[Segment] = []

    def tile(a: int, b: int, level: int) -> None:
        if a >= b:
            return
        size = usable[level] * NS
        inner_lo, inner_hi = -(-a // size) * size, b // size * size
        if level == 0 or inner_lo >= inner_hi:
            if level == 0:
                out.append(Segment(usable[0], a, b))
            else:
                tile(a, b, level - 1)
            return
        tile(a, inner_lo, level - 1)
        out.append(Segment(usable[level], inner_lo, inner_hi))
        tile(inner_hi, b, level - 1)

    tile(lo, hi, len(usable) - 1)
    return tuple(out)


class ErrorRow(NamedTuple):
    api: ApiKey
    signature: str
    error_class: str
    occurrences: int
    last_seen_ns: int
    example_trace_id: str


class TopError(NamedTuple):
    signature: str
    error_class: str
    occurrences: int
    last_seen_ns: int
    example_trace_id: str


class SlaScope(NamedTuple):
    """An SLA's span selectors as coverage reads them: (service, span, route, method) patterns."""

    sla_id: str
    title: str
    services: tuple[str, ...] | None
    spans: tuple[str, ...] | None
    routes: tuple[str, ...] | None
    methods: tuple[str, ...] | None


@dataclass(frozen=True)
class ApiStats:
    service: str
    side: str
    route: str
    method: str
    interaction: str
    resource_type: str
    consumer: str  # '' for unknown; '*' when the row sums every consumer
    requests: int
    per_minute: float
    error_rate_4xx: float
    error_rate_5xx: float
    error_rate_other: float
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    mean_s: float | None
    top_errors: tuple[TopError, ...] = ()
    slas: tuple[str, ...] = field(default_factory=tuple)

    @property
    def error_rate(self) -> float:
        return self.error_rate_4xx + self.error_rate_5xx + self.error_rate_other


def _group(api: ApiKey, by: By) -> ApiKey:
    if by == "api":
        return api._replace(consumer="*")
    if by == "consumer":
        return ApiKey("*", "*", "*", "*", "*", "*", api.consumer)
    return api


def _match(patterns: tuple[str, ...] | None, value: str) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(value, p) for p in patterns)


def covering(scopes: Iterable[SlaScope], api: ApiKey) -> tuple[str, ...]:
    """The ids of the SLAs whose selectors cover ``api`` (a selector naming neither a service nor
    a route covers nothing: it is about business stages, not APIs)."""
    out = []
    for scope in scopes:
        if scope.services is None and scope.routes is None and scope.spans is None:
            continue
        if (
            _match(scope.services, api.service)
            and _match(scope.routes, api.route)
            and _match(scope.methods, api.method)
            and _match(scope.spans, f"{api.method} {api.route}")
        ):
            out.append(scope.sla_id)
    return tuple(sorted(set(out)))


def summarise(
    rows: Iterable[RollupRow],
    span_s: float,
    *,
    by: By = "api",
    errors: Iterable[ErrorRow] = (),
    scopes: Sequence[SlaScope] = (),
    top: int = 5,
) -> list[ApiStats]:
    """One :class:`ApiStats` per group, busiest first."""
    totals: dict[ApiKey, list[int]] = {}
    histograms: dict[ApiKey, dict[int, int]] = {}
    for row in rows:
        key = _group(row.api, by)
        acc = totals.get(key)
        if acc is None:
            acc = totals[key] = [0, 0, 0, 0, 0]
            histograms[key] = {}
        acc[0] += row.requests
        acc[1] += row.errors_4xx
        acc[2] += row.errors_5xx
        acc[3] += row.errors_other
        acc[4] += row.duration_sum_ns
        merged = histograms[key]
        for index, count in row.buckets:
            merged[index] = merged.get(index, 0) + count
    grouped_errors: dict[ApiKey, dict[str, TopError]] = {}
    for err in errors:
        key = _group(err.api, by)
        bucket = grouped_errors.setdefault(key, {})
        old = bucket.get(err.signature)
        if old is None:
            bucket[err.signature] = TopError(
                err.signature, err.error_class, err.occurrences, err.last_seen_ns, err.example_trace_id
            )
        else:
            newer = err.last_seen_ns >= old.last_seen_ns
            bucket[err.signature] = TopError(
                err.signature,
                err.error_class if newer else old.error_class,
                old.occurrences + err.occurrences,
                max(old.last_seen_ns, err.last_seen_ns),
                err.example_trace_id if newer else old.example_trace_id,
            )
    minutes = max(span_s / 60.0, 1e-9)
    out = []
    for key, (count, e4, e5, eo, dur) in totals.items():
        histogram = Histogram(histograms[key])
        share = 1.0 / count if count else 0.0
        p50, p95, p99 = (histogram.percentile(q) for q in (0.5, 0.95, 0.99))
        found = grouped_errors.get(key, {}).values()
        top_errors = sorted(found, key=lambda e: (-e.occurrences, e.signature))[:top]
        out.append(
            ApiStats(
                *key,
                requests=count,
                per_minute=count / minutes,
                error_rate_4xx=e4 * share,
                error_rate_5xx=e5 * share,
                error_rate_other=eo * share,
                p50_s=None if p50 is None else p50 / NS,
                p95_s=None if p95 is None else p95 / NS,
                p99_s=None if p99 is None else p99 / NS,
                mean_s=dur * share / NS if count else None,
                top_errors=tuple(top_errors),
                slas=covering(scopes, key) if by != "consumer" else (),
            )
        )
    out.sort(key=lambda s: (-s.requests, s.service, s.route, s.method, s.consumer))
    return out

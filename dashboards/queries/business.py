"""The executive figures: lag percentiles, late objects and money at risk, stage counts.

Exact over any range and fast at any size: lag figures read the per-object table through its
(pair, start) and (pair, end) indexes; stage counts add whole hours from the hourly business
rollup to the partial hours at each end, read from ``spans`` through its (hc_stage, event_time)
index.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from collector.tables import spans
from dashboards.catalog import LagPair
from dashboards.sqlexpr import blank, error_flag, lit
from dashboards.tables import business_rollups, lag_objects
from vitals.kernel.units import HOUR_NS, NS


@dataclass(frozen=True)
class Filters:
    facility: str | None = None
    service_line: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.facility or self.service_line)


NO_FILTERS = Filters()


@dataclass(frozen=True)
class LagFigures:
    """Lag of one stage pair over a range (seconds and dollars)."""

    pair: str
    within_s: float
    completed: int  # objects whose end stage came in the range
    median_s: float | None
    p95_s: float | None
    due: int  # objects whose deadline fell in the range
    late: int  # ... of which not completed by the deadline
    late_amount: float  # money in them: revenue at risk
    open_late: int  # ... of which still not completed now
    open_late_amount: float


def percentiles(values: np.ndarray) -> tuple[float | None, float | None]:
    """The median and the nearest-rank 95th percentile (a value that really occurred)."""
    if values.size == 0:
        return None, None
    ordered = np.sort(values)
    rank = max(1, -(-95 * ordered.size // 100))
    return float(np.median(ordered)), float(ordered[rank - 1])


def _object_filters(filters: Filters) -> list[ColumnElement[bool]]:
    out = []
    if filters.facility:
        out.append(lag_objects.c.facility == filters.facility)
    if filters.service_line:
        out.append(lag_objects.c.service_line == filters.service_line)
    return out


def lag_figures(
    engine: Engine,
    pair: LagPair,
    start_ns: int,
    end_ns: int,
    *,
    now_ns: int,
    filters: Filters = NO_FILTERS,
    with_lags: bool = True,
) -> LagFigures:
    """Lag percentiles (unless ``with_lags`` is False: late counts only) and late objects."""
    within_ns = int(pair.within_s * NS)
    t = lag_objects.c
    completed_in_range = [
        t.pair == pair.name,
        t.end_ns >= start_ns,
        t.end_ns < end_ns,
        t.start_ns.is_not(None),
        *_object_filters(filters),
    ]
    lag = t.end_ns - t.start_ns
    with engine.connect() as conn:
        completed, median, p95 = 0, None, None
        if with_lags and conn.dialect.name == "postgresql":
            # Exact percentiles in the database: no need to ship every lag to Python.
            n, mid, top = conn.execute(
                select(
                    func.count(),
                    func.percentile_cont(0.5).within_group(lag),
                    func.percentile_disc(0.95).within_group(lag),
                ).where(*completed_in_range)
            ).one()
            completed = int(n)
            median = None if mid is None else float(mid) / NS
            p95 = None if top is None else float(top) / NS
        elif with_lags:
            values = np.fromiter(
                conn.execute(select(lag).where(*completed_in_range)).scalars(), dtype=np.int64
            )
            completed = int(values.size)
            median, p95 = percentiles(values / NS)
        # Due in the range: the deadline (start + within) in [start, end) and already passed.
        late_cond = or_(t.end_ns.is_(None), t.end_ns > t.start_ns + within_ns)
        open_cond = or_(t.end_ns.is_(None), t.end_ns > now_ns)
        row = conn.execute(
            select(
                func.count(),
                func.sum(error_flag_expr(late_cond)),
                func.sum(func.coalesce(amount_if(late_cond), 0)),
                func.sum(error_flag_expr(and_(late_cond, open_cond))),
                func.sum(func.coalesce(amount_if(and_(late_cond, open_cond)), 0)),
            ).where(
                t.pair == pair.name,
                t.start_ns >= start_ns - within_ns,
                t.start_ns < end_ns - within_ns,
                t.start_ns <= now_ns - within_ns,
                *_object_filters(filters),
            )
        ).one()
    return LagFigures(
        pair=pair.name,
        within_s=pair.within_s,
        completed=completed,
        median_s=median,
        p95_s=p95,
        due=int(row[0] or 0),
        late=int(row[1] or 0),
        late_amount=float(row[2] or 0.0),
        open_late=int(row[3] or 0),
        open_late_amount=float(row[4] or 0.0),
    )


def lag_histogram(
    engine: Engine, pair: LagPair, start_ns: int, end_ns: int, *, bucket_s: int, filters: Filters = NO_FILTERS
) -> list[tuple[float, int]]:
    """Completed objects in the range per lag bucket: (bucket start in seconds, objects)."""
    t = lag_objects.c
    size = bucket_s * NS
    bucket = (t.end_ns - t.start_ns) // lit(size)
    with engine.connect() as conn:
        rows = conn.execute(
            select(bucket.label("b"), func.count())
            .where(
                t.pair == pair.name,
                t.end_ns >= start_ns,
                t.end_ns < end_ns,
                t.start_ns.is_not(None),
                *_object_filters(filters),
            )
            .group_by(bucket)
            .order_by(bucket)
        ).all()
    return [(float(int(b) * bucket_s), int(n)) for b, n in rows]


def error_flag_expr(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return case((cond, 1), else_=0)


def amount_if(cond: ColumnElement[bool]) -> ColumnElement[float]:
    return case((cond, lag_objects.c.amount), else_=None)


@dataclass(frozen=True)
class LateObject:
    key_hash: str
    start_ns: int
    end_ns: int | None
    deadline_ns: int
    amount: float | None
    facility: str | None
    service_line: str | None
    start_trace_id: str | None
    end_trace_id: str | None


def late_objects(
    engine: Engine,
    pair: LagPair,
    start_ns: int,
    end_ns: int,
    *,
    now_ns: int,
    filters: Filters = NO_FILTERS,
    only_open: bool = False,
    limit: int = 1000,
) -> list[LateObject]:
    """The objects behind ``late``: deadline in the range, not completed by it (largest first)."""
    within_ns = int(pair.within_s * NS)
    t = lag_objects.c
    cond = [
        t.pair == pair.name,
        t.start_ns >= start_ns - within_ns,
        t.start_ns < end_ns - within_ns,
        t.start_ns <= now_ns - within_ns,
        or_(t.end_ns.is_(None), t.end_ns > t.start_ns + within_ns),
        *_object_filters(filters),
    ]
    if only_open:
        cond.append(or_(t.end_ns.is_(None), t.end_ns > now_ns))
    query = (
        select(lag_objects).where(*cond).order_by(func.coalesce(t.amount, 0).desc(), t.start_ns).limit(limit)
    )
    with engine.connect() as conn:
        return [
            LateObject(
                key_hash=r.key_hash,
                start_ns=int(r.start_ns),
                end_ns=None if r.end_ns is None else int(r.end_ns),
                deadline_ns=int(r.start_ns) + within_ns,
                amount=r.amount,
                facility=r.facility,
                service_line=r.service_line,
                start_trace_id=r.start_trace_id,
                end_trace_id=r.end_trace_id,
            )
            for r in conn.execute(query)
        ]


@dataclass(frozen=True)
class StageCounts:
    stage: str
    count: int
    errors: int
    amount: float
    denials: Counter[str] = field(default_factory=Counter)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.count if self.count else None

    @property
    def denied(self) -> int:
        return sum(self.denials.values())

    @property
    def denial_rate(self) -> float | None:
        return self.denied / self.count if self.count else None


def _hour_split(start_ns: int, end_ns: int) -> tuple[int, int]:
    """[first whole hour, end of last whole hour) inside the range (empty when first >= last)."""
    first = -(-start_ns // HOUR_NS) * HOUR_NS
    last = end_ns // HOUR_NS * HOUR_NS
    return first, last


def stage_counts(
    engine: Engine, stage: str, start_ns: int, end_ns: int, filters: Filters = NO_FILTERS
) -> StageCounts:
    first, last = _hour_split(start_ns, end_ns)
    raw_ranges = [(start_ns, first), (last, end_ns)] if first < last else [(start_ns, end_ns)]
    count = errors = 0
    amount = 0.0
    denials: Counter[str] = Counter()
    with engine.connect() as conn:
        if first < last:
            b = business_rollups.c
            cond = [b.stage == stage, b.bucket >= first, b.bucket < last]
            if filters.facility:
                cond.append(b.facility == filters.facility)
            if filters.service_line:
                cond.append(b.service_line == filters.service_line)
            for row in conn.execute(
                select(b.denial_code, func.sum(b.count), func.sum(b.error_count), func.sum(b.amount_sum))
                .where(*cond)
                .group_by(b.denial_code)
            ):
                count += int(row[1])
                errors += int(row[2])
                amount += float(row[3] or 0)
                if row.denial_code:
                    denials[row.denial_code] += int(row[1])
        s = spans.c
        denial = blank(s.hc_denial_code)
        for lo, hi in raw_ranges:
            if hi <= lo:
                continue
            cond = [s.hc_stage == stage, s.event_time_unix_nano >= lo, s.event_time_unix_nano < hi]
            if filters.facility:
                cond.append(s.hc_facility == filters.facility)
            if filters.service_line:
                cond.append(s.hc_service_line == filters.service_line)
            for row in conn.execute(
                select(
                    denial.label("code"),
                    func.count(),
                    func.sum(error_flag(s.status_code)),
                    func.sum(func.coalesce(s.hc_amount, 0)),
                )
                .where(*cond)
                .group_by(denial)
            ):
                count += int(row[1])
                errors += int(row[2] or 0)
                amount += float(row[3] or 0)
                if row.code:
                    denials[row.code] += int(row[1])
    return StageCounts(stage, count, errors, amount, denials)


def facilities_and_lines(
    engine: Engine, end_ns: int, lookback_s: int = 2 * 86400
) -> tuple[list[str], list[str]]:
    """The filter choices: facilities and service lines seen in the two days before ``end_ns``."""
    b = business_rollups.c
    recent = and_(b.bucket >= end_ns - lookback_s * NS, b.bucket <= end_ns)
    with engine.connect() as conn:
        facilities = [r[0] for r in conn.execute(select(b.facility).where(recent).distinct()) if r[0]]
        lines = [r[0] for r in conn.execute(select(b.service_line).where(recent).distinct()) if r[0]]
    return sorted(facilities), sorted(lines)

"""Read API: the business objects of a lag SLA over a range (lag percentiles, late objects, money).

The SLA engine is the only writer of lag objects (``sla_lag_objects``: one row per object and lag
SLA, with its earliest start and end by event time, amount, facility, service line and traces);
the engine counts them into its SLI, and the dashboard reads them here. Every read is a range of
the (sla, start) or (sla, end) index, so it is exact over any range and fast at any size.

An object is *due* in a range when its deadline (start + within) falls in it and has passed, and
*late* when its end did not come by the deadline: the bad events of the engine's lag SLI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import BigInteger, and_, case, func, literal_column, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from slas.tables import sla_lag_objects
from vitals.kernel.units import NS

__all__ = [
    "LagFigures",
    "LagScope",
    "LateObject",
    "OpenFigures",
    "lag_figures",
    "lag_histogram",
    "late_objects",
    "open_figures",
    "percentiles",
    "slas_with_amounts",
]

_t = sla_lag_objects.c


@dataclass(frozen=True)
class LagScope:
    """Which objects a read is about: one lag SLA's, each due ``within_s`` after its start,
    optionally only those of one facility or service line."""

    sla_id: str
    within_s: float
    facility: str | None = None
    service_line: str | None = None

    @property
    def within_ns(self) -> int:
        return int(self.within_s * NS)


@dataclass(frozen=True)
class LagFigures:
    """Lag of one lag SLA's objects over a range (seconds and money)."""

    sla_id: str
    within_s: float
    completed: int  # objects whose end stage came in the range
    median_s: float | None
    p95_s: float | None
    due: int  # objects whose deadline fell in the range (and has passed)
    late: int  # ... of which not completed by the deadline
    late_amount: float  # money in them: revenue at risk
    open_late: int  # ... of which still not completed now
    open_late_amount: float


@dataclass(frozen=True)
class OpenFigures:
    """The objects of one lag SLA still open at ``at_ns`` (started at least ``older_than_s``
    before it, end stage not seen by then): what is stuck now, whether or not its deadline has
    passed. The deadline-based figures (``LagFigures.late``) count an object only once its
    deadline is past; these count it as soon as it is older than the chosen age."""

    sla_id: str
    within_s: float
    older_than_s: float
    at_ns: int
    count: int
    amount: float
    past_deadline: int  # ... of which already past their deadline (also late in LagFigures)
    past_deadline_amount: float
    oldest_start_ns: int | None


@dataclass(frozen=True)
class LateObject:
    key_hash: str  # the HMAC of the hc.key.<key> value, as the collector stored it
    start_ns: int
    end_ns: int | None
    deadline_ns: int
    amount: float | None
    facility: str | None
    service_line: str | None
    start_trace_id: str | None
    end_trace_id: str | None


def percentiles(values: np.ndarray) -> tuple[float | None, float | None]:
    """The median and the nearest-rank 95th percentile (a value that really occurred)."""
    if values.size == 0:
        return None, None
    ordered = np.sort(values)
    rank = max(1, -(-95 * ordered.size // 100))
    return float(np.median(ordered)), float(ordered[rank - 1])


def _place(scope: LagScope) -> list[ColumnElement[bool]]:
    out = [_t.sla_id == scope.sla_id]
    if scope.facility:
        out.append(_t.facility == scope.facility)
    if scope.service_line:
        out.append(_t.service_line == scope.service_line)
    return out


def _completed(scope: LagScope, start_ns: int, end_ns: int) -> list[ColumnElement[bool]]:
    """End stage in [start, end), with a start to measure the lag from: a range of the end index."""
    return [
        *_place(scope),
        _t.end_unix_nano >= start_ns,
        _t.end_unix_nano < end_ns,
        _t.start_unix_nano.is_not(None),
    ]


def _due(scope: LagScope, start_ns: int, end_ns: int, now_ns: int) -> list[ColumnElement[bool]]:
    """Deadline (start + within) in [start, end) and not after now: a range of the start index."""
    within_ns = scope.within_ns
    return [
        *_place(scope),
        _t.start_unix_nano >= start_ns - within_ns,
        _t.start_unix_nano < end_ns - within_ns,
        _t.start_unix_nano <= now_ns - within_ns,
    ]


def _late(within_ns: int) -> ColumnElement[bool]:
    return or_(_t.end_unix_nano.is_(None), _t.end_unix_nano > _t.start_unix_nano + within_ns)


def _still_open(now_ns: int) -> ColumnElement[bool]:
    return or_(_t.end_unix_nano.is_(None), _t.end_unix_nano > now_ns)


def _count_if(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((cond, 1), else_=0))


def _amount_if(cond: ColumnElement[bool]) -> ColumnElement[float]:
    return func.sum(func.coalesce(case((cond, _t.amount), else_=None), 0))


def lag_figures(
    engine: Engine, scope: LagScope, start_ns: int, end_ns: int, *, now_ns: int, with_lags: bool = True
) -> LagFigures:
    """Lag percentiles of the objects completed in [start, end) (unless ``with_lags`` is False)
    and the objects due in it, late, and still open at ``now``."""
    completed_in_range = _completed(scope, start_ns, end_ns)
    lag = _t.end_unix_nano - _t.start_unix_nano
    completed, median, p95 = 0, None, None
    with engine.connect() as conn:
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
        late = _late(scope.within_ns)
        late_open = and_(late, _still_open(now_ns))
        row = conn.execute(
            select(
                func.count(),
                _count_if(late),
                _amount_if(late),
                _count_if(late_open),
                _amount_if(late_open),
            ).where(*_due(scope, start_ns, end_ns, now_ns))
        ).one()
    return LagFigures(
        sla_id=scope.sla_id,
        within_s=scope.within_s,
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
    engine: Engine, scope: LagScope, start_ns: int, end_ns: int, *, bucket_s: int
) -> list[tuple[float, int]]:
    """Objects completed in [start, end) per lag bucket: (bucket start in seconds, objects)."""
    # The bucket size is inlined so the expression reads the same in SELECT and GROUP BY.
    bucket = (_t.end_unix_nano - _t.start_unix_nano) // literal_column(str(int(bucket_s) * NS), BigInteger())
    with engine.connect() as conn:
        rows = conn.execute(
            select(bucket.label("b"), func.count())
            .where(*_completed(scope, start_ns, end_ns))
            .group_by(bucket)
            .order_by(bucket)
        ).all()
    return [(float(int(b) * bucket_s), int(n)) for b, n in rows]


def late_objects(
    engine: Engine,
    scope: LagScope,
    start_ns: int,
    end_ns: int,
    *,
    now_ns: int,
    only_open: bool = False,
    limit: int = 1000,
) -> list[LateObject]:
    """The objects behind ``late``: deadline in the range, not completed by it (largest first)."""
    cond = [*_due(scope, start_ns, end_ns, now_ns), _late(scope.within_ns)]
    if only_open:
        cond.append(_still_open(now_ns))
    query = (
        select(
            _t.key_hash,
            _t.start_unix_nano,
            _t.end_unix_nano,
            _t.amount,
            _t.facility,
            _t.service_line,
            _t.start_trace_id,
            _t.end_trace_id,
        )
        .where(*cond)
        .order_by(func.coalesce(_t.amount, 0).desc(), _t.start_unix_nano, _t.key_hash)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [
            LateObject(
                key_hash=r.key_hash,
                start_ns=int(r.start_unix_nano),
                end_ns=None if r.end_unix_nano is None else int(r.end_unix_nano),
                deadline_ns=int(r.start_unix_nano) + scope.within_ns,
                amount=r.amount,
                facility=r.facility,
                service_line=r.service_line,
                start_trace_id=r.start_trace_id,
                end_trace_id=r.end_trace_id,
            )
            for r in conn.execute(query)
        ]


def open_figures(engine: Engine, scope: LagScope, *, older_than_s: float, at_ns: int) -> OpenFigures:
    """Objects started at least ``older_than_s`` before ``at_ns`` whose end did not come by then,
    with their amount, and how many of them are already past their deadline.

    The same objects the engine counts (``sla_lag_objects``), read by the (sla, start) index:
    no second matcher of starts and ends.
    """
    older_ns = int(older_than_s * NS)
    past = _t.start_unix_nano <= at_ns - scope.within_ns
    with engine.connect() as conn:
        row = conn.execute(
            select(
                func.count(),
                func.sum(func.coalesce(_t.amount, 0)),
                _count_if(past),
                _amount_if(past),
                func.min(_t.start_unix_nano),
            ).where(*_place(scope), _t.start_unix_nano <= at_ns - older_ns, _still_open(at_ns))
        ).one()
    return OpenFigures(
        sla_id=scope.sla_id,
        within_s=scope.within_s,
        older_than_s=older_than_s,
        at_ns=at_ns,
        count=int(row[0] or 0),
        amount=float(row[1] or 0.0),
        past_deadline=int(row[2] or 0),
        past_deadline_amount=float(row[3] or 0.0),
        oldest_start_ns=None if row[4] is None else int(row[4]),
    )


def slas_with_amounts(
    engine: Engine, sla_ids: list[str], *, at_ns: int, lookback_s: int = 35 * 86400
) -> list[str]:
    """Those of ``sla_ids`` (lag SLAs) whose objects carry an amount (``hc.amount``), in order.

    "At risk now" is money: a lag SLA whose objects never carry one (an interface's messages) has
    none to show. One indexed probe per SLA over the (sla, start) index, the last ``lookback_s``.
    """
    out: list[str] = []
    with engine.connect() as conn:
        for sla_id in sla_ids:
            probe = (
                select(_t.sla_id)
                .where(
                    _t.sla_id == sla_id,
                    _t.start_unix_nano >= at_ns - lookback_s * NS,
                    _t.start_unix_nano <= at_ns,
                    _t.amount.is_not(None),
                )
                .limit(1)
            )
            if conn.execute(probe).first() is not None:
                out.append(sla_id)
    return out

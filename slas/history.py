"""Read API: an SLA's history as the SLA engine tells it, for the dashboard (and any reader).

Two sources, both written by the engine alone:

- its **evaluations** (``sla_evaluations``, one row per SLA and slice every tick):
  :func:`current_evaluations` (the newest of each), :func:`sampled_evaluations` (the last one at
  or before each instant, by index, never by reading a range), :func:`newest_evaluation_ns`;
- its **per-minute rollups** (``sla_minutes``, ``sla_series``): :func:`sla_history` evaluates them
  with the engine's own functions at sampled instants, the numbers ``vitals sla report --at``
  prints. The engine stores evaluations only from the moment it started ticking, so a store
  back-filled with days of telemetry has days of rollups but a handful of evaluations.

Two ways :func:`sla_history` reaches the same numbers:

- **window sums** (ratio, latency and lag SLIs, and gauges without ``during``; no corrections):
  the engine scores a minute of these linearly from its rollup (good = events - bad, or for a
  gauge "sampled and nothing out of bounds"), so a window's good/total is a sum of minutes. The
  instants are laid on a grid whose unit divides both their spacing and a rolling window (a
  calendar window's period starts split the grid), the store sums the minutes per grid cell, and
  prefix sums over the cells give every window; the engine's no-data policy and budget turn them
  into SLI and budget remaining. A few hundred rows per SLA whatever the range, which keeps a
  30-day scorecard of a dozen SLAs fast.
- **minute by minute** (freshness SLIs, ``during`` masks, corrections): the raw minutes of the range
  and its windows (and a freshness SLI's look-back) are read once, scored once as the engine
  scores them and evaluated at each instant.

The tables stay private to ``slas``: readers get frozen values (:class:`History`, :class:`Point`,
:class:`EvaluationSample`, :class:`slas.model.Evaluation`), never rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    case,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.engine import Connection, Engine

from slas.budget import budget_remaining, with_no_data_policy
from slas.downsample import KEPT_STEP_NS
from slas.evaluate import evaluate_scored, scored_range, window_start
from slas.evaluation_rows import evaluation_from_row
from slas.model import Evaluation
from slas.retention import THINNED
from slas.scoring import lookback_minutes, score
from slas.series import RawMinutes
from slas.spec import SLA, GaugeSli, LagSli, LatencySli, RatioSli
from slas.tables import sla_definitions, sla_evaluations, sla_minutes, sla_retention, sla_series
from vitals.kernel.db import fetch_tuples
from vitals.kernel.units import MINUTE_NS, NS, optional_float

__all__ = [
    "EvaluationSample",
    "History",
    "Point",
    "current_evaluations",
    "newest_evaluation_ns",
    "sampled_evaluations",
    "sla_history",
    "summable",
]


def _lit(value: int) -> ColumnElement[Any]:
    """An integer inlined into the SQL text, so an expression reads the same in SELECT and GROUP BY
    (PostgreSQL refuses a GROUP BY whose bind parameters differ)."""
    return literal_column(str(int(value)), BigInteger())


@dataclass(frozen=True)
class Point:
    """The SLA (or a slice) at one instant, as the engine evaluates it."""

    at_ns: int
    sli: float | None
    budget_remaining: float | None
    good: float  # in the window, before the no-data policy
    total: float


@dataclass(frozen=True)
class History:
    """Points oldest first, or why the engine's rollups cannot give them."""

    points: tuple[Point, ...]
    reason: str | None = None  # set when the rollups do not describe the SLA as configured

    @property
    def usable(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class _Grid:
    """``count`` instants ending at ``end_ns``, ``step`` minutes apart; ``cell`` minutes divide
    the step (and a rolling window), so every window is a run of whole cells."""

    end_ns: int
    step: int
    cell: int
    count: int

    @property
    def end_minute(self) -> int:
        return self.end_ns // MINUTE_NS

    def times(self) -> tuple[int, ...]:
        return tuple(self.end_ns - (self.count - 1 - i) * self.step * MINUTE_NS for i in range(self.count))


def _rolling_minutes(sla: SLA) -> int | None:
    rolling = sla.window.rolling
    return None if rolling is None else int(rolling // 60)


def _grid_for(sla: SLA, start_ns: int, end_ns: int, points: int) -> _Grid:
    """Up to about ``points`` instants from ``start`` to ``end`` (the last is ``end`` itself)."""
    span = max(0, (end_ns - start_ns) // MINUTE_NS)
    wanted = max(1, math.ceil(span / max(1, points - 1)))
    window = _rolling_minutes(sla)
    if window is None:
        step = cell = wanted
    elif wanted >= window:
        cell = window
        step = math.ceil(wanted / window) * window
    else:
        cell = step = next(d for d in range(wanted, window + 1) if window % d == 0)
    return _Grid(end_ns, step, cell, span // step + 1)


def summable(sla: SLA) -> bool:
    """Whether the engine scores each minute of this SLA as a sum of its rollup (see the module)."""
    spec = sla.sli.spec
    if sla.corrections:
        return False
    if isinstance(spec, GaugeSli):
        return spec.during is None
    return isinstance(spec, RatioSli | LatencySli | LagSli)


def _point_of(sla: SLA, at_ns: int, good: float, total: float) -> Point:
    """The engine's verdict on a window's sums: no-data policy, SLI, budget left."""
    counts = with_no_data_policy(good, total, sla.min_events, sla.no_data)
    return Point(at_ns, counts.sli if counts else None, budget_remaining(counts, sla.objective), good, total)


def _not_ready_reason(engine: Engine, sla: SLA) -> str | None:
    """Why the engine's rollups do not (yet) describe ``sla`` as configured, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(sla_definitions.c.fingerprint, sla_definitions.c.state).where(
                sla_definitions.c.sla_id == sla.id
            )
        ).first()
    if row is None:
        return "the SLA engine has not registered this SLA yet (is `vitals serve` running?)"
    if row.fingerprint != sla.rollup_fingerprint():
        return "the SLA engine has not picked up the changed SLA file yet"
    if row.state != "ready":
        return "the SLA engine is still back-filling this SLA from stored telemetry"
    return None


def _series(conn: Connection, sla_id: str) -> list[Any]:
    s = sla_series.c
    return list(
        conn.execute(select(s.slice, s.labels, s.first_minute_unix_nano).where(s.sla_id == sla_id)).all()
    )


# --------------------------------------------------------------------------- window sums


def _cells(minute: Any, end: int, cell: int, periods: Sequence[int]) -> tuple[Any, Any]:
    """SQL for a minute's grid cell (0 holds the newest minutes ``(end - cell, end]``) and how
    many of ``periods`` (calendar period starts) it has passed. Constants are inlined, so the
    expressions read the same in SELECT and GROUP BY (PostgreSQL insists)."""
    index = (_lit(end * MINUTE_NS) - minute) // _lit(cell * MINUTE_NS)
    passed: Any = _lit(0)
    for begin in periods:
        passed = passed + case((minute >= _lit(begin * MINUTE_NS), _lit(1)), else_=_lit(0))
    return index, passed


def _window_sums(conn: Connection, sla: SLA, slice_key: str | None, grid: _Grid) -> list[Point]:
    m = sla_minutes.c
    end = grid.end_minute
    minutes = [end - i * grid.step for i in range(grid.count)]  # newest first
    starts = [window_start(sla, t) for t in minutes]
    lo = min(starts)
    # A calendar window starts at a period start inside a cell: cells are split there.
    periods = sorted(set(starts)) if _rolling_minutes(sla) is None else []
    where = [m.sla_id == sla.id, m.minute_unix_nano.between(lo * MINUTE_NS, end * MINUTE_NS)]
    if slice_key is not None:
        where.append(m.slice == slice_key)
    if isinstance(sla.sli.spec, GaugeSli):
        # A minute counts once it has samples (from any slice); it is good when none was out of bounds.
        per_minute = (
            select(m.minute_unix_nano.label("minute"), func.sum(m.bad).label("bad"))
            .where(*where)
            .group_by(m.minute_unix_nano)
            .having(func.sum(m.events) > 0)
            .subquery()
        )
        index, passed = _cells(per_minute.c.minute, end, grid.cell, periods)
        good_sum: Any = func.sum(case((per_minute.c.bad == 0, _lit(1)), else_=_lit(0)))
        total_sum: Any = func.count()
        source: Any = per_minute
        filters: list[Any] = []
    else:
        index, passed = _cells(m.minute_unix_nano, end, grid.cell, periods)
        good_sum, total_sum = func.sum(m.events - m.bad), func.sum(m.events)
        source, filters = sla_minutes, where
    query = (
        select(index.label("cell"), passed.label("period"), good_sum.label("good"), total_sum.label("total"))
        .select_from(source)
        .where(*filters)
        # (a constant is not grouped by: SQL would read it as a column number)
        .group_by(*((index, passed) if periods else (index,)))
    )
    cells = (end - lo) // grid.cell + 1
    good = np.zeros((cells, len(periods) + 1))
    total = np.zeros((cells, len(periods) + 1))
    for row in conn.execute(query):
        good[int(row.cell), int(row.period)] += float(row.good or 0)
        total[int(row.cell), int(row.period)] += float(row.total or 0)
    # Prefix sums from the newest cell back: sums over cells [a, b) are cum[b] - cum[a].
    cum_good = np.vstack([np.zeros((1, good.shape[1])), np.cumsum(good, axis=0)])
    cum_total = np.vstack([np.zeros((1, total.shape[1])), np.cumsum(total, axis=0)])
    points = []
    for i, (t, begin) in enumerate(zip(minutes, starts, strict=True)):  # newest first
        first = i * grid.step // grid.cell
        last = first + (t - begin) // grid.cell + 1  # cells of minutes begin .. t
        if periods:
            p = periods.index(begin) + 1  # minutes of t's period have passed p period starts
            g = cum_good[last, p] - cum_good[first, p]
            n = cum_total[last, p] - cum_total[first, p]
        else:
            g = float(cum_good[last].sum() - cum_good[first].sum())
            n = float(cum_total[last].sum() - cum_total[first].sum())
        points.append(_point_of(sla, grid.end_ns - i * grid.step * MINUTE_NS, float(g), float(n)))
    return points[::-1]


# --------------------------------------------------------------------------- minute by minute


@dataclass(frozen=True)
class _Minutes:
    """Raw rollups of one SLA (all slices summed) or one slice, with what scoring needs."""

    raw: RawMinutes
    first_minute: int | None  # the series' first minute with data (freshness counts from it)
    labels: dict[str, str]


def _minute_range(sla: SLA, times_ns: Sequence[int]) -> tuple[int, int]:
    """Raw minutes needed to evaluate at every one of ``times_ns``: windows, burn windows, look-back."""
    minutes = [t // MINUTE_NS for t in times_ns]
    lo = min(scored_range(sla, m)[0] for m in minutes)
    return lo - lookback_minutes(sla), max(minutes)


def _load_minutes(conn: Connection, sla_id: str, slice_key: str | None, lo: int, hi: int) -> _Minutes | None:
    """Raw rollups for minutes ``lo..hi`` of the SLA as a whole (None) or one slice; None when the
    engine has never seen that slice."""
    m = sla_minutes.c
    series = _series(conn, sla_id)
    in_range = (m.sla_id == sla_id) & m.minute_unix_nano.between(lo * MINUTE_NS, hi * MINUTE_NS)
    if slice_key is None:
        query = (
            select(m.minute_unix_nano, func.sum(m.events), func.sum(m.bad), func.sum(m.bad_amount))
            .where(in_range)
            .group_by(m.minute_unix_nano)
        )
        firsts = [int(r.first_minute_unix_nano) // MINUTE_NS for r in series]
        first, labels = (min(firsts) if firsts else None), {}
    else:
        mine = next((r for r in series if r.slice == slice_key), None)
        if mine is None:
            return None
        query = select(m.minute_unix_nano, m.events, m.bad, m.bad_amount).where(
            in_range, m.slice == slice_key
        )
        first, labels = int(mine.first_minute_unix_nano) // MINUTE_NS, dict(mine.labels or {})
    rows = fetch_tuples(conn, query)
    raw = RawMinutes.zeros(lo, hi)
    if rows:
        # Sums come back as Decimal on PostgreSQL: go through float64 (counts stay exact).
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=4 * len(rows))
        table = flat.reshape(len(rows), 4)
        index = (table[:, 0].astype(np.int64) // MINUTE_NS) - lo
        raw.events[index] = table[:, 1].astype(np.int64)
        raw.bad[index] = table[:, 2].astype(np.int64)
        raw.amount[index] = table[:, 3]
    return _Minutes(raw, first, labels)


def _evaluate_at(
    sla: SLA, minutes: _Minutes, slice_key: str | None, times_ns: Sequence[int]
) -> list[Evaluation]:
    """The engine's evaluation of the SLA (or slice) at each instant, from raw rollups.

    Scoring is causal (a minute's score depends only on telemetry up to it and the hours before
    it), so scoring the whole range once serves every instant exactly as scoring each would, as
    in the engine's back-test.
    """
    if not times_ns:
        return []
    lo, hi = _minute_range(sla, times_ns)
    scored = score(sla, minutes.raw, minutes.first_minute, lo + lookback_minutes(sla), hi)
    return [evaluate_scored(sla, scored, t, slice_key, minutes.labels) for t in times_ns]


# --------------------------------------------------------------------------- history


def sla_history(
    engine: Engine, sla: SLA, slice_key: str | None, *, start_ns: int, end_ns: int, points: int
) -> History:
    """The SLA (``slice_key`` None) or one slice as the engine evaluates it at about ``points``
    instants from ``start`` to ``end`` (the last is ``end`` itself), from its per-minute rollups;
    or no points and the reason the rollups cannot tell yet (the engine has not registered the
    SLA, not picked up a changed file, is still back-filling it, or never saw the slice)."""
    reason = _not_ready_reason(engine, sla)
    if reason is not None:
        return History((), reason)
    grid = _grid_for(sla, start_ns, end_ns, points)
    with engine.connect() as conn:
        if slice_key is not None and not any(r.slice == slice_key for r in _series(conn, sla.id)):
            return History((), f"the SLA engine has seen no events of slice {slice_key}")
        if summable(sla):
            return History(tuple(_window_sums(conn, sla, slice_key, grid)))
        times = grid.times()
        lo, hi = _minute_range(sla, times)
        minutes = _load_minutes(conn, sla.id, slice_key, lo, hi)
    assert minutes is not None
    return History(
        tuple(
            Point(e.at_unix_nano, e.sli, e.budget_remaining, e.good, e.total)
            for e in _evaluate_at(sla, minutes, slice_key, times)
        )
    )


# --------------------------------------------------------------------------- stored evaluations

#: Evaluations older than this before the newest tick are not "current" any more.
CURRENT_LOOKBACK_S = 30 * 60
_SAMPLES_PER_QUERY = 400
_ev = sla_evaluations.c


class EvaluationSample(NamedTuple):
    """The last evaluation of an SLA (or slice) in the step before one instant."""

    sla_id: str
    slice: str | None  # None for the SLA as a whole
    at_ns: int  # the instant asked for
    sli: float | None
    budget_remaining: float | None
    status: str
    good: float
    total: float
    evaluated_at_ns: int  # when the engine evaluated it (at or before ``at_ns``)


def newest_evaluation_ns(engine: Engine, at_ns: int | None = None) -> int | None:
    """When the engine last evaluated (at or before ``at_ns``), or None before its first tick."""
    query = select(func.max(_ev.evaluated_at_unix_nano))
    if at_ns is not None:
        query = query.where(_ev.evaluated_at_unix_nano <= at_ns)
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return None if value is None else int(value)


def current_evaluations(
    engine: Engine, at_ns: int | None = None, sla_id: str | None = None
) -> list[Evaluation]:
    """The current evaluation of every SLA and slice (as of ``at_ns``; default: the newest tick),
    by SLA id and slice. An SLA the engine stopped evaluating half an hour before drops out."""
    newest = newest_evaluation_ns(engine, at_ns)
    if newest is None:
        return []
    query = select(sla_evaluations).where(
        _ev.evaluated_at_unix_nano > newest - CURRENT_LOOKBACK_S * NS, _ev.evaluated_at_unix_nano <= newest
    )
    if sla_id is not None:
        query = query.where(_ev.sla_id == sla_id)
    best: dict[tuple[str, str], Any] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            key = (row.sla_id, row.slice)
            if key not in best or row.evaluated_at_unix_nano > best[key].evaluated_at_unix_nano:
                best[key] = row
    evaluations = [evaluation_from_row(r._mapping) for r in best.values()]
    return sorted(evaluations, key=lambda e: (e.sla_id, e.slice or ""))


def _thinned_to(conn: Connection) -> int | None:
    """Below this instant the engine's retention kept one evaluation an hour (``slas.downsample``)."""
    r = sla_retention.c
    value = conn.execute(select(r.done_unix_nano).where(r.job == THINNED)).scalar()
    return None if value is None else int(value)


def _lookback(at_ns: int, step_ns: int, thinned_to_ns: int | None) -> int:
    """How far before ``at`` a sample may be: the step, and at least an hour where that reaches
    into thinned history (there is one row an hour there; a shorter step would chart gaps)."""
    if thinned_to_ns is not None and at_ns - step_ns < thinned_to_ns:
        return max(step_ns, KEPT_STEP_NS)
    return step_ns


def sampled_evaluations(
    engine: Engine, series: Sequence[tuple[str, str | None]], times_ns: Sequence[int], step_ns: int
) -> list[EvaluationSample]:
    """For each (sla id, slice or None) and instant t: the last evaluation in (t - step, t], or
    nothing (a gap); in history older than the full-resolution window, thinned to one evaluation
    an hour, the last in (t - max(step, 1h), t]. Found through the (sla, slice, time) index: the
    engine writes one row per SLA and slice every tick, millions a month, and none of them is
    read beyond the samples."""
    wanted = [(sla, slice_ or "", int(t)) for sla, slice_ in series for t in times_ns]
    picked: list[tuple[str, str, int, int]] = []
    found: dict[int, Any] = {}
    with engine.connect() as conn:
        thinned = _thinned_to(conn)
        for start in range(0, len(wanted), _SAMPLES_PER_QUERY):
            # A UNION ALL of literal rows: SQLite cannot name the columns of a VALUES list.
            points = union_all(
                *(
                    select(
                        literal(sla, String).label("sla_id"),
                        literal(slice_, String).label("slice"),
                        literal(at, BigInteger).label("at"),
                        literal(at - _lookback(at, step_ns, thinned), BigInteger).label("since"),
                    )
                    for sla, slice_, at in wanted[start : start + _SAMPLES_PER_QUERY]
                )
            ).subquery("points")
            pick = (
                select(_ev.id)
                .where(
                    _ev.sla_id == points.c.sla_id,
                    _ev.slice == points.c.slice,
                    _ev.evaluated_at_unix_nano <= points.c.at,
                    _ev.evaluated_at_unix_nano > points.c.since,
                )
                .order_by(_ev.evaluated_at_unix_nano.desc())
                .limit(1)
                .scalar_subquery()
            )
            for row in conn.execute(select(points.c.sla_id, points.c.slice, points.c.at, pick.label("eid"))):
                if row.eid is not None:
                    picked.append((row.sla_id, row.slice, int(row.at), int(row.eid)))
        unique = sorted({p[3] for p in picked})
        for start in range(0, len(unique), _SAMPLES_PER_QUERY):
            for found_row in conn.execute(
                select(
                    _ev.id,
                    _ev.sli,
                    _ev.budget_remaining,
                    _ev.status,
                    _ev.good,
                    _ev.total,
                    _ev.evaluated_at_unix_nano,
                ).where(_ev.id.in_(unique[start : start + _SAMPLES_PER_QUERY]))
            ):
                found[int(found_row.id)] = found_row
    samples = [
        EvaluationSample(
            sla_id=sla,
            slice=slice_ or None,
            at_ns=at,
            sli=optional_float(found[eid].sli),
            budget_remaining=optional_float(found[eid].budget_remaining),
            status=found[eid].status,
            good=float(found[eid].good),
            total=float(found[eid].total),
            evaluated_at_ns=int(found[eid].evaluated_at_unix_nano),
        )
        for sla, slice_, at, eid in picked
    ]
    return sorted(samples, key=lambda s: (s.sla_id, s.at_ns))

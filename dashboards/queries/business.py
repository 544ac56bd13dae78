"""The executive figures' stage counts, and the page filters (facility, service line).

Exact over any range and fast at any size: stage counts add whole hours from the hourly business
rollup to the partial hours at each end, read from ``spans`` through its (hc_stage, event_time)
index. Lag percentiles, late objects and money at risk come from the SLA engine's lag objects
(``slas.lag_history``), and so do the objects stuck now (open and older than a chosen age).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from collector.tables import spans
from dashboards.catalog import LagPair
from dashboards.sqlexpr import blank, error_flag
from dashboards.tables import business_rollups
from slas import LagScope
from slas.lag_history import OpenFigures, open_figures
from vitals.kernel.units import HOUR_NS, NS


@dataclass(frozen=True)
class Filters:
    facility: str | None = None
    service_line: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.facility or self.service_line)

    def lag_scope(self, pair: LagPair) -> LagScope:
        """The SLA engine's lag objects of ``pair``'s SLA that these filters leave on the page."""
        return LagScope(pair.name, pair.within_s, self.facility, self.service_line)


NO_FILTERS = Filters()


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


def stuck_now(
    engine: Engine, pair: LagPair, *, older_than_s: float, at_ns: int, filters: Filters = NO_FILTERS
) -> OpenFigures:
    """The objects of ``pair``'s SLA not finished at ``at_ns`` and older than ``older_than_s``:
    the money at risk now, before their deadline makes them late (the SLA engine's lag objects)."""
    return open_figures(engine, filters.lag_scope(pair), older_than_s=older_than_s, at_ns=at_ns)

"""The SLA engine's evaluations (``sla_evaluations``) as ``slas.model.Evaluation`` values.

The engine writes one row per SLA and slice every tick (every 30 s by default), so a month holds
millions of rows. Time series are therefore *sampled*: for each chart point the last evaluation
at or before it, found by the (sla_id, slice, evaluated_at) index, never by reading the range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, String, func, literal, select, union_all
from sqlalchemy.engine import Engine

from slas.evaluation_rows import evaluation_from_row
from slas.model import Evaluation
from slas.tables import sla_evaluations as ev
from vitals.kernel.units import NS, optional_float

#: Evaluations older than this before the newest tick are not "current" any more.
CURRENT_LOOKBACK_S = 30 * 60
_SAMPLES_PER_QUERY = 400


def newest_tick(engine: Engine, at_ns: int | None = None) -> int | None:
    q = select(func.max(ev.c.evaluated_at_unix_nano))
    if at_ns is not None:
        q = q.where(ev.c.evaluated_at_unix_nano <= at_ns)
    with engine.connect() as conn:
        value = conn.execute(q).scalar()
    return None if value is None else int(value)


def latest(engine: Engine, at_ns: int | None = None, sla_id: str | None = None) -> list[Evaluation]:
    """The current evaluation of every SLA and slice (as of ``at_ns``; default: newest)."""
    newest = newest_tick(engine, at_ns)
    if newest is None:
        return []
    q = select(ev).where(
        ev.c.evaluated_at_unix_nano > newest - CURRENT_LOOKBACK_S * NS, ev.c.evaluated_at_unix_nano <= newest
    )
    if sla_id is not None:
        q = q.where(ev.c.sla_id == sla_id)
    best: dict[tuple[str, str], Any] = {}
    with engine.connect() as conn:
        for row in conn.execute(q):
            key = (row.sla_id, row.slice)
            if key not in best or row.evaluated_at_unix_nano > best[key].evaluated_at_unix_nano:
                best[key] = row
    evaluations = [evaluation_from_row(r._mapping) for r in best.values()]
    return sorted(evaluations, key=lambda e: (e.sla_id, e.slice or ""))


@dataclass(frozen=True)
class SeriesKey:
    sla_id: str
    slice: str | None = None


SERIES_COLUMNS = [
    "sla_id",
    "slice",
    "at",
    "sli",
    "budget_remaining",
    "status",
    "good",
    "total",
    "evaluated_at",
]


def sample(engine: Engine, keys: Sequence[SeriesKey], times_ns: Sequence[int], step_ns: int) -> pd.DataFrame:
    """For each key and time t: the last evaluation in (t - step, t], or no row (a gap)."""
    wanted = [(k.sla_id, k.slice or "", int(t)) for k in keys for t in times_ns]
    ids: list[tuple[str, str, int, int]] = []
    with engine.connect() as conn:
        for start in range(0, len(wanted), _SAMPLES_PER_QUERY):
            # A UNION ALL of literal rows: SQLite cannot name the columns of a VALUES list.
            points = union_all(
                *(
                    select(
                        literal(sla, String).label("sla_id"),
                        literal(slice_, String).label("slice"),
                        literal(at, BigInteger).label("at"),
                    )
                    for sla, slice_, at in wanted[start : start + _SAMPLES_PER_QUERY]
                )
            ).subquery("points")
            pick = (
                select(ev.c.id)
                .where(
                    ev.c.sla_id == points.c.sla_id,
                    ev.c.slice == points.c.slice,
                    ev.c.evaluated_at_unix_nano <= points.c.at,
                    ev.c.evaluated_at_unix_nano > points.c.at - step_ns,
                )
                .order_by(ev.c.evaluated_at_unix_nano.desc())
                .limit(1)
                .scalar_subquery()
            )
            for row in conn.execute(select(points.c.sla_id, points.c.slice, points.c.at, pick.label("eid"))):
                if row.eid is not None:
                    ids.append((row.sla_id, row.slice, int(row.at), int(row.eid)))
        by_id: dict[int, Any] = {}
        unique = sorted({i[3] for i in ids})
        for start in range(0, len(unique), _SAMPLES_PER_QUERY):
            for found in conn.execute(
                select(
                    ev.c.id,
                    ev.c.sli,
                    ev.c.budget_remaining,
                    ev.c.status,
                    ev.c.good,
                    ev.c.total,
                    ev.c.evaluated_at_unix_nano,
                ).where(ev.c.id.in_(unique[start : start + _SAMPLES_PER_QUERY]))
            ):
                by_id[int(found.id)] = found
    records = []
    for sla, slice_, at, eid in ids:
        row = by_id[eid]
        records.append(
            {
                "sla_id": sla,
                "slice": slice_ or None,
                "at": at,
                "sli": optional_float(row.sli),
                "budget_remaining": optional_float(row.budget_remaining),
                "status": row.status,
                "good": float(row.good),
                "total": float(row.total),
                "evaluated_at": int(row.evaluated_at_unix_nano),
            }
        )
    frame = pd.DataFrame.from_records(records, columns=SERIES_COLUMNS)
    return frame.sort_values(["sla_id", "at"], kind="stable").reset_index(drop=True)


def sample_times(start_ns: int, end_ns: int, points: int) -> tuple[list[int], int]:
    """``points`` evenly spaced instants ending at ``end_ns``, and the step between them."""
    points = max(2, points)
    step = max(1, (end_ns - start_ns) // points)
    return [end_ns - i * step for i in range(points - 1, -1, -1)], step

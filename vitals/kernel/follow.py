"""Following a growing table by its row ids: each row delivered once, on SQLite and PostgreSQL.

The tables Vitals reads incrementally (spans, metric points, correlation keys, SLA evaluations)
number their rows with an auto-increment id. "Remember the highest id read" is exact only where
ids become visible in the order they were handed out. SQLite has one writer at a time, so they
do. PostgreSQL hands an id out when a row is inserted but shows the row when its transaction
commits: a transaction that took id 10 may commit after one that took id 11, and a reader that
saw 11 and moved its position past 10 never sees 10.

So a :class:`Cursor` keeps, above its watermark, the ranges of ids it has read (each with when it
was first read) and reads only the gaps between them. An id missing from a gap was handed out
before the ids read above it; the cursor gives it up (moves the watermark past it) once the ids
read just above it were first seen ``horizon`` ago. A writer that holds an id that long is taken
to have rolled back: a rolled-back insert leaves a gap for ever. The horizon is 0 on SQLite and
two minutes on PostgreSQL (:func:`default_horizon_s`).

Why not bound reads by the oldest transaction still running (``pg_snapshot_xmin``)? A
transaction draws its id from the sequence before it is given a transaction id, so a snapshot
taken in between knows nothing of it; and that bound means nothing on SQLite. The horizon is one
rule for both stores.

Readers that consume rows in any order (the SLA engine, the alert engine, the queue jobs) take
the rows of the gaps as they come. Readers that fold id ranges in order (the dashboard's
rollups) fold only up to the watermark: every id at or below it has been read or given up, so
the ids between the old and the new watermark are a settled prefix.

The core (:class:`Cursor`) is pure; :func:`gap_clause`, :func:`read_new`, :func:`first_id_since`
and :func:`default_horizon_s` are the SQL edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, false, func, or_, select
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "DEFAULT_PG_HORIZON_S",
    "Cursor",
    "Gap",
    "NewRows",
    "SeenRange",
    "default_horizon_s",
    "first_id_since",
    "gap_clause",
    "read_new",
]

#: How long an id may stay uncommitted below committed ones on PostgreSQL before it is given up.
DEFAULT_PG_HORIZON_S = 120.0

#: Unread ids: (exclusive low, exclusive high), or (exclusive low, None) for everything above.
Gap = tuple[int, int | None]


@dataclass(frozen=True)
class SeenRange:
    """Ids ``lo`` to ``hi`` (inclusive), all read; ``first_seen_ns``: when the first of them was."""

    lo: int
    hi: int
    first_seen_ns: int


@dataclass(frozen=True)
class Cursor:
    """A reader's position in a table: every id at or below ``watermark`` is read or given up;
    above it, ``seen`` lists what has been read (sorted, disjoint, never adjacent)."""

    watermark: int = 0
    seen: tuple[SeenRange, ...] = ()

    def gaps(self) -> tuple[Gap, ...]:
        """What is still to read, lowest first; the last gap is open above."""
        out: list[Gap] = []
        low = self.watermark
        for item in self.seen:
            if item.lo > low + 1:
                out.append((low, item.lo))
            low = max(low, item.hi)
        out.append((low, None))
        return tuple(out)

    def is_new(self, row_id: int) -> bool:
        """Whether ``row_id`` lies in a gap (has not been read or given up)."""
        return any(row_id > low and (high is None or row_id < high) for low, high in self.gaps())

    def passed(self) -> list[tuple[int, int]]:
        """The id intervals (inclusive) behind the cursor: read, or given up below the watermark."""
        out = [(1, self.watermark)] if self.watermark >= 1 else []
        out.extend((item.lo, item.hi) for item in self.seen)
        return out

    def marked(self, ids: Iterable[int], now_ns: int) -> Cursor:
        """The cursor once ``ids`` (any order, repeats allowed) have been read at ``now_ns``.

        Merged ranges keep the earliest first-seen time: a gap below a range was handed out
        before the range's lowest id, so its grace runs from when that id was first seen, and a
        range that keeps growing (steady ingest above a rolled-back id) does not keep its gap
        open for ever.
        """
        fresh: list[SeenRange] = []
        for value in sorted({i for i in ids if i > self.watermark}):
            if fresh and fresh[-1].hi + 1 == value:
                fresh[-1] = SeenRange(fresh[-1].lo, value, now_ns)
            else:
                fresh.append(SeenRange(value, value, now_ns))
        if not fresh:
            return self
        merged: list[SeenRange] = []
        for item in sorted([*self.seen, *fresh], key=lambda r: r.lo):
            if merged and merged[-1].hi + 1 >= item.lo:
                last = merged[-1]
                merged[-1] = SeenRange(
                    last.lo, max(last.hi, item.hi), min(last.first_seen_ns, item.first_seen_ns)
                )
            else:
                merged.append(item)
        return Cursor(self.watermark, tuple(merged))

    def settled(self, now_ns: int, horizon_ns: int, *, at_most: int | None = None) -> Cursor:
        """The cursor with its watermark moved past every range first seen ``horizon_ns`` ago
        (and past the gaps below them), but not beyond ``at_most`` when given."""
        ripe = [item.hi for item in self.seen if item.first_seen_ns <= now_ns - horizon_ns]
        watermark = max([self.watermark, *ripe])
        if at_most is not None:
            watermark = max(self.watermark, min(watermark, at_most))
        if watermark == self.watermark:
            return self
        seen = [item for item in self.seen if item.hi > watermark]
        if seen and seen[0].lo <= watermark:
            seen[0] = SeenRange(watermark + 1, seen[0].hi, seen[0].first_seen_ns)
        return Cursor(watermark, tuple(seen))

    def after_read(self, ids: Iterable[int], now_ns: int, horizon_ns: int) -> Cursor:
        """The safe next position once ``ids`` were read at ``now_ns``."""
        return self.marked(ids, now_ns).settled(now_ns, horizon_ns)

    def seen_json(self) -> list[list[int]]:
        """``seen`` as JSON (the watermark is stored beside it, in a column of its own)."""
        return [[item.lo, item.hi, item.first_seen_ns] for item in self.seen]

    @classmethod
    def from_json(cls, watermark: int, seen: Sequence[Sequence[Any]] | None) -> Cursor:
        return cls(int(watermark), tuple(SeenRange(int(a), int(b), int(c)) for a, b, c in seen or ()))


# --------------------------------------------------------------------------- the SQL edge


def default_horizon_s(engine: Engine | Connection) -> float:
    """0 where ids become visible in order (SQLite), else :data:`DEFAULT_PG_HORIZON_S`."""
    return 0.0 if engine.dialect.name == "sqlite" else DEFAULT_PG_HORIZON_S


def gap_clause(id_column: ColumnElement[Any], gaps: Sequence[Gap]) -> ColumnElement[bool]:
    """A WHERE condition true for ids in ``gaps``."""
    parts = [
        and_(id_column > low, id_column < high) if high is not None else id_column > low for low, high in gaps
    ]
    return or_(*parts) if parts else false()


@dataclass(frozen=True)
class NewRows:
    """One read: the new ids (lowest first; all of them, whatever ``where`` said) and the rows."""

    ids: tuple[int, ...]
    rows: tuple[Row[Any], ...]
    limit: int

    @property
    def caught_up(self) -> bool:
        """Fewer than ``limit`` new ids: nothing else was visible when this read ran."""
        return len(self.ids) < self.limit


def read_new(
    conn: Connection,
    query: Select[Any],
    id_column: ColumnElement[Any],
    cursor: Cursor,
    limit: int,
    *,
    where: ColumnElement[bool] | None = None,
) -> NewRows:
    """Up to ``limit`` ids new to ``cursor``, lowest first, and the rows of ``query`` among them.

    ``query`` selects from the followed table, including ``id_column``. ``where`` narrows the
    rows returned but not the ids: every id read is marked, so a selective reader does not leave
    each unwanted row behind as a gap of its own.
    """
    new = gap_clause(id_column, cursor.gaps())
    if where is None:
        rows = conn.execute(query.where(new).order_by(id_column).limit(limit)).all()
        return NewRows(tuple(int(row._mapping[id_column]) for row in rows), tuple(rows), limit)
    ids = tuple(
        int(i) for i in conn.execute(select(id_column).where(new).order_by(id_column).limit(limit)).scalars()
    )
    if not ids:
        return NewRows((), (), limit)
    # A row committed between the two statements may match too; only the ids read are delivered.
    wanted = set(ids)
    rows = conn.execute(
        query.where(new, id_column >= ids[0], id_column <= ids[-1], where).order_by(id_column)
    ).all()
    return NewRows(ids, tuple(row for row in rows if int(row._mapping[id_column]) in wanted), limit)


def first_id_since(conn: Connection, id_column: ColumnElement[Any], *since: ColumnElement[bool]) -> int:
    """A watermark just below the first row that meets ``since`` (a reader that starts from a
    look-back instead of a stored position); the newest id when no row does."""
    first = conn.execute(select(func.min(id_column)).where(*since)).scalar()
    if first is None:
        return int(conn.execute(select(func.max(id_column))).scalar() or 0)
    return int(first) - 1

"""The SLA engine's own state: rollups, series, lag objects, definitions and read cursors.

``StateStore`` is the edge; :class:`SqlStateStore` keeps the state in the Vitals store (SQLite or
PostgreSQL) and :class:`MemoryStateStore` in dictionaries for unit tests. Commits are optimistic:
the engine reads and computes without holding a lock (so the collector keeps writing), then
commits only if the generation it started from is still current.

Lag objects and definitions become rows, and back, through a :class:`~vitals.kernel.rowmap.RowMap`
each: fields are the columns of their names (``x_ns`` in ``x_unix_nano``) unless declared below,
and a field added without a column fails at import. SQLAlchemy's ORM is not used: its imperative
mapping cannot instrument the frozen ``LagObject`` and would alter the core's classes, and the
upserts here are plain ``INSERT ... ON CONFLICT`` statements (see the rowmap module). Rollups and
series stay tuples: the engine adds them up, so there is no object to map.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from slas.downsample import Mark, floor_to, thin
from slas.evaluation_rows import evaluation_row
from slas.lag import Counted, LagObject
from slas.model import Evaluation
from slas.retention import PruneReport, prune
from slas.series import MinuteSeries
from slas.state import SOURCES, Commit, Definition, Meta, StoredObject
from slas.tables import (
    sla_cursors,
    sla_definitions,
    sla_evaluations,
    sla_lag_objects,
    sla_minutes,
    sla_series,
)
from vitals.kernel.follow import Cursor
from vitals.kernel.rowmap import Composite, JsonOf, RowMap, Stored
from vitals.kernel.units import MINUTE_NS

__all__ = ["MemoryStateStore", "SqlStateStore", "StateStore"]


class StateStore(Protocol):
    def load_meta(self) -> Meta: ...

    def load_series(
        self, since_minute: Mapping[str, int], max_span: Mapping[str, int]
    ) -> dict[str, dict[str, MinuteSeries]]:
        """Series of each SLA with raw rollups from ``since_minute[sla]`` on."""
        ...

    def load_objects(self, sla_id: str, keys: Sequence[str]) -> dict[str, LagObject]: ...

    def due_objects(self, now_ns: int, limit: int) -> list[LagObject]: ...

    def commit(self, change: Commit) -> int | None:
        """Apply ``change``; the new generation, or None if another engine committed first."""
        ...

    def write_evaluations(self, evaluations: Sequence[Evaluation]) -> None: ...

    def prune(self, now_ns: int, minutes_before_ns: int, evaluations_before_ns: int) -> PruneReport:
        """Delete expired lag objects, rollups before ``minutes_before_ns`` and evaluations before
        the older of the two cutoffs; thin those before ``evaluations_before_ns`` (``slas.retention``)."""
        ...


def _counted(state: str, slice_: str | None, minute_ns: int | None, amount: float | None) -> Counted | None:
    if state not in ("good", "bad"):
        return None
    return Counted(slice_ or "", int(minute_ns or 0) // MINUTE_NS, state == "bad", float(amount or 0.0))


def _counted_columns(obj: LagObject) -> tuple[str, str | None, int | None, float | None]:
    counted = obj.counted
    if counted is None:
        return obj.state, None, None, None
    return obj.state, counted.slice, counted.minute * MINUTE_NS, counted.amount


def _id_ranges(stored: Any) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in stored]


def _id_range_lists(ranges: Sequence[tuple[int, int]]) -> list[list[int]]:
    return [list(r) for r in ranges]


#: What an object counts is kept with its state (``bad`` or ``good`` once counted), so a late
#: stage can take it back. Every other field is the column of its name (``key`` is ``key_hash``).
LAG_OBJECTS = RowMap(
    LagObject,
    sla_lag_objects,
    fields={
        "key": Stored("key_hash"),
        "counted": Composite(
            ("state", "counted_slice", "counted_minute_unix_nano", "counted_amount"),
            _counted,
            _counted_columns,
        ),
    },
)
DEFINITIONS = RowMap(
    Definition,
    sla_definitions,
    fields={
        "spans_todo": JsonOf(_id_ranges, _id_range_lists),
        "points_todo": JsonOf(_id_ranges, _id_range_lists),
    },
)


class SqlStateStore:
    """State in the Vitals store; every method is one short transaction."""

    def __init__(
        self,
        engine: Engine,
        *,
        prune_batch_rows: int = 2000,
        prune_budget_s: float = 5.0,
        pause: Callable[[float], object] = time.sleep,
    ) -> None:
        self.engine = engine
        #: rows per retention transaction, and the time one retention pass may take
        self.prune_batch_rows = prune_batch_rows
        self.prune_budget_s = prune_budget_s
        self.pause = pause
        self._ensure_cursors()

    def _insert(self, conn: Connection, table: Any) -> Any:
        return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)

    def _ensure_cursors(self) -> None:
        with self.engine.begin() as conn:
            stmt = self._insert(conn, sla_cursors).on_conflict_do_nothing(index_elements=["source"])
            conn.execute(
                stmt,
                [
                    {"source": s, "watermark": 0, "seen": [], "generation": 0, "updated_at_unix_nano": 0}
                    for s in SOURCES
                ],
            )

    def load_meta(self) -> Meta:
        with self.engine.connect() as conn:
            cursors_rows = conn.execute(select(sla_cursors)).mappings().all()
            definitions = [DEFINITIONS.load(row) for row in conn.execute(DEFINITIONS.select())]
        generation = 0
        cursors: dict[str, Cursor] = {s: Cursor() for s in SOURCES}
        for row in cursors_rows:
            cursors[row["source"]] = Cursor.from_json(int(row["watermark"]), row["seen"])
            if row["source"] == "spans":
                generation = int(row["generation"])
        return Meta(generation, cursors, {d.sla_id: d for d in definitions})

    def load_series(
        self, since_minute: Mapping[str, int], max_span: Mapping[str, int]
    ) -> dict[str, dict[str, MinuteSeries]]:
        out: dict[str, dict[str, MinuteSeries]] = {sla_id: {} for sla_id in since_minute}
        with self.engine.connect() as conn:
            for row in conn.execute(
                select(sla_series).where(sla_series.c.sla_id.in_(list(since_minute)))
            ).mappings():
                out[row["sla_id"]][row["slice"]] = MinuteSeries(
                    labels=dict(row["labels"] or {}),
                    first_minute=int(row["first_minute_unix_nano"]) // MINUTE_NS,
                    max_span=max_span[row["sla_id"]],
                )
            for sla_id, since in since_minute.items():
                query = (
                    select(
                        sla_minutes.c.slice,
                        sla_minutes.c.minute_unix_nano,
                        sla_minutes.c.events,
                        sla_minutes.c.bad,
                        sla_minutes.c.bad_amount,
                    )
                    .where(
                        sla_minutes.c.sla_id == sla_id, sla_minutes.c.minute_unix_nano >= since * MINUTE_NS
                    )
                    .order_by(sla_minutes.c.slice, sla_minutes.c.minute_unix_nano)
                )
                for slice_key, minute_ns, events, bad, amount in conn.execute(query):
                    series = out[sla_id].get(slice_key)
                    if series is None:
                        series = out[sla_id][slice_key] = MinuteSeries(max_span=max_span[sla_id])
                    series.add(int(minute_ns) // MINUTE_NS, int(events), int(bad), float(amount))
        return out

    def load_objects(self, sla_id: str, keys: Sequence[str]) -> dict[str, LagObject]:
        out: dict[str, LagObject] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                query = LAG_OBJECTS.select().where(
                    sla_lag_objects.c.sla_id == sla_id, sla_lag_objects.c.key_hash.in_(chunk)
                )
                for row in conn.execute(query):
                    obj = LAG_OBJECTS.load(row)
                    out[obj.key] = obj
        return out

    def due_objects(self, now_ns: int, limit: int) -> list[LagObject]:
        query = (
            LAG_OBJECTS.select()
            .where(sla_lag_objects.c.state == "pending", sla_lag_objects.c.deadline_unix_nano <= now_ns)
            .order_by(sla_lag_objects.c.deadline_unix_nano)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [LAG_OBJECTS.load(row) for row in conn.execute(query)]

    def commit(self, change: Commit) -> int | None:
        with self.engine.begin() as conn:
            spans_cursor = change.cursors["spans"]
            result = conn.execute(
                update(sla_cursors)
                .where(sla_cursors.c.source == "spans", sla_cursors.c.generation == change.generation)
                .values(
                    generation=change.generation + 1,
                    watermark=spans_cursor.watermark,
                    seen=spans_cursor.seen_json(),
                    updated_at_unix_nano=change.now_ns,
                )
            )
            if result.rowcount != 1:
                conn.rollback()
                return None
            points_cursor = change.cursors["metric_points"]
            conn.execute(
                update(sla_cursors)
                .where(sla_cursors.c.source == "metric_points")
                .values(
                    watermark=points_cursor.watermark,
                    seen=points_cursor.seen_json(),
                    updated_at_unix_nano=change.now_ns,
                )
            )
            for sla_id in [*change.reset, *change.removed]:
                for table in (sla_minutes, sla_series, sla_lag_objects):
                    conn.execute(delete(table).where(table.c.sla_id == sla_id))
            if change.removed:
                conn.execute(delete(sla_definitions).where(sla_definitions.c.sla_id.in_(change.removed)))
            if change.definitions:
                stmt = self._insert(conn, sla_definitions).values(DEFINITIONS.binds)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["sla_id"],
                    set_={c: stmt.excluded[c] for c in DEFINITIONS.binds if c != "sla_id"},
                )
                conn.execute(stmt, [DEFINITIONS.params(d) for d in change.definitions])
            if change.series:
                stmt = self._insert(conn, sla_series)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["sla_id", "slice"],
                    set_={
                        "first_minute_unix_nano": _least(
                            conn, sla_series.c.first_minute_unix_nano, stmt.excluded.first_minute_unix_nano
                        )
                    },
                )
                conn.execute(
                    stmt,
                    [
                        {
                            "sla_id": sla_id,
                            "slice": key,
                            "labels": labels,
                            "first_minute_unix_nano": minute * MINUTE_NS,
                        }
                        for (sla_id, key), (labels, minute) in sorted(change.series.items())
                    ],
                )
            if change.deltas:
                stmt = self._insert(conn, sla_minutes)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["sla_id", "slice", "minute_unix_nano"],
                    set_={
                        "events": sla_minutes.c.events + stmt.excluded.events,
                        "bad": sla_minutes.c.bad + stmt.excluded.bad,
                        "bad_amount": sla_minutes.c.bad_amount + stmt.excluded.bad_amount,
                    },
                )
                conn.execute(
                    stmt,
                    [
                        {
                            "sla_id": s,
                            "slice": k,
                            "minute_unix_nano": m * MINUTE_NS,
                            "events": e,
                            "bad": b,
                            "bad_amount": a,
                        }
                        for (s, k, m), (e, b, a) in sorted(change.deltas.items())
                    ],
                )
            if change.objects:
                stmt = self._insert(conn, sla_lag_objects).values(LAG_OBJECTS.binds)
                columns = [c for c in LAG_OBJECTS.binds if c not in ("sla_id", "key_hash")]
                stmt = stmt.on_conflict_do_update(
                    index_elements=["sla_id", "key_hash"], set_={c: stmt.excluded[c] for c in columns}
                )
                rows = [
                    LAG_OBJECTS.params(
                        o.obj, deadline_unix_nano=o.deadline_ns, expires_unix_nano=o.expires_ns
                    )
                    for o in sorted(change.objects, key=lambda o: (o.obj.sla_id, o.obj.key))
                ]
                conn.execute(stmt, rows)
        return change.generation + 1

    def write_evaluations(self, evaluations: Sequence[Evaluation]) -> None:
        if not evaluations:
            return
        with self.engine.begin() as conn:
            conn.execute(sla_evaluations.insert(), [evaluation_row(ev) for ev in evaluations])

    def prune(self, now_ns: int, minutes_before_ns: int, evaluations_before_ns: int) -> PruneReport:
        return prune(
            self.engine,
            now_ns,
            minutes_before_ns,
            evaluations_before_ns,
            batch_rows=self.prune_batch_rows,
            budget_s=self.prune_budget_s,
            pause=self.pause,
        )


def _least(conn: Connection, a: Any, b: Any) -> Any:
    from sqlalchemy import func

    return func.least(a, b) if conn.dialect.name == "postgresql" else func.min(a, b)


class MemoryStateStore:
    """Dictionaries standing in for the tables, with the same optimistic commit."""

    def __init__(self) -> None:
        self.generation = 0
        self.cursors: dict[str, Cursor] = {s: Cursor() for s in SOURCES}
        self.definitions: dict[str, Definition] = {}
        self.series: dict[tuple[str, str], tuple[dict[str, str], int]] = {}
        self.minutes: dict[tuple[str, str, int], tuple[int, int, float]] = {}
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.evaluations: list[Evaluation] = []

    def load_meta(self) -> Meta:
        return Meta(self.generation, dict(self.cursors), copy.deepcopy(self.definitions))

    def load_series(
        self, since_minute: Mapping[str, int], max_span: Mapping[str, int]
    ) -> dict[str, dict[str, MinuteSeries]]:
        out: dict[str, dict[str, MinuteSeries]] = {sla_id: {} for sla_id in since_minute}
        for (sla_id, key), (labels, first) in self.series.items():
            if sla_id in out:
                out[sla_id][key] = MinuteSeries(
                    labels=dict(labels), first_minute=first, max_span=max_span[sla_id]
                )
        for (sla_id, key, minute), (events, bad, amount) in sorted(self.minutes.items()):
            if sla_id in out and minute >= since_minute[sla_id]:
                series = out[sla_id].setdefault(key, MinuteSeries(max_span=max_span[sla_id]))
                series.add(minute, events, bad, amount)
        return out

    def load_objects(self, sla_id: str, keys: Sequence[str]) -> dict[str, LagObject]:
        return {key: self.objects[(sla_id, key)].obj for key in keys if (sla_id, key) in self.objects}

    def due_objects(self, now_ns: int, limit: int) -> list[LagObject]:
        due = [
            s
            for s in self.objects.values()
            if s.obj.state == "pending" and s.deadline_ns is not None and s.deadline_ns <= now_ns
        ]
        return [s.obj for s in sorted(due, key=lambda s: s.deadline_ns or 0)[:limit]]

    def commit(self, change: Commit) -> int | None:
        if change.generation != self.generation:
            return None
        self.generation += 1
        self.cursors = dict(change.cursors)
        for sla_id in [*change.reset, *change.removed]:
            self.minutes = {k: v for k, v in self.minutes.items() if k[0] != sla_id}
            self.series = {k: v for k, v in self.series.items() if k[0] != sla_id}
            self.objects = {k: v for k, v in self.objects.items() if k[0] != sla_id}
        for sla_id in change.removed:
            self.definitions.pop(sla_id, None)
        for d in change.definitions:
            self.definitions[d.sla_id] = copy.deepcopy(d)
        for series_key, (labels, minute) in change.series.items():
            known = self.series.get(series_key)
            self.series[series_key] = (known[0], min(known[1], minute)) if known else (dict(labels), minute)
        for key, (events, bad, amount) in change.deltas.items():
            prev = self.minutes.get(key, (0, 0, 0.0))
            self.minutes[key] = (prev[0] + events, prev[1] + bad, prev[2] + amount)
        for stored in change.objects:
            self.objects[(stored.obj.sla_id, stored.obj.key)] = stored
        return self.generation

    def write_evaluations(self, evaluations: Sequence[Evaluation]) -> None:
        self.evaluations.extend(evaluations)

    def prune(self, now_ns: int, minutes_before_ns: int, evaluations_before_ns: int) -> PruneReport:
        report = PruneReport()
        kept = {k: v for k, v in self.objects.items() if v.expires_ns is None or v.expires_ns >= now_ns}
        report.lag_objects = len(self.objects) - len(kept)
        self.objects = kept
        minutes = {k: v for k, v in self.minutes.items() if k[2] * MINUTE_NS >= minutes_before_ns}
        report.minutes = len(self.minutes) - len(minutes)
        self.minutes = minutes
        delete_before = min(minutes_before_ns, evaluations_before_ns)
        evaluations = [e for e in self.evaluations if e.at_unix_nano >= delete_before]
        report.evaluations_deleted = len(self.evaluations) - len(evaluations)
        end = floor_to(evaluations_before_ns)
        marks = [
            Mark(i, e.sla_id, e.slice or "", e.at_unix_nano, e.status, e.breach_started_unix_nano)
            for i, e in enumerate(evaluations)
            if e.at_unix_nano < end
        ]
        doomed = set(thin(marks, {}))
        report.evaluations_thinned = len(doomed)
        self.evaluations = [e for i, e in enumerate(evaluations) if i not in doomed]
        return report

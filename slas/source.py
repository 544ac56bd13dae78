"""Reading telemetry for the SLA engine: only what is new, or a back-fill's share of history.

``TelemetrySource`` is the edge; :class:`SqlTelemetrySource` reads the collector's ``spans`` and
``metric_points`` tables by primary-key ranges (cheap however large the tables grow) and
:class:`MemoryTelemetrySource` serves lists for unit tests.

A span kept by the collector's sampling stands for several received ones: its
``spans.sample_weight`` is read into :attr:`SpanRecord.weight`, which the processor counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Select, and_, false, or_, select, true
from sqlalchemy.engine import Engine

from collector.rows import SPAN_LIFTED_ATTRIBUTES
from collector.tables import metric_points, spans
from slas.records import PointRecord, SpanRecord, stored_attributes
from slas.spec import Selector
from vitals.kernel.follow import Cursor, read_new

__all__ = [
    "HC_COLUMNS",
    "SPAN_RECORD_COLUMNS",
    "MemoryTelemetrySource",
    "SqlTelemetrySource",
    "TelemetrySource",
]

Ranges = Sequence[tuple[int, int]]  # inclusive


class TelemetrySource(Protocol):
    def read_spans(self, cursor: Cursor, limit: int) -> list[SpanRecord]:
        """Spans new to ``cursor``, lowest ids first."""
        ...

    def read_points(self, cursor: Cursor, limit: int) -> list[PointRecord]: ...

    def read_spans_in(self, ranges: Ranges, limit: int, selectors: Sequence[Selector]) -> list[SpanRecord]:
        """Spans with ids in ``ranges`` that may match one of ``selectors`` (a superset), lowest first."""
        ...

    def read_points_in(self, ranges: Ranges, limit: int, names: set[str]) -> list[PointRecord]: ...

    def span_history(
        self, from_ns: int, to_ns: int, selectors: Sequence[Selector], chunk: int
    ) -> Iterator[list[SpanRecord]]:
        """Spans whose event time is in [from, to) and that may match, in chunks."""
        ...

    def point_history(
        self, from_ns: int, to_ns: int, names: set[str], chunk: int
    ) -> Iterator[list[PointRecord]]: ...


#: The hc.* attributes the collector also stores in columns of ``spans`` (column -> attribute).
HC_COLUMNS = {c: a for c, a in SPAN_LIFTED_ATTRIBUTES.items() if c.startswith("hc_")}
#: The columns a SpanRecord is read from (after its id), in the order ``_span`` expects.
SPAN_RECORD_COLUMNS = [
    spans.c.name,
    spans.c.service_name,
    spans.c.kind,
    spans.c.status_code,
    spans.c.event_time_unix_nano,
    spans.c.duration_ns,
    spans.c.attributes,
    spans.c.trace_id,
    spans.c.sample_weight,
    *(spans.c[name] for name in HC_COLUMNS),
]
_SPAN_COLUMNS = [spans.c.id, *SPAN_RECORD_COLUMNS]
_POINT_COLUMNS = [
    metric_points.c.id,
    metric_points.c.name,
    metric_points.c.service_name,
    metric_points.c.time_unix_nano,
    metric_points.c.value,
    metric_points.c.attributes,
    metric_points.c.queue,
]


def _span(row: Sequence[Any]) -> SpanRecord:
    attributes = stored_attributes(row[7], row[2], zip(HC_COLUMNS.values(), row[10:], strict=True))
    return SpanRecord(
        row[0],
        row[1],
        row[2],
        str(row[3]).lower(),
        str(row[4]).lower(),
        row[5],
        row[6],
        attributes,
        row[8],
        int(row[9]) if row[9] is not None else 1,  # a sampled span stands for this many
    )


def _point(row: Sequence[Any]) -> PointRecord:
    attributes = stored_attributes(row[5], row[2], [("queue", row[6])])
    return PointRecord(row[0], row[1], row[2], row[3], row[4], attributes)


def _range_clause(column: Any, ranges: Ranges) -> Any:
    parts = [column.between(low, high) for low, high in ranges]
    return or_(*parts) if parts else false()


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _values_clause(column: Any, patterns: Sequence[str]) -> Any:
    exact = [p for p in patterns if not re.search(r"[*?\[]", p)]
    globs = [p for p in patterns if re.search(r"[*?]", p) and "[" not in p]
    if len(exact) + len(globs) != len(patterns):
        return true()  # character classes: let Python decide
    parts = [column.in_(exact)] if exact else []
    parts += [column.like(_like(p), escape="\\") for p in globs]
    return or_(*parts)


def selector_prefilter(selectors: Sequence[Selector]) -> Any:
    """A SQL condition every span matching one of ``selectors`` meets (it may admit more)."""
    if not selectors:
        return true()
    alternatives = []
    for selector in selectors:
        parts = []
        for field_name, column in (
            ("span", spans.c.name),
            ("service", spans.c.service_name),
            ("stage", spans.c.hc_stage),
            ("workflow", spans.c.hc_workflow),
            ("system", spans.c.hc_system),
            ("message_type", spans.c.hc_message_type),
        ):
            patterns = getattr(selector, field_name)
            if patterns is not None:
                parts.append(_values_clause(column, patterns))
        if selector.status == "error":
            parts.append(spans.c.status_code == "error")
        if not parts:
            return true()
        alternatives.append(and_(*parts))
    return or_(*alternatives)


class SqlTelemetrySource:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _spans(self, query: Select[Any]) -> list[SpanRecord]:
        with self.engine.connect() as conn:
            return [_span(row) for row in conn.execute(query)]

    def _points(self, query: Select[Any]) -> list[PointRecord]:
        with self.engine.connect() as conn:
            return [_point(row) for row in conn.execute(query)]

    def read_spans(self, cursor: Cursor, limit: int) -> list[SpanRecord]:
        with self.engine.connect() as conn:
            new = read_new(conn, select(*_SPAN_COLUMNS), spans.c.id, cursor, limit)
        return [_span(row) for row in new.rows]

    def read_points(self, cursor: Cursor, limit: int) -> list[PointRecord]:
        with self.engine.connect() as conn:
            new = read_new(conn, select(*_POINT_COLUMNS), metric_points.c.id, cursor, limit)
        return [_point(row) for row in new.rows]

    def read_spans_in(self, ranges: Ranges, limit: int, selectors: Sequence[Selector]) -> list[SpanRecord]:
        query = select(*_SPAN_COLUMNS).where(_range_clause(spans.c.id, ranges), selector_prefilter(selectors))
        return self._spans(query.order_by(spans.c.id).limit(limit))

    def read_points_in(self, ranges: Ranges, limit: int, names: set[str]) -> list[PointRecord]:
        query = select(*_POINT_COLUMNS).where(
            _range_clause(metric_points.c.id, ranges), metric_points.c.name.in_(sorted(names))
        )
        return self._points(query.order_by(metric_points.c.id).limit(limit))

    def span_history(
        self, from_ns: int, to_ns: int, selectors: Sequence[Selector], chunk: int
    ) -> Iterator[list[SpanRecord]]:
        after = 0
        while True:
            query = (
                select(*_SPAN_COLUMNS)
                .where(
                    spans.c.id > after,
                    spans.c.event_time_unix_nano >= from_ns,
                    spans.c.event_time_unix_nano < to_ns,
                    selector_prefilter(selectors),
                )
                .order_by(spans.c.id)
                .limit(chunk)
            )
            rows = self._spans(query)
            if not rows:
                return
            yield rows
            after = rows[-1].id

    def point_history(
        self, from_ns: int, to_ns: int, names: set[str], chunk: int
    ) -> Iterator[list[PointRecord]]:
        after = 0
        while names:
            query = (
                select(*_POINT_COLUMNS)
                .where(
                    metric_points.c.id > after,
                    metric_points.c.name.in_(sorted(names)),
                    metric_points.c.time_unix_nano >= from_ns,
                    metric_points.c.time_unix_nano < to_ns,
                )
                .order_by(metric_points.c.id)
                .limit(chunk)
            )
            rows = self._points(query)
            if not rows:
                return
            yield rows
            after = rows[-1].id


def _in_ranges(value: int, ranges: Ranges) -> bool:
    return any(low <= value <= high for low, high in ranges)


class MemoryTelemetrySource:
    """Lists of records; ``visible`` lets a test hide ids to play an uncommitted transaction."""

    def __init__(
        self, span_records: Iterable[SpanRecord] = (), point_records: Iterable[PointRecord] = ()
    ) -> None:
        self.spans: list[SpanRecord] = list(span_records)
        self.points: list[PointRecord] = list(point_records)
        self.hidden: set[int] = set()

    def add_spans(self, records: Iterable[SpanRecord]) -> None:
        self.spans.extend(records)

    def add_points(self, records: Iterable[PointRecord]) -> None:
        self.points.extend(records)

    def _visible_spans(self) -> list[SpanRecord]:
        return sorted((s for s in self.spans if s.id not in self.hidden), key=lambda s: s.id)

    def read_spans(self, cursor: Cursor, limit: int) -> list[SpanRecord]:
        return [s for s in self._visible_spans() if cursor.is_new(s.id)][:limit]

    def read_points(self, cursor: Cursor, limit: int) -> list[PointRecord]:
        return sorted((p for p in self.points if cursor.is_new(p.id)), key=lambda p: p.id)[:limit]

    def read_spans_in(self, ranges: Ranges, limit: int, selectors: Sequence[Selector]) -> list[SpanRecord]:
        return [s for s in self._visible_spans() if _in_ranges(s.id, ranges)][:limit]

    def read_points_in(self, ranges: Ranges, limit: int, names: set[str]) -> list[PointRecord]:
        return sorted(
            (p for p in self.points if p.name in names and _in_ranges(p.id, ranges)), key=lambda p: p.id
        )[:limit]

    def span_history(
        self, from_ns: int, to_ns: int, selectors: Sequence[Selector], chunk: int
    ) -> Iterator[list[SpanRecord]]:
        rows = [s for s in self._visible_spans() if from_ns <= s.event_time_ns < to_ns]
        for start in range(0, len(rows), chunk):
            yield rows[start : start + chunk]

    def point_history(
        self, from_ns: int, to_ns: int, names: set[str], chunk: int
    ) -> Iterator[list[PointRecord]]:
        rows = sorted(
            (p for p in self.points if p.name in names and from_ns <= p.time_ns < to_ns), key=lambda p: p.id
        )
        for start in range(0, len(rows), chunk):
            yield rows[start : start + chunk]


def attributes_of(record: SpanRecord | PointRecord) -> Mapping[str, Any]:
    return record.attributes

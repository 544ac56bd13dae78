"""Stuck detection for queue gauges that engines push over OTLP.

Pollers compute ``queue.stuck`` from their own samples; gauges pushed by an engine (the demo's
simulated estate, an OpenTelemetry Collector) reach the store without a poller. This job reads
the new ``queue.depth`` / ``queue.consumers`` / ``queue.deliver_rate`` / ``queue.oldest_age_seconds``
points (following ``metric_points`` by id with ``vitals.kernel.follow``), keeps a short history
per series, and writes ``queue.stuck`` next to each depth point with the same attributes and
service. Series that push their own ``queue.stuck`` are left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.queues import names
from collector.queues.config import OtlpStuckJob
from collector.queues.points import SCOPE_NAME, point_row
from collector.queues.stuck import StuckPoint, is_stuck, prune
from collector.tables import metric_points as mp
from vitals.kernel.follow import Cursor, default_horizon_s, first_id_since, read_new
from vitals.kernel.runtime import MetricPointWriter
from vitals.kernel.units import NS

log = logging.getLogger(__name__)

READ_NAMES = (names.DEPTH, names.CONSUMERS, names.DELIVER_RATE, names.OLDEST_AGE, names.STUCK)


@dataclass(frozen=True)
class PushedPoint:
    id: int
    name: str
    service: str
    attributes: dict[str, Any]
    time_ns: int
    value: float


class PointReader(Protocol):
    """The ``metric_points`` table, followed by id."""

    #: How long an unread id below read ones is awaited (see ``vitals.kernel.follow``).
    horizon_ns: int

    def first_id_since(self, start_ns: int) -> int: ...

    def read_new(self, cursor: Cursor, limit: int) -> tuple[list[PushedPoint], tuple[int, ...]]:
        """The engine-pushed gauges among up to ``limit`` points new to ``cursor``, and every id read."""
        ...


SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class _Series:
    history: list[StuckPoint]
    consumers: float | None = None
    deliver_rate: float | None = None
    oldest_age: float | None = None
    pushes_stuck: bool = False


class PushedStuck:
    """Pure-ish state machine: points in, ``queue.stuck`` rows out (no I/O)."""

    def __init__(self, stuck_after_s: float) -> None:
        self.stuck_after_s = stuck_after_s
        self._series: dict[SeriesKey, _Series] = {}

    def add(self, points: Sequence[PushedPoint]) -> list[dict[str, Any]]:
        rows = []
        # Same timestamp: consumers, rates and age first, so the depth point sees its own sample.
        for point in sorted(points, key=lambda p: (p.time_ns, p.name == names.DEPTH)):
            if names.ATTR_POLLER in point.attributes:
                continue  # a poller already computes stuck for its own samples
            key = (point.service, tuple(sorted((k, str(v)) for k, v in point.attributes.items())))
            series = self._series.setdefault(key, _Series([]))
            if point.name == names.STUCK:
                series.pushes_stuck = True
            elif point.name == names.CONSUMERS:
                series.consumers = point.value
            elif point.name == names.DELIVER_RATE:
                series.deliver_rate = point.value
            elif point.name == names.OLDEST_AGE:
                series.oldest_age = point.value
            elif point.name == names.DEPTH:
                t = point.time_ns / NS
                sample = StuckPoint(t, point.value, series.consumers, series.deliver_rate, series.oldest_age)
                series.history = prune([*series.history, sample], t, self.stuck_after_s)
                if series.pushes_stuck:
                    continue
                stuck = is_stuck(series.history, t, self.stuck_after_s)
                rows.append(point_row(names.STUCK, float(stuck), t, point.attributes, service=point.service))
        return rows


class SqlPointReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.horizon_ns = int(default_horizon_s(engine) * NS)

    def first_id_since(self, start_ns: int) -> int:
        with self.engine.connect() as conn:
            return first_id_since(conn, mp.c.id, mp.c.name == names.DEPTH, mp.c.time_unix_nano >= start_ns)

    def read_new(self, cursor: Cursor, limit: int) -> tuple[list[PushedPoint], tuple[int, ...]]:
        query = select(
            mp.c.id,
            mp.c.name,
            mp.c.service_name,
            mp.c.attributes,
            mp.c.time_unix_nano,
            mp.c.value,
            mp.c.scope_name,
        )
        with self.engine.connect() as conn:
            new = read_new(conn, query, mp.c.id, cursor, limit, where=mp.c.name.in_(READ_NAMES))
        points = []
        for row in new.rows:
            attrs = (
                row.attributes if isinstance(row.attributes, dict) else orjson.loads(row.attributes or "{}")
            )
            if row.value is None or row.scope_name == SCOPE_NAME:
                continue  # rows Vitals derived itself (its own queue.stuck) are not engine input
            points.append(
                PushedPoint(
                    int(row.id), row.name, row.service_name, attrs, int(row.time_unix_nano), float(row.value)
                )
            )
        return points, new.ids


class PushedStuckJob:
    def __init__(
        self,
        config: OtlpStuckJob,
        reader: PointReader,
        write: MetricPointWriter,
        *,
        clock: Callable[[], float] = time.time,
        batch_size: int = 5000,
        max_batches: int = 50,
    ) -> None:
        self.config = config
        self.reader = reader
        self.write = write
        self.clock = clock
        self.batch_size = batch_size
        self.max_batches = max_batches
        self.state = PushedStuck(config.stuck_after)
        self.cursor: Cursor | None = None
        self._carry: list[PushedPoint] = []
        self.caught_up = False

    def drain(self) -> int:
        """Run until every stored gauge is read (on a graceful stop, so a restart leaves no gap)."""
        written = self.run()
        while not self.caught_up:
            written += self.run()
        return written

    def run(self) -> int:
        now_ns = int(self.clock() * NS)
        if self.cursor is None:
            self.cursor = Cursor(self.reader.first_id_since(now_ns - int(self.config.lookback * NS)))
        written = 0
        for _ in range(self.max_batches):
            points, ids = self.reader.read_new(self.cursor, self.batch_size)
            self.cursor = self.cursor.after_read(ids, now_ns, self.reader.horizon_ns)
            caught_up = len(ids) < self.batch_size
            points = [*self._carry, *points]
            self._carry = []
            if not caught_up and points:
                # The rest of the newest timestamp's gauges may be in the next batch: wait for them.
                newest = max(p.time_ns for p in points)
                self._carry = [p for p in points if p.time_ns == newest]
                points = [p for p in points if p.time_ns != newest]
            rows = self.state.add(points)
            if rows:
                self.write(rows)
                written += len(rows)
            if caught_up:
                break
        self.caught_up = caught_up
        return written


__all__ = ["PointReader", "PushedPoint", "PushedStuck", "PushedStuckJob", "SqlPointReader"]

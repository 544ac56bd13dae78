"""Helpers for the queue collector tests: a store writer standing in for the collector's, a clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import pytest
from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from collector.rows import METRIC_COLUMNS, metric_row_tuple
from collector.tables import metric_points


class StoreWriter:
    """Inserts ``metric_points`` rows, keeping the first of duplicate (series_id, time) like the
    collector's durable writer promises (``vitals.kernel.runtime.MetricPointWriter``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        self.calls = 0

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        keys = ["series_id", "time_unix_nano"]
        statement: Insert
        if self.engine.dialect.name == "postgresql":
            statement = postgresql.insert(metric_points).on_conflict_do_nothing(index_elements=keys)
        else:
            statement = sqlite.insert(metric_points).on_conflict_do_nothing(index_elements=keys)
        with self.lock, self.engine.begin() as conn:
            # As the collector's writer does: every default filled in, series_id recomputed.
            complete = [dict(zip(METRIC_COLUMNS, metric_row_tuple(r), strict=True)) for r in rows]
            conn.execute(statement, complete)
            self.calls += 1


def stored(engine: Engine, name: str, **attributes: str) -> list[dict[str, Any]]:
    """Stored points of ``name`` whose attributes include ``attributes``, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(metric_points).where(metric_points.c.name == name).order_by(metric_points.c.time_unix_nano)
        ).all()
    out = []
    for row in rows:
        data = dict(row._mapping)
        attrs = data["attributes"]
        data["attributes"] = orjson.loads(attrs) if isinstance(attrs, str) else attrs
        if all(data["attributes"].get(k) == v for k, v in attributes.items()):
            out.append(data)
    return out


class ManualClock:
    """A clock the test moves; starts at the real time (whole seconds, like AMQP timestamps) so
    brokers' own timestamps line up."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time())) if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with its last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s (last value: {last!r})")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()

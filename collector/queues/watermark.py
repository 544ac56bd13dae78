"""Reading a growing telemetry table after a watermark: its ingestion-order ``id``.

The trace-latency and pushed-stuck jobs both remember the highest ``id`` they have read and
read on from there in batches. Each batch is bounded by the table's highest id at the time it
is read, so a batch that comes back short means "caught up" even while the collector keeps
writing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, select
from sqlalchemy.engine import Engine

__all__ = ["first_id_since", "rows_after"]


def first_id_since(engine: Engine, id_column: ColumnElement[Any], *since: ColumnElement[bool]) -> int:
    """A watermark just before the first row that meets ``since``; the newest id when none does."""
    with engine.connect() as conn:
        first = conn.execute(select(func.min(id_column)).where(*since)).scalar()
        if first is None:
            return int(conn.execute(select(func.max(id_column))).scalar() or 0)
    return int(first) - 1


def rows_after(
    engine: Engine, query: Select[Any], id_column: ColumnElement[Any], after_id: int, limit: int
) -> tuple[Sequence[Row[Any]], int, bool]:
    """Up to ``limit`` rows of ``query`` with ``id > after_id`` in id order; the new watermark;
    whether caught up. ``query`` must select ``id_column`` as ``id``."""
    with engine.connect() as conn:
        high = conn.execute(select(func.max(id_column))).scalar()
        if high is None or high <= after_id:
            return [], after_id, True
        rows = conn.execute(
            query.where(id_column > after_id, id_column <= high).order_by(id_column).limit(limit)
        ).all()
    caught_up = len(rows) < limit
    return rows, int(high) if caught_up else int(rows[-1].id), caught_up

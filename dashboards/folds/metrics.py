"""The metrics family: ``queue.*`` samples per minute and hour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from collector.tables import metric_points
from dashboards.folds import RESOLUTIONS, upsert
from dashboards.sqlexpr import blank, bucket
from dashboards.tables import metric_rollups

SIGNATURE = "metrics-v1"


def fold(conn: Connection, lo: int, hi: int) -> Callable[[Connection], None]:
    rows: list[dict[str, Any]] = []
    queue = blank(metric_points.c.queue)
    for res in RESOLUTIONS:
        b = bucket(metric_points.c.time_unix_nano, res)
        q = (
            select(
                b.label("bucket"),
                metric_points.c.name,
                queue.label("queue"),
                func.count().label("n"),
                func.sum(metric_points.c.value).label("total"),
                func.min(metric_points.c.value).label("low"),
                func.max(metric_points.c.value).label("high"),
            )
            .where(
                metric_points.c.id > lo,
                metric_points.c.id <= hi,
                metric_points.c.name.like("queue.%"),
                metric_points.c.value.is_not(None),
            )
            .group_by(b, metric_points.c.name, queue)
        )
        rows += [
            {
                "resolution": res,
                "bucket": int(r.bucket),
                "name": r.name,
                "queue": r.queue,
                "samples": int(r.n),
                "value_sum": float(r.total),
                "value_min": float(r.low),
                "value_max": float(r.high),
            }
            for r in conn.execute(q)
        ]

    def write(wconn: Connection) -> None:
        upsert(
            wconn, metric_rollups, rows, add=("samples", "value_sum"), high=("value_max",), low=("value_min",)
        )

    return write

"""Is there data, and is it fresh? The banners every page shows come from here.

All of it from primary keys and indexes: the newest ``spans`` row by id, the newest evaluation
by its time index (``slas.history``), the rollup state rows. Nothing here grows with the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.tables import metric_points, spans
from dashboards.tables import rollup_state
from slas import newest_evaluation_ns
from vitals.kernel.units import NS


@dataclass(frozen=True)
class StoreStatus:
    now_ns: int
    newest_span_id: int  # 0: no telemetry at all
    newest_span_received_ns: int | None
    newest_metric_received_ns: int | None
    newest_evaluation_ns: int | None
    rollup_watermarks: dict[str, int]
    rollup_targets: dict[str, int]
    rollup_updated_ns: int | None

    @property
    def has_telemetry(self) -> bool:
        return self.newest_span_id > 0 or self.newest_metric_received_ns is not None

    @property
    def telemetry_age_s(self) -> float | None:
        newest = max(
            (t for t in (self.newest_span_received_ns, self.newest_metric_received_ns) if t is not None),
            default=None,
        )
        return None if newest is None else (self.now_ns - newest) / NS

    @property
    def evaluation_age_s(self) -> float | None:
        return None if self.newest_evaluation_ns is None else (self.now_ns - self.newest_evaluation_ns) / NS

    @property
    def rollup_behind(self) -> int:
        """Source rows not yet folded into the rollups (all families)."""
        return sum(
            max(0, target - self.rollup_watermarks.get(family, 0))
            for family, target in self.rollup_targets.items()
        )


def store_status(engine: Engine, now_ns: int) -> StoreStatus:
    with engine.connect() as conn:
        newest_span = conn.execute(
            select(spans.c.id, spans.c.received_at_unix_nano).order_by(spans.c.id.desc()).limit(1)
        ).first()
        newest_metric = conn.execute(
            select(metric_points.c.id, metric_points.c.received_at_unix_nano)
            .order_by(metric_points.c.id.desc())
            .limit(1)
        ).first()
        states = conn.execute(select(rollup_state)).all()
    newest_eval = newest_evaluation_ns(engine)
    targets = {
        "spans": int(newest_span.id) if newest_span else 0,
        "metrics": int(newest_metric.id) if newest_metric else 0,
    }
    return StoreStatus(
        now_ns=now_ns,
        newest_span_id=targets["spans"],
        newest_span_received_ns=int(newest_span.received_at_unix_nano) if newest_span else None,
        newest_metric_received_ns=int(newest_metric.received_at_unix_nano) if newest_metric else None,
        newest_evaluation_ns=newest_eval,
        rollup_watermarks={s.family: int(s.watermark) for s in states},
        rollup_targets=targets,
        rollup_updated_ns=max((int(s.updated_at_unix_nano) for s in states), default=None),
    )

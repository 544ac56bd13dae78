"""The SLA engine's stored evaluations as the pages chart them (``slas.history`` reads them).

The engine writes one row per SLA and slice every tick (every 30 s by default), so a month holds
millions of rows. Time series are therefore *sampled*: for each chart point the last evaluation
at or before it, which ``slas.history.sampled_evaluations`` finds by index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from slas import sampled_evaluations


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
    samples = sampled_evaluations(engine, [(k.sla_id, k.slice) for k in keys], times_ns, step_ns)
    # A sample's fields are the columns, in order.
    return pd.DataFrame.from_records(samples, columns=SERIES_COLUMNS)


def sample_times(start_ns: int, end_ns: int, points: int) -> tuple[list[int], int]:
    """``points`` evenly spaced instants ending at ``end_ns``, and the step between them."""
    points = max(2, points)
    step = max(1, (end_ns - start_ns) // points)
    return [end_ns - i * step for i in range(points - 1, -1, -1)], step

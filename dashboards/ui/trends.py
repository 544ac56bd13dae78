"""An SLA's SLI and error budget over a range, for the SLA page's charts and the tiles' sparklines.

From the SLA engine's per-minute rollups whenever it has the SLA registered as configured (the
numbers it would report at each instant); otherwise, say while it is still back-filling a new
SLA, from the evaluations it stored, with the reason beside the chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from dashboards.catalog import Catalog
from dashboards.queries.evaluations import SeriesKey
from dashboards.ui import cached


@dataclass(frozen=True)
class Trend:
    times_ns: tuple[int, ...]
    sli: tuple[float | None, ...]
    budget_remaining: tuple[float | None, ...]
    source: Literal["rollups", "evaluations"]
    note: str | None = None  # why the stored evaluations were used

    @property
    def empty(self) -> bool:
        return not self.times_ns

    def caption(self) -> str:
        if self.source == "rollups":
            return (
                f"Evaluated at {len(self.times_ns)} instants from the SLA engine's per-minute rollups, "
                "as the engine would report them (`vitals sla report --at`)."
            )
        return f"From the evaluations the SLA engine stored: {self.note}."


def _optional(value: float | None) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def trend(url: str, catalog: Catalog, key: SeriesKey, *, start_ns: int, end_ns: int, points: int) -> Trend:
    """``key``'s SLI and budget at up to ``points`` instants from ``start`` to ``end``."""
    sla_id, slice_ = key.sla_id, key.slice
    definition = catalog.definition(sla_id)
    if definition is not None:
        found = cached.sla_history(url, definition, slice_, start_ns=start_ns, end_ns=end_ns, points=points)
        if found.usable:
            return Trend(
                tuple(p.at_ns for p in found.points),
                tuple(p.sli for p in found.points),
                tuple(p.budget_remaining for p in found.points),
                "rollups",
            )
        note = found.reason
    else:
        note = f"{sla_id} is not in the SLA files the dashboard reads"
    frame = cached.evaluation_samples(url, (key,), start_ns, end_ns, points)
    return Trend(
        tuple(int(a) for a in frame["at"]),
        tuple(_optional(v) for v in frame["sli"]),
        tuple(_optional(v) for v in frame["budget_remaining"]),
        "evaluations",
        note,
    )

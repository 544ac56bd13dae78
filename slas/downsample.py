"""Which old SLA evaluations to keep: a year of history at one row per hour, with every turn kept.

The engine writes one ``sla_evaluations`` row per SLA and slice every tick (every 30 s by
default): about a million rows per series a year. Past the full-resolution window
(``evaluation.evaluation_retention``) the history is thinned to what a reader of old ranges uses:

- the **last evaluation of every hour** of each series (``sampled_evaluations`` picks the last
  one at or before an instant, so an hourly chart of an old range reads the same), and
- the **first evaluation of every run**: whenever the status changes, or a new breach starts
  (``breach_started_unix_nano`` differs from the row before), that row stays. So "budget
  exhausted since ..." and the breach history stay true however old the range.

Thinning is idempotent: a row kept once is kept again (its run's start and its hour's last row
stay what they were when rows around them go), so a pass interrupted half way, or run twice over
the same hours, deletes nothing it should keep. Pure functions over plain tuples; the store
(:mod:`slas.store`) reads the rows hour by hour and deletes what :func:`thin` names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import NamedTuple

from vitals.kernel.units import NS

__all__ = ["KEPT_STEP_NS", "Mark", "RunKey", "Series", "floor_to", "last_keys", "thin"]

#: Thinned evaluations keep one row per hour per SLA and slice (plus every turn).
KEPT_STEP_NS = 3600 * NS

#: (sla id, slice) of one evaluation series; slice '' is the SLA as a whole.
Series = tuple[str, str]
#: What starts a run: the status, and the breach it belongs to.
RunKey = tuple[str, int | None]


class Mark(NamedTuple):
    """What thinning needs of one ``sla_evaluations`` row."""

    id: int
    sla_id: str
    slice: str
    at_ns: int
    status: str
    breach_started_ns: int | None

    @property
    def series(self) -> Series:
        return (self.sla_id, self.slice)

    @property
    def key(self) -> RunKey:
        return (self.status, self.breach_started_ns)


def floor_to(value_ns: int, step_ns: int = KEPT_STEP_NS) -> int:
    return value_ns // step_ns * step_ns


def thin(
    rows: Iterable[Mark], previous: Mapping[Series, RunKey | None], step_ns: int = KEPT_STEP_NS
) -> list[int]:
    """Ids of ``rows`` to delete. ``rows`` must be every row of whole ``step_ns`` buckets (the
    store passes one aligned hour at a time); ``previous`` holds the run key of each series' row
    just before them (None or absent: none, so its first row starts a run)."""
    doomed: list[int] = []
    ordered = sorted(rows, key=lambda r: (r.sla_id, r.slice, r.at_ns, r.id))
    for series, group in groupby(ordered, key=lambda r: r.series):
        marks = list(group)
        before = previous.get(series)
        for i, mark in enumerate(marks):
            starts_run = mark.key != before
            before = mark.key
            following = marks[i + 1] if i + 1 < len(marks) else None
            last_of_bucket = following is None or following.at_ns // step_ns != mark.at_ns // step_ns
            if not starts_run and not last_of_bucket:
                doomed.append(mark.id)
    return doomed


def last_keys(rows: Sequence[Mark]) -> dict[Series, RunKey]:
    """The run key of each series' newest row among ``rows`` (what the next bucket follows)."""
    out: dict[Series, tuple[int, int, RunKey]] = {}
    for r in rows:
        known = out.get(r.series)
        if known is None or (r.at_ns, r.id) > known[:2]:
            out[r.series] = (r.at_ns, r.id, r.key)
    return {series: value[2] for series, value in out.items()}

"""How figures write durations, gaps and zones, so a chart reads like the table beside it.

Pure helpers over plain values. A duration axis is laid out in seconds (or ms) and its ticks are
labelled with :func:`dashboards.timerange.format_duration` text ("2h 00m", "45 s"), the format of
every table: never raw seconds on an axis beside "53m 02s" in a table. A missing bucket becomes
``None`` so a line breaks over it instead of drawing straight across a time without data.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from dashboards.timerange import format_duration

#: Tick steps a duration axis may use, in seconds: each a round number in format_duration's units.
DURATION_STEPS: tuple[float, ...] = (
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    2 * 60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
)

#: A gap longer than this many steps between two points breaks the line.
GAP_STEPS = 1.5

X = TypeVar("X", datetime, float, int)


def duration_ticks(
    high_s: float, *, low_s: float = 0.0, ticks: int = 6, scale: float = 1.0
) -> tuple[list[float], list[str]]:
    """Tick positions from ``low_s`` to ``high_s`` on a round step, and their format_duration text
    (the origin as a plain "0").

    ``scale`` is the axis unit per second (1000 for an axis in ms): positions come back in axis
    units, texts are always the duration they stand for.
    """
    span = max(high_s - low_s, 0.0)
    if span <= 0:
        span = max(high_s, 1.0)
    step = next((s for s in DURATION_STEPS if span / s < ticks), DURATION_STEPS[-1])
    # From the step at or below low_s to the first at or above high_s: the whole range is labelled.
    n = int(low_s // step)
    values = [n * step]
    while values[-1] < high_s - step * 1e-9 or len(values) < 2:
        n += 1
        values.append(n * step)
    return [round(v * scale, 9) for v in values], [format_duration(v) if v else "0" for v in values]


def duration_axis(values_s: Sequence[float | None], *, scale: float = 1.0) -> dict[str, object]:
    """Plotly axis settings that label an axis of durations as the tables write them."""
    known = [v for v in values_s if v is not None]
    high = max(known, default=1.0)
    low = min([0.0, *known])
    tickvals, ticktext = duration_ticks(high, low_s=low, scale=scale)
    return {"tickmode": "array", "tickvals": tickvals, "ticktext": ticktext}


def _seconds(delta: timedelta | float) -> float:
    if isinstance(delta, timedelta):
        return delta.total_seconds()
    return float(delta)


def with_gaps(
    xs: Sequence[X], ys: Sequence[float | None], step_s: float | None = None
) -> tuple[list[X | None], list[float | None]]:
    """The points with a ``None`` inserted wherever two neighbours are further apart than a step.

    ``step_s`` is the series' bucket size (seconds, or the x unit for numbers); without it the
    usual spacing of the points is taken. A line then stops at the last bucket with data and
    starts again at the next one, never drawn across an hour without any.
    """
    if len(xs) < 2:
        return list(xs), list(ys)
    diffs = [_seconds(b - a) for a, b in itertools.pairwise(xs)]
    positive = [d for d in diffs if d > 0]
    step = step_s if step_s else (statistics.median(positive) if positive else 0.0)
    if step <= 0:
        return list(xs), list(ys)
    out_x: list[X | None] = [xs[0]]
    out_y: list[float | None] = [ys[0]]
    for x, y, gap in zip(xs[1:], ys[1:], diffs, strict=True):
        if gap > GAP_STEPS * step:
            out_x.append(None)
            out_y.append(None)
        out_x.append(x)
        out_y.append(y)
    return out_x, out_y


def sparse(values: Sequence[float | None]) -> bool:
    """Whether some value has no neighbour to draw a line to (a line alone would hide it)."""
    present = [v is not None for v in values]
    return any(
        here and not (i > 0 and present[i - 1]) and not (i + 1 < len(present) and present[i + 1])
        for i, here in enumerate(present)
    )


def zone_title(xs: Sequence[datetime | None], tz_label: str, what: str = "time") -> str:
    """``time (America/Chicago, CST/CDT)``: the zone's own abbreviations over the points shown.

    A range across a daylight-saving change names both; the abbreviations are those the zone
    writes (tzdata), as every timestamp in the tables. Without zone-aware points: ``tz_label``.
    """
    names = list(dict.fromkeys(x.tzname() for x in xs if x is not None and x.tzname()))
    key = next((getattr(x.tzinfo, "key", None) for x in xs if x is not None and x.tzinfo), None)
    if not names or not key:
        return f"{what} ({tz_label})"
    abbreviations = "/".join(n for n in names if n)
    return f"{what} ({key})" if abbreviations == key else f"{what} ({key}, {abbreviations})"


def time_hover(xs: Sequence[datetime | None]) -> dict[str, str]:
    """x-axis settings so a hover writes the time as the tables do, ``2026-11-24 08:00 CST``.

    Plotly's own hover shows no zone; with one abbreviation over the points shown it is written
    after the time (across a daylight-saving change the axis title names both instead).
    """
    names = list(dict.fromkeys(x.tzname() for x in xs if x is not None and x.tzname()))
    if len(names) != 1 or "%" in (names[0] or ""):
        return {"hoverformat": "%Y-%m-%d %H:%M"}
    return {"hoverformat": f"%Y-%m-%d %H:%M {names[0]}"}

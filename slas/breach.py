"""When the current breach began, read from the per-minute rollups alone.

An alert's "since" must not depend on when an engine first looked: a store back-filled with last
night's telemetry, or an engine restarted in the middle of an incident, must date the breach to the
minute the rollups show it began. So the start is a pure function of the scored minutes (good and
total per minute, as :mod:`slas.scoring` counts them for each SLI kind) and of what fires now.

The definition (docs/explanation/sla-math.md, "When a breach started"):

- the *rule* comes from what fires: the firing tier with the lowest threshold (the slowest burn
  that still fires, so the start covers the whole incident, not only its fastest part), else, when
  only the objective is missed, a threshold of 1;
- a minute is *bad* when its own bad share (bad / total) exceeds budget x threshold; minutes
  without events are neither bad nor good;
- the breach is the latest run of bad minutes in which consecutive bad minutes are at most
  ``max(5, the tier's short window in minutes)`` good or empty minutes apart (60 when only the
  objective is missed: the budget is spent and the events may be sparse), and each stretch
  from one bad minute to the next (the gap included) still burns budget as a whole (its bad share
  is above 1 - objective): a gap bridges an incident's quieter minutes, not scattered background
  errors (with a threshold of 1 and a gap of an hour, minutes holding one stray error each would
  otherwise chain back to the start of the window);
- its start is the run's first bad minute, never earlier than the SLA window's start;
- when only the objective is missed (the budget is spent, nothing burns now), the run with the
  most bad events in the window is the breach, not the latest one: the alert is about the incident
  that spent the budget, not a stray error since.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from slas.budget import error_budget
from slas.model import BurnRate

__all__ = ["MIN_GAP_MINUTES", "SPENT_GAP_MINUTES", "BreachRule", "breach_rule", "breach_start_minute"]

#: A run of bad minutes survives at least this many good or empty minutes in between: a burst of
#: errors rarely fills every minute, and sparse traffic leaves minutes empty.
MIN_GAP_MINUTES = 5
#: The gap a spent budget's breach (no tier firing) bridges: its events may be sparse (a few
#: implants an hour), and the stretch's own bad share keeps scattered errors out.
SPENT_GAP_MINUTES = 60
#: Minutes examined first, looking back from the evaluation minute (quadrupled while the run may
#: reach further back): a short incident costs a short scan whatever the window.
_FIRST_SCAN = 256


@dataclass(frozen=True)
class BreachRule:
    """What makes a minute part of the breach."""

    #: a minute is bad when bad / total is above this (budget x threshold)
    max_bad_share: float
    #: good or empty minutes tolerated between two bad minutes of one run
    max_gap: int
    #: a stretch from one bad minute to the next joins the run only when its bad share is above
    #: this (the error budget: the stretch as a whole still burns faster than the objective allows)
    min_stretch_share: float
    #: the run with the most bad events, not the latest: a spent budget with nothing burning now
    #: is about the incident that spent it, not a stray error since
    dominant: bool = False


def breach_rule(burn_rates: Sequence[BurnRate], objective: float, sli: float | None) -> BreachRule | None:
    """The rule for the breach under way, or None when nothing fires and the objective is met."""
    budget = error_budget(objective)
    firing = [b for b in burn_rates if b.firing]
    if firing:
        tier = min(firing, key=lambda b: b.threshold)
        short_minutes = math.ceil(round(tier.short_window_s / 60, 6))
        return BreachRule(budget * tier.threshold, max(MIN_GAP_MINUTES, short_minutes), budget)
    if sli is not None and sli < objective:
        return BreachRule(budget, SPENT_GAP_MINUTES, budget, dominant=True)
    return None


def breach_start_minute(  # noqa: PLR0917
    lo: int,
    good: Sequence[float] | np.ndarray[Any, Any],
    total: Sequence[float] | np.ndarray[Any, Any],
    rule: BreachRule,
    first: int,
    last: int,
) -> int | None:
    """The first minute of the latest run of bad minutes among minutes ``first..last``.

    ``good[i]`` and ``total[i]`` are minute ``lo + i``. None when no minute in the range is bad.
    The scan starts at ``last`` and widens backwards only while the run may reach further, so its
    cost follows the run's length, and is at most linear in the range.
    """
    good_a = np.asarray(good, dtype=np.float64)
    total_a = np.asarray(total, dtype=np.float64)
    first = max(first, lo)
    last = min(last, lo + total_a.size - 1)
    if last < first:
        return None
    if rule.dominant:
        return _dominant_start(lo, good_a, total_a, rule, first, last)
    span = _FIRST_SCAN
    while True:
        begin = max(first, last - span + 1)
        t = total_a[begin - lo : last - lo + 1]
        g = good_a[begin - lo : last - lo + 1]
        bad_counts = t - g
        bad = np.flatnonzero((t > 0) & (bad_counts > rule.max_bad_share * t))
        if bad.size:
            # Stretch j runs from bad minute j up to the next bad minute: it joins the run when the
            # gap is short enough and the stretch as a whole still burns budget.
            joins = _joins(t, bad_counts, bad, rule)
            breaks = np.flatnonzero(~joins)
            start = int(bad[breaks[-1] + 1] if breaks.size else bad[0])
            # Settled when the run broke inside the scan, the scan reached ``first``, or more good
            # or empty minutes than a gap precede the run's first bad minute within the scan.
            if breaks.size or begin == first or start > rule.max_gap:
                return begin + start
        elif begin == first:
            return None
        span *= 4


def _joins(
    t: np.ndarray[Any, Any], bad_counts: np.ndarray[Any, Any], bad: np.ndarray[Any, Any], rule: BreachRule
) -> np.ndarray[Any, Any]:
    """Whether each bad minute after the first joins the run of the bad minute before it."""
    cum_bad = np.concatenate([[0.0], np.cumsum(bad_counts)])
    cum_total = np.concatenate([[0.0], np.cumsum(t)])
    stretch_bad = cum_bad[bad[1:]] - cum_bad[bad[:-1]]
    stretch_total = cum_total[bad[1:]] - cum_total[bad[:-1]]
    joined: np.ndarray[Any, Any] = (np.diff(bad) <= rule.max_gap + 1) & (
        stretch_bad > rule.min_stretch_share * stretch_total
    )
    return joined


def _dominant_start(  # noqa: PLR0917 - the same arguments as breach_start_minute
    lo: int, good: np.ndarray[Any, Any], total: np.ndarray[Any, Any], rule: BreachRule, first: int, last: int
) -> int | None:
    """The first minute of the run with the most bad events in ``first..last`` (the latest on a tie)."""
    t = total[first - lo : last - lo + 1]
    bad_counts = t - good[first - lo : last - lo + 1]
    bad = np.flatnonzero((t > 0) & (bad_counts > rule.max_bad_share * t))
    if not bad.size:
        return None
    starts = np.concatenate([[0], np.flatnonzero(~_joins(t, bad_counts, bad, rule)) + 1])
    weights = np.add.reduceat(bad_counts[bad], starts)
    best = len(weights) - 1 - int(np.argmax(weights[::-1]))
    return first + int(bad[starts[best]])

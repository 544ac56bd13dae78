"""Read API: whether a feed's silence is news, by the feed's own history.

A freshness SLA with ``expect: history`` counts a minute only when the same local hour of recent
weeks says traffic is expected then (:func:`slas.scoring.expected_hours`). The same rule answers
"is this feed silent?" for any feed (the dashboard's interface silence), so the operations page
and the SLAs cannot disagree on what is normal: this module asks that function, it does not
compute a second expectation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from slas.scoring import HOURS_PER_WEEK, expected_hours
from slas.series import RawMinutes
from slas.spec import SLA, FreshnessSli, HistoryExpectation

__all__ = [
    "MIN_SILENCE_S",
    "FeedExpectation",
    "HistoryExpectation",
    "feed_expectation",
    "history_minutes",
    "history_windows",
]

#: Longest usual gap looked for: a feed whose typical hour holds no message is "not expected".
_GAP_SEARCH_MIN = 180
#: A silence shorter than this is never news, however busy the feed (issue 14): a feed sending
#: every 20 s "expects" three messages in one minute, yet a minute or two of quiet is ordinary
#: jitter, not a stall. A freshness SLA has this floor in its own ``max_age`` (which its author
#: chose); the operations page asks about any silence, so it needs one of its own.
MIN_SILENCE_S = 10 * 60


@dataclass(frozen=True)
class FeedExpectation:
    """What a feed's own history expects now."""

    #: The silence is longer than the feed's history allows at this hour of the week.
    silent: bool
    #: Typical time between messages at this hour (seconds); None: none expected at this hour.
    usual_gap_s: float | None
    #: False while the feed is too young to have a same hour to learn from (the caller decides).
    has_history: bool = True


@functools.lru_cache(maxsize=8)
def _sla(tz: str) -> SLA:
    """A stand-in freshness SLA in ``tz``: expected_hours reads its time zone and SLI only."""
    return SLA.model_validate(
        {
            "id": "feed-silence",
            "title": "An interface feed is not silent longer than its history expects",
            "domain": "integration",
            "owner": "operations",
            "priority": "P4",
            "objective": "99%",
            "window": "7d",
            "time_zone": tz,
            "sli": {"freshness": {"select": {"service": "*"}, "max_age": "1m", "expect": "history"}},
        }
    )


def _spec(sla: SLA, max_age_min: int, history: HistoryExpectation) -> FreshnessSli:
    spec = sla.sli.spec
    assert isinstance(spec, FreshnessSli)
    return spec.model_copy(update={"max_age": float(max_age_min * 60), "history": history})


def history_minutes(history: HistoryExpectation) -> int:
    """Minutes of past counts :func:`feed_expectation` reads before the minute it judges."""
    return history.weeks * HOURS_PER_WEEK * 60 + 60


def history_windows(now_minute: int, history: HistoryExpectation) -> list[tuple[int, int]]:
    """Epoch-minute ranges whose counts :func:`feed_expectation` reads for ``now_minute``.

    The same local hour of the past ``history.weeks`` weeks and of the past seven days (the
    fallbacks of a young store), each widened by two hours for time-zone offsets and DST.
    """
    week, day = HOURS_PER_WEEK * 60, 24 * 60
    back = sorted({week * j for j in range(1, history.weeks + 1)} | {day * j for j in range(1, 8)})
    return [(now_minute - b - 120, now_minute - b + 120) for b in back]


def feed_expectation(  # noqa: PLR0917
    counts: Mapping[int, int],
    first_minute: int | None,
    now_minute: int,
    silence_s: float,
    tz: str,
    history: HistoryExpectation,
) -> FeedExpectation:
    """Judge one feed's silence at ``now_minute`` (epoch minutes) from its messages per minute.

    ``counts`` maps epoch minutes to messages; only the same local hour of past days and weeks
    and the feed's last message matter. Silent: the silence is at least :data:`MIN_SILENCE_S`
    and a freshness SLA with ``expect: history`` and ``max_age`` equal to this silence would
    count the minute (its history expects ``history.min_expected`` messages in that time) and
    find none. Without the floor a feed busy enough to expect three messages a minute would be
    "silent" after any minute of quiet. The usual gap is the shortest ``max_age`` in which that
    history expects one message.
    """
    raw = RawMinutes.zeros(now_minute - history_minutes(history), now_minute)
    for minute, n in counts.items():
        if raw.lo <= minute <= now_minute:
            raw.events[minute - raw.lo] = n
    sla = _sla(tz)

    def expected(max_age_min: int, wanted: HistoryExpectation) -> bool:
        verdict = expected_hours(
            sla, _spec(sla, max_age_min, wanted), raw, first_minute, now_minute, now_minute
        )
        return bool(verdict[0])

    silent = silence_s >= MIN_SILENCE_S and expected(math.ceil(silence_s / 60), history)
    one = HistoryExpectation(weeks=history.weeks, min_expected=1.0)
    if not expected(_GAP_SEARCH_MIN, one):
        return FeedExpectation(silent, None)
    lo, hi = 1, _GAP_SEARCH_MIN
    while lo < hi:
        mid = (lo + hi) // 2
        if expected(mid, one):
            hi = mid
        else:
            lo = mid + 1
    return FeedExpectation(silent, float(lo * 60))

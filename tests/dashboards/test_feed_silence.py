"""Interface silence on the operations page: judged by each feed's own history, as freshness SLAs
with ``expect: history`` judge it, so sparse and nightly feeds are not called silent beside a stall,
nor a busy feed after a minute or two of quiet (issue 14); and the "catching up" banner speaks only
when the figures trail the store by more than two ticks.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from dashboards.queries import operations, rollup_lag
from dashboards.rollup import refresh
from dashboards.timerange import format_duration
from slas import HistoryExpectation, feed_expectation, history_minutes
from tests.dashboards import estate
from tests.support.factories import insert_spans, span_row
from vitals.kernel.units import NS

#: A Wednesday, 14:00:30 UTC: the feeds' history is at the same hour of past days and weeks.
NOW_S = datetime(2026, 3, 4, 14, 0, 30, tzinfo=UTC).timestamp()
NOW_MIN = int(NOW_S // 60)
DAY_MIN = 1440
HISTORY = HistoryExpectation()


def _raw(message_minutes: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for m in message_minutes:
        counts[m] = counts.get(m, 0) + 1
    return counts


def _every_3_min_office_hours(days: int) -> list[int]:
    """Messages every 3 minutes from 08:00 to 18:00 on each of the past ``days`` days."""
    today = NOW_MIN - NOW_MIN % DAY_MIN
    return [
        today - d * DAY_MIN + h * 60 + m
        for d in range(1, days + 1)
        for h in range(8, 18)
        for m in range(0, 60, 3)
    ]


def _nightly(days: int) -> list[int]:
    """A batch at 02:00-02:09 each night."""
    today = NOW_MIN - NOW_MIN % DAY_MIN
    return [today - d * DAY_MIN + 120 + m for d in range(days + 1) for m in range(10)]


def test_a_busy_feed_is_silent_after_a_few_usual_gaps_and_says_its_rhythm() -> None:
    history = _every_3_min_office_hours(35)
    first = min(history)
    stalled = feed_expectation(_raw(history), first, NOW_MIN, 15.5 * 60, "UTC", HISTORY)
    assert stalled.silent
    assert stalled.usual_gap_s == 180
    # 6 minutes: two usual gaps, fewer than the three messages a freshness SLA waits for
    assert not feed_expectation(_raw(history), first, NOW_MIN, 6 * 60, "UTC", HISTORY).silent


def _every_20_s_office_hours(days: int) -> dict[int, int]:
    """Three messages a minute from 08:00 to 18:00 on each of the past ``days`` days."""
    today = NOW_MIN - NOW_MIN % DAY_MIN
    return {
        today - d * DAY_MIN + h * 60 + m: 3
        for d in range(1, days + 1)
        for h in range(8, 18)
        for m in range(60)
    }


@pytest.mark.parametrize(
    ("quiet_s", "silent"),
    [
        (17.0, False),
        (61.0, False),
        (141.0, False),
        (154.0, False),
        (180.0, False),
        (20 * 60, True),
        (45 * 60, True),
    ],
)
def test_a_busy_feed_is_silent_only_after_minutes_not_seconds(quiet_s: float, silent: bool) -> None:
    """Issue 14: a feed sending every 20 s was "silent" after 17 s of quiet; 20 minutes is a stall."""
    counts = _every_20_s_office_hours(35)
    judged = feed_expectation(counts, min(counts), NOW_MIN, quiet_s, "UTC", HISTORY)
    assert judged.silent is silent
    assert judged.usual_gap_s == 60  # one minute is the finest rhythm the history can tell


def test_a_busy_feed_table_row_is_not_silent_after_two_minutes() -> None:
    """The operations table's own path (feed_expectations) over a busy feed and a stalled one."""
    counts = _every_20_s_office_hours(35)
    now_ns = int(NOW_S * NS)
    first_ns = min(counts) * 60 * NS
    frame = pd.DataFrame(
        {
            "interface": ["claims-outbound", "charges-outbound"],
            "service": ["integration-engine", "integration-engine"],
            "facility": ["north-campus", "north-campus"],
            "first_seen": [first_ns, first_ns],
            "last_seen": [now_ns - int(141 * NS), now_ns - int(25 * 60 * NS)],
            "count": [10_000, 10_000],
            "silent_s": [141.0, 25 * 60.0],
        }
    )
    keys = [(i, "integration-engine", "north-campus") for i in frame["interface"]]
    judged = operations.feed_expectations(frame, dict.fromkeys(keys, counts), now_ns, "UTC").set_index(
        "interface"
    )
    assert not judged.loc["claims-outbound", "silent"]
    assert judged.loc["charges-outbound", "silent"]


def test_a_nightly_feed_is_not_silent_in_the_afternoon() -> None:
    history = _nightly(35)
    judged = feed_expectation(_raw(history), min(history), NOW_MIN, 12 * 3600, "UTC", HISTORY)
    assert not judged.silent
    assert judged.usual_gap_s is None
    assert operations.expected_words(judged.usual_gap_s, judged.has_history) == "none usually at this hour"


def test_expected_words() -> None:
    assert operations.expected_words(180.0, True) == f"usually every {format_duration(180)} at this hour"
    assert operations.expected_words(30.0, True) == "usually every minute or more often at this hour"
    assert operations.expected_words(None, False).startswith("no day of history yet")


def _feed_spans(interface: str, minutes: list[int], ids: random.Random) -> list[dict[str, object]]:
    return [
        span_row(
            ids=ids,
            name=f"{interface} process",
            service="integration-engine",
            start_s=m * 60 + 5,
            received_s=NOW_S,
            kind="consumer",
            attributes={"hc.facility": "south-campus", "messaging.destination.name": interface},
        )
        for m in minutes
    ]


def test_operations_feed_table_flags_only_the_real_stall(engine: Engine) -> None:
    ids = random.Random(14)
    today = NOW_MIN - NOW_MIN % DAY_MIN
    office = _every_3_min_office_hours(35)
    stalled = office + [today + 8 * 60 + m for m in range(0, 5 * 60 + 45, 3)]  # last 13:42
    flowing = office + [today + 8 * 60 + m for m in range(0, 6 * 60 - 3, 3)]  # last 13:57
    rows = (
        _feed_spans("adt-inbound", stalled, ids)
        + _feed_spans("lab-results", flowing, ids)
        + _feed_spans("nightly-census", _nightly(35), ids)
        + _feed_spans("new-feed", [NOW_MIN - 40], ids)
    )
    insert_spans(engine, rows)
    now_ns = int(NOW_S * NS)
    refresh(engine, horizon_s=0, edge_timing=estate.SETTLED, clock=lambda: now_ns)
    frame = operations.feed_silence(engine, now_ns)
    counts = operations.feed_history_counts(engine, now_ns, HISTORY)
    judged = operations.feed_expectations(frame, counts, now_ns, "UTC").set_index("interface")
    assert judged.loc["adt-inbound", "silent"]
    assert judged.loc["adt-inbound", "usual_gap_s"] == 180
    assert not judged.loc["lab-results", "silent"]
    assert not judged.loc["nightly-census", "silent"]
    assert judged["usual_gap_s"].isna().to_dict()["nightly-census"]
    # a feed younger than a day has no same hour to learn from: the fixed limit flags it
    assert judged.loc["new-feed", "silent"] and not judged.loc["new-feed", "has_history"]
    # only the minutes the expectation reads are fetched: the same hour of past days and weeks
    minutes = counts[("adt-inbound", "integration-engine", "south-campus")]
    assert min(minutes) >= NOW_MIN - history_minutes(HISTORY) - 120
    assert all(NOW_MIN - m >= DAY_MIN - 120 for m in minutes)


@pytest.mark.parametrize(
    ("oldest_age_s", "shown"),
    [(None, False), (5.0, False), (29.0, False), (31.0, True), (600.0, True)],
)
def test_catching_up_only_beyond_two_ticks(oldest_age_s: float | None, shown: bool) -> None:
    now_ns = int(NOW_S * NS)
    oldest = None if oldest_age_s is None else now_ns - int(oldest_age_s * NS)
    lag = rollup_lag.behind(now_ns, oldest, interval_s=15.0)
    assert (lag is not None) is shown
    if shown:
        assert lag == pytest.approx(oldest_age_s)


def test_oldest_pending_row_is_read_above_the_watermarks(engine: Engine) -> None:
    ids = random.Random(3)
    rows = [
        span_row(ids=ids, service="svc", start_s=NOW_S - 100 + i, received_s=NOW_S - 100 + i)
        for i in range(5)
    ]
    insert_spans(engine, rows)
    assert rollup_lag.oldest_pending_received_ns(engine, {}) == int((NOW_S - 100) * NS)
    with engine.connect() as conn:
        from collector.tables import spans

        top = [
            int(r[0]) for r in conn.execute(spans.select().with_only_columns(spans.c.id).order_by(spans.c.id))
        ]
    assert rollup_lag.oldest_pending_received_ns(engine, {"spans": top[1]}) == int((NOW_S - 98) * NS)
    assert rollup_lag.oldest_pending_received_ns(engine, {"spans": top[-1]}) is None

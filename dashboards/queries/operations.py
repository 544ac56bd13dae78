"""Operations: throughput and errors per system and interface, queues, top errors, silence."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine

from collector.tables import metric_points, spans
from dashboards.sqlexpr import blank, bucket, lit
from dashboards.tables import error_groups, feeds, metric_rollups, span_rollups
from dashboards.timerange import format_duration
from slas import FeedExpectation, HistoryExpectation, feed_expectation, history_windows
from vitals.kernel.units import NS

THROUGHPUT_COLUMNS = ["time", "group", "count", "errors", "duration_sum_ns", "duration_max_ns"]
QUEUE_METRICS = ("queue.depth", "queue.oldest_age_seconds")
QUEUE_NOW_METRICS = ("queue.depth", "queue.oldest_age_seconds", "queue.consumers", "queue.stuck")


def _aligned(start_ns: int, end_ns: int, step_s: int) -> tuple[int, int]:
    size = step_s * NS
    return start_ns // size * size, end_ns


def throughput(
    engine: Engine,
    start_ns: int,
    end_ns: int,
    *,
    resolution_s: int,
    step_s: int,
    by: Literal["service", "interface"] = "service",
) -> pd.DataFrame:
    """Spans and failed spans per ``step_s`` for each service (system) or interface."""
    r = span_rollups.c
    group = r.service_name if by == "service" else r.interface
    t = bucket(r.bucket, step_s)
    lo, hi = _aligned(start_ns, end_ns, resolution_s)
    query = (
        select(
            t.label("time"),
            group.label("group"),
            func.sum(r.count).label("count"),
            func.sum(r.error_count).label("errors"),
            func.sum(r.duration_sum_ns).label("duration_sum_ns"),
            func.max(r.duration_max_ns).label("duration_max_ns"),
        )
        .where(r.resolution == resolution_s, r.bucket >= lo, r.bucket < hi)
        .group_by(t, group)
        .order_by(t)
    )
    if by == "interface":
        query = query.where(r.interface != lit(""))
    with engine.connect() as conn:
        # Sums of BIGINT are NUMERIC on PostgreSQL: back to plain numbers.
        rows = [
            (int(t), g, int(n), int(e), int(ds or 0), int(dm or 0))
            for t, g, n, e, ds, dm in conn.execute(query)
        ]
    return pd.DataFrame.from_records(rows, columns=THROUGHPUT_COLUMNS)


def totals(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per group: spans, errors, error rate and mean duration over the whole range."""
    if frame.empty:
        return pd.DataFrame(columns=["group", "count", "errors", "error_rate", "mean_ms", "max_ms"])
    grouped = frame.groupby("group", as_index=False).agg(
        count=("count", "sum"),
        errors=("errors", "sum"),
        duration_sum_ns=("duration_sum_ns", "sum"),
        duration_max_ns=("duration_max_ns", "max"),
    )
    grouped["error_rate"] = grouped["errors"] / grouped["count"]
    grouped["mean_ms"] = grouped["duration_sum_ns"] / grouped["count"] / 1e6
    grouped["max_ms"] = grouped["duration_max_ns"] / 1e6
    return (
        grouped[["group", "count", "errors", "error_rate", "mean_ms", "max_ms"]]
        .sort_values("count", ascending=False)
        .reset_index(drop=True)
    )


def fold_groups(frame: pd.DataFrame, keep: int) -> pd.DataFrame:
    """A :func:`throughput` frame with at most ``keep`` groups plus one "other (N series)".

    The groups with the most spans stay; the rest are added up per step (spans, failures and
    durations summed, the longest kept), so "other"'s error rate is that of its spans together,
    and a chart of them never needs more colours than it has.
    """
    groups = frame.groupby("group")["count"].sum().sort_values(ascending=False, kind="stable")
    if len(groups) <= keep + 1:
        return frame
    ranked = sorted(groups.index, key=lambda g: (-int(groups[g]), str(g)))
    rest = set(ranked[keep:])
    name = f"other ({len(rest)} series)"  # as dashboards.figures.ops.OTHER_NAME
    folded = frame.assign(group=[name if g in rest else g for g in frame["group"]])
    return (
        folded.groupby(["time", "group"], as_index=False)
        .agg(
            count=("count", "sum"),
            errors=("errors", "sum"),
            duration_sum_ns=("duration_sum_ns", "sum"),
            duration_max_ns=("duration_max_ns", "max"),
        )
        .sort_values(["time", "group"], kind="stable")
        .reset_index(drop=True)[THROUGHPUT_COLUMNS]
    )


def queue_series(engine: Engine, start_ns: int, end_ns: int, resolution_s: int, step_s: int) -> pd.DataFrame:
    """Per queue and metric and step: the highest and the mean sampled value."""
    m = metric_rollups.c
    t = bucket(m.bucket, step_s)
    lo, hi = _aligned(start_ns, end_ns, resolution_s)
    query = (
        select(
            t.label("time"),
            m.queue,
            m.name,
            func.max(m.value_max).label("max"),
            (func.sum(m.value_sum) / func.sum(m.samples)).label("mean"),
        )
        .where(m.resolution == resolution_s, m.bucket >= lo, m.bucket < hi, m.name.in_(QUEUE_METRICS))
        .group_by(t, m.queue, m.name)
        .order_by(t)
    )
    with engine.connect() as conn:
        rows = [(int(t), q, n, float(hi), float(mean)) for t, q, n, hi, mean in conn.execute(query)]
    return pd.DataFrame.from_records(rows, columns=["time", "queue", "name", "max", "mean"])


def queue_now(engine: Engine, now_ns: int, lookback_s: int = 3600) -> pd.DataFrame:
    """The newest sample of each queue gauge (within ``lookback_s``), one row per queue."""
    m = metric_rollups.c
    with engine.connect() as conn:
        queues = sorted(
            {
                r[0]
                for r in conn.execute(
                    select(m.queue)
                    .where(m.resolution == 60, m.bucket >= now_ns - lookback_s * NS, m.queue != lit(""))
                    .distinct()
                )
            }
        )
        records = []
        p = metric_points.c
        for queue in queues[:100]:
            record: dict[str, object] = {"queue": queue}
            for name in QUEUE_NOW_METRICS:
                row = conn.execute(
                    select(p.value, p.time_unix_nano)
                    .where(p.queue == queue, p.name == name, p.time_unix_nano <= now_ns)
                    .order_by(p.time_unix_nano.desc())
                    .limit(1)
                ).first()
                record[name] = None if row is None else row.value
                if name == "queue.depth":
                    record["sampled_at"] = None if row is None else int(row.time_unix_nano)
            records.append(record)
    return pd.DataFrame.from_records(records, columns=["queue", *QUEUE_NOW_METRICS, "sampled_at"])


def top_errors(engine: Engine, start_ns: int, end_ns: int, limit: int = 20) -> pd.DataFrame:
    """Failed spans grouped by service, span and message, most frequent first (hourly buckets)."""
    e = error_groups.c
    hour = 3600 * NS
    query = (
        select(
            e.service_name,
            e.span_name,
            e.message,
            func.sum(e.count).label("count"),
            func.max(e.last_seen_ns).label("last_seen"),
            func.max(e.example_trace_id).label("example_trace_id"),
        )
        .where(e.bucket >= start_ns // hour * hour, e.bucket < end_ns)
        .group_by(e.service_name, e.span_name, e.message)
        .order_by(func.sum(e.count).desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = [(s, n, m, int(c), int(seen), trace) for s, n, m, c, seen, trace in conn.execute(query)]
    return pd.DataFrame.from_records(
        rows, columns=["service", "span", "message", "count", "last_seen", "example_trace_id"]
    )


def feed_silence(engine: Engine, now_ns: int) -> pd.DataFrame:
    """Every interface feed with the time since its last message, most silent first."""
    f = feeds.c
    with engine.connect() as conn:
        rows = [
            tuple(r)
            for r in conn.execute(
                select(
                    f.interface, f.service_name, f.facility, f.first_seen_ns, f.last_seen_ns, f.count
                ).order_by(f.last_seen_ns)
            )
        ]
    frame = pd.DataFrame.from_records(
        rows, columns=["interface", "service", "facility", "first_seen", "last_seen", "count"]
    )
    frame["silent_s"] = (now_ns - frame["last_seen"]) / NS if not frame.empty else []
    return frame


# --------------------------------------------------------------------------- expected silence
#
# Whether a feed's silence is news is the question a freshness SLA with ``expect: history`` asks
# every minute: the answer here is the SLA engine's (slas.feed_expectation), asked of each feed
# with its own history, so the operations page and the SLAs cannot disagree on what is normal.

MINUTE_NS = 60 * NS
#: A feed seen for less than this has no same hour of a past day to learn from ...
YOUNG_FEED_S = 25 * 3600
#: ... and is flagged after this fixed silence instead, so a young store's stall still shows.
YOUNG_FEED_LIMIT_S = 15 * 60


def feed_history_counts(
    engine: Engine, now_ns: int, history: HistoryExpectation
) -> dict[tuple[str, str, str], dict[int, int]]:
    """Messages per minute of each feed in the minutes :func:`expectation` reads, keyed like ``feeds``."""
    now_minute = now_ns // MINUTE_NS
    iface = func.coalesce(
        func.nullif(spans.c.messaging_destination, lit("")),
        func.nullif(spans.c.hc_message_type, lit("")),
        lit(""),
    )
    start = spans.c.start_time_unix_nano
    ranges = [
        start.between(lo * MINUTE_NS, hi * MINUTE_NS - 1) for lo, hi in history_windows(now_minute, history)
    ]
    minute = bucket(start, 60)
    query = (
        select(
            iface.label("interface"),
            spans.c.service_name,
            blank(spans.c.hc_facility).label("facility"),
            minute.label("minute"),
            func.sum(spans.c.sample_weight).label("n"),  # sampled spans stand for their group
        )
        .where(or_(*ranges), iface != lit(""))
        .group_by(iface, spans.c.service_name, blank(spans.c.hc_facility), minute)
    )
    out: dict[tuple[str, str, str], dict[int, int]] = {}
    with engine.connect() as conn:
        for r in conn.execute(query):
            out.setdefault((r.interface, r.service_name, r.facility), {})[int(r.minute) // MINUTE_NS] = int(
                r.n
            )
    return out


def _with_last(counts: dict[int, int], last_seen_minute: int) -> dict[int, int]:
    """The history's counts, the minute of the last message marked (it may be out of the windows)."""
    return {**counts, last_seen_minute: max(1, counts.get(last_seen_minute, 0))}


def feed_expectations(
    frame: pd.DataFrame,
    counts: dict[tuple[str, str, str], dict[int, int]],
    now_ns: int,
    tz: str,
    history: HistoryExpectation | None = None,
) -> pd.DataFrame:
    """``frame`` (from :func:`feed_silence`) with ``silent``, ``usual_gap_s`` and ``has_history``.

    Each feed is judged by its own history (:func:`slas.feed_expectation`); one younger than a day has none
    at this hour yet and is flagged after the fixed :data:`YOUNG_FEED_LIMIT_S` instead.
    """
    wanted = history or HistoryExpectation()
    now_minute = now_ns // MINUTE_NS
    judged: list[FeedExpectation] = []
    rows: Iterable[tuple[str, str, str, int, int, float]] = zip(
        frame["interface"],
        frame["service"],
        frame["facility"],
        frame["first_seen"],
        frame["last_seen"],
        frame["silent_s"],
        strict=True,
    )
    for interface, service, facility, first_seen, last_seen, silent_s in rows:
        if (now_ns - int(first_seen)) / NS < YOUNG_FEED_S:
            judged.append(FeedExpectation(float(silent_s) > YOUNG_FEED_LIMIT_S, None, has_history=False))
            continue
        own = _with_last(counts.get((interface, service, facility), {}), int(last_seen) // MINUTE_NS)
        first = int(first_seen) // MINUTE_NS
        judged.append(feed_expectation(own, first, now_minute, float(silent_s), tz, wanted))
    return frame.assign(
        silent=np.array([j.silent for j in judged], dtype=bool),
        usual_gap_s=pd.Series([j.usual_gap_s for j in judged], dtype="float64", index=frame.index),
        has_history=np.array([j.has_history for j in judged], dtype=bool),
    )


def expected_words(gap_s: float | None, has_history: bool) -> str:
    """What the feed's own history expects at this hour, in words ("usually every 3m at this hour")."""
    if not has_history:
        return f"no day of history yet: silent after {format_duration(YOUNG_FEED_LIMIT_S)}"
    if gap_s is None:
        return "none usually at this hour"
    if gap_s <= 60:
        return "usually every minute or more often at this hour"
    return f"usually every {format_duration(gap_s)} at this hour"

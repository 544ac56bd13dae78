"""Where the history comes from: queue gauges and per-stage span counts in the store.

The pure core takes :class:`capacity.model.Series`; this edge builds them. Aggregation happens in
SQL (15-minute buckets of the queue gauges, hourly counts of spans per ``hc.stage``), so a month of
10-second gauges costs a few thousand rows, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from capacity.model import BUCKET_S, HOUR_S, Backlog, Series
from collector.tables import metric_points, spans
from vitals.kernel.units import NS

QUEUE_METRICS = ("queue.depth", "queue.publish_rate", "queue.deliver_rate", "queue.oldest_age_seconds")
#: The current drain and arrival rates of a backlog are means over this long before now.
RECENT_S = 900


class HistorySource(Protocol):
    """Every interface's and queue's history between two instants (UTC seconds)."""

    def series(self, start_s: float, now_s: float) -> list[Series]: ...


class InMemoryHistory:
    """Series given as they are (tests, benchmarks), cut to the range asked for."""

    def __init__(self, series: Iterable[Series]) -> None:
        self._series = list(series)

    def series(self, start_s: float, now_s: float) -> list[Series]:
        out = []
        for s in self._series:
            volume = tuple(p for p in s.volume if start_s <= p[0] < now_s)
            drain = tuple(p for p in s.drain if start_s <= p[0] < now_s)
            out.append(Series(s.kind, s.name, volume, drain, s.bucket_s, s.backlog))
        return out


def _queue_name(attributes: Any) -> str | None:
    if not isinstance(attributes, dict):
        return None
    name = attributes.get("queue") or attributes.get("messaging.destination.name")
    return str(name) if name else None


def _dense(
    by_hour: dict[int, float], first: int, last: int, fill: float | None
) -> tuple[tuple[int, float | None], ...]:
    return tuple((h, by_hour.get(h, fill)) for h in range(first, last + 1, HOUR_S))


class SqlHistory:
    """Reads ``metric_points`` (queue gauges) and ``spans`` (``hc_stage`` counts) of the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _queue_names(self, start_ns: int, end_ns: int) -> dict[str, str]:
        first_ids = (
            select(func.min(metric_points.c.id).label("id"))
            .where(
                metric_points.c.name.in_(QUEUE_METRICS),
                metric_points.c.time_unix_nano >= start_ns,
                metric_points.c.time_unix_nano < end_ns,
            )
            .group_by(metric_points.c.series_id)
            .subquery()
        )
        query = select(metric_points.c.series_id, metric_points.c.attributes).where(
            metric_points.c.id.in_(select(first_ids.c.id))
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {sid: name for sid, attrs in rows if (name := _queue_name(attrs))}

    def _queues(self, start_s: float, now_s: float) -> list[Series]:
        start_ns, end_ns = int(start_s * NS), int(now_s * NS)
        names = self._queue_names(start_ns, end_ns)
        if not names:
            return []
        bucket = (metric_points.c.time_unix_nano // (BUCKET_S * NS)).label("bucket")
        query = (
            select(
                metric_points.c.series_id,
                metric_points.c.name,
                bucket,
                func.avg(metric_points.c.value),
            )
            .where(
                metric_points.c.name.in_(("queue.publish_rate", "queue.deliver_rate")),
                metric_points.c.time_unix_nano >= start_ns,
                metric_points.c.time_unix_nano < end_ns,
            )
            .group_by(metric_points.c.series_id, metric_points.c.name, bucket)
        )
        recent = select(
            metric_points.c.series_id,
            metric_points.c.name,
            metric_points.c.time_unix_nano,
            metric_points.c.value,
        ).where(
            metric_points.c.name.in_(QUEUE_METRICS),
            metric_points.c.time_unix_nano > end_ns - RECENT_S * NS,
            metric_points.c.time_unix_nano <= end_ns,
        )
        with self.engine.connect() as conn:
            buckets = conn.execute(query).all()
            latest = conn.execute(recent).all()
        # queue -> bucket -> rate, summed over the queue's series
        publish: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        deliver: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for sid, name, b, mean in buckets:
            queue = names.get(sid)
            if queue is None or mean is None:
                continue
            (publish if name == "queue.publish_rate" else deliver)[queue][int(b) * BUCKET_S] += float(mean)
        return [
            self._queue_series(queue, publish[queue], deliver[queue], latest=latest, names=names, now_s=now_s)
            for queue in sorted(set(publish) | set(deliver))
        ]

    @staticmethod
    def _queue_series(
        queue: str,
        publish: dict[int, float],
        deliver: dict[int, float],
        *,
        latest: Sequence[Any],
        names: dict[str, str],
        now_s: float,
    ) -> Series:
        hourly: dict[int, list[float]] = defaultdict(list)
        for start, rate in publish.items():
            hourly[start - start % HOUR_S].append(rate)
        by_hour = {h: sum(rates) / len(rates) * HOUR_S for h, rates in hourly.items()}
        last_complete = int(now_s) - int(now_s) % HOUR_S - HOUR_S
        volume = _dense(by_hour, min(by_hour), last_complete, None) if by_hour else ()
        drain = tuple(sorted(deliver.items()))
        values: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
        for sid, name, t_ns, value in latest:
            if names.get(sid) == queue and value is not None:
                values[name][sid].append((int(t_ns), float(value)))
        backlog = None
        if values["queue.depth"]:
            depth = sum(max(points)[1] for points in values["queue.depth"].values())
            ages = [max(points)[1] for points in values["queue.oldest_age_seconds"].values()]

            def mean_rate(metric: str) -> float:
                return sum(sum(v for _, v in pts) / len(pts) for pts in values[metric].values())

            backlog = Backlog(
                now_s,
                depth,
                mean_rate("queue.deliver_rate"),
                mean_rate("queue.publish_rate"),
                max(ages, default=None),
            )
        return Series("queue", queue, volume, drain, BUCKET_S, backlog)

    def _interfaces(self, start_s: float, now_s: float) -> list[Series]:
        hour = (spans.c.event_time_unix_nano // (HOUR_S * NS)).label("hour")
        query = (
            select(spans.c.hc_stage, hour, func.sum(spans.c.sample_weight))
            .where(
                spans.c.hc_stage.is_not(None),
                spans.c.event_time_unix_nano >= int(start_s * NS),
                spans.c.event_time_unix_nano < int(now_s * NS),
            )
            .group_by(spans.c.hc_stage, hour)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        counts: dict[str, dict[int, float]] = defaultdict(dict)
        for stage, h, count in rows:
            counts[str(stage)][int(h) * HOUR_S] = float(count or 0)
        last_complete = int(now_s) - int(now_s) % HOUR_S - HOUR_S
        out = []
        for stage in sorted(counts):
            by_hour = {h: c for h, c in counts[stage].items() if h <= last_complete}
            if not by_hour:
                continue
            volume = _dense(by_hour, min(by_hour), last_complete, 0.0)
            drain = tuple((h, (c or 0.0) / HOUR_S) for h, c in volume)
            out.append(Series("interface", stage, volume, drain, HOUR_S))
        return out

    def series(self, start_s: float, now_s: float) -> list[Series]:
        return [*self._queues(start_s, now_s), *self._interfaces(start_s, now_s)]


__all__ = ["QUEUE_METRICS", "RECENT_S", "HistorySource", "InMemoryHistory", "SqlHistory"]

"""The job that reads new spans and writes ``queue.latency_seconds`` per queue and minute.

Incremental: it follows ``spans`` by id (``vitals.kernel.follow``: each span once, also when
PostgreSQL commits ids out of order) and keeps only the messaging spans, in batches. On start it
goes back ``lookback`` so a restart does not leave a hole. Minutes are written once they are done
(see ``MinuteWindows``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from collector.queues import names
from collector.queues.config import TraceLatencyJob
from collector.queues.latency import (
    LatencyJoiner,
    MessagingSpan,
    MinuteLatency,
    MinuteWindows,
    link_refs,
    role_of,
)
from collector.queues.points import point_row
from collector.tables import spans
from vitals.kernel.follow import Cursor, default_horizon_s, first_id_since, read_new
from vitals.kernel.runtime import MetricPointWriter
from vitals.kernel.units import NS

log = logging.getLogger(__name__)

MESSAGING_KINDS = ("producer", "consumer", "PRODUCER", "CONSUMER", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER")


class SpanReader(Protocol):
    """The ``spans`` table, followed by id."""

    #: How long an unread id below read ones is awaited (see ``vitals.kernel.follow``).
    horizon_ns: int

    def first_id_since(self, start_ns: int) -> int:
        """A watermark just before the first span that started at or after ``start_ns``."""
        ...

    def read_new(self, cursor: Cursor, limit: int) -> tuple[list[MessagingSpan], tuple[int, ...]]:
        """The messaging spans among up to ``limit`` spans new to ``cursor``, and every id read."""
        ...


def messaging_span(row: Any) -> MessagingSpan | None:
    """A stored ``spans`` row (mapping) as a :class:`MessagingSpan`, or None if not messaging."""
    attributes = row["attributes"] or {}
    if not isinstance(attributes, dict):
        return None
    role = role_of(row["kind"], attributes)
    if role is None:
        return None
    message_id = attributes.get("messaging.message.id")
    broker = attributes.get("messaging.system")
    return MessagingSpan(
        id=int(row["id"]),
        trace_id=str(row["trace_id"]).lower(),
        span_id=str(row["span_id"]).lower(),
        parent_span_id=str(row["parent_span_id"]).lower() if row["parent_span_id"] else None,
        role=role,
        destination=row["messaging_destination"] or attributes.get("messaging.destination.name"),
        message_id=str(message_id) if message_id is not None else None,
        start_ns=int(row["start_time_unix_nano"]),
        end_ns=int(row["end_time_unix_nano"]),
        links=link_refs(row["links"]),
        broker=str(broker) if broker is not None else None,
        system=row["hc_system"] or None,
    )


class SqlSpanReader:
    """Reads the ``spans`` table of the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.horizon_ns = int(default_horizon_s(engine) * NS)

    def first_id_since(self, start_ns: int) -> int:
        with self.engine.connect() as conn:
            return first_id_since(conn, spans.c.id, spans.c.start_time_unix_nano >= start_ns)

    def read_new(self, cursor: Cursor, limit: int) -> tuple[list[MessagingSpan], tuple[int, ...]]:
        query = select(
            spans.c.id,
            spans.c.trace_id,
            spans.c.span_id,
            spans.c.parent_span_id,
            spans.c.kind,
            spans.c.start_time_unix_nano,
            spans.c.end_time_unix_nano,
            spans.c.attributes,
            spans.c.links,
            spans.c.hc_system,
            spans.c.messaging_destination,
        )
        messaging = or_(spans.c.messaging_destination.is_not(None), spans.c.kind.in_(MESSAGING_KINDS))
        with self.engine.connect() as conn:
            new = read_new(conn, query, spans.c.id, cursor, limit, where=messaging)
        found = [s for s in (messaging_span(r._mapping) for r in new.rows) if s is not None]
        return found, new.ids


def latency_rows(summaries: Sequence[MinuteLatency], now_s: float) -> list[dict[str, Any]]:
    rows = []
    for summary in summaries:
        attrs = {
            names.ATTR_QUEUE: summary.destination,
            names.ATTR_BROKER: summary.broker,
            names.ATTR_SYSTEM: summary.system,
        }
        for q, seconds in summary.quantiles:
            rows.append(
                point_row(
                    names.LATENCY,
                    seconds,
                    summary.minute_start_ns / NS,
                    {**attrs, "quantile": f"{q / 100:g}"},
                    count=summary.count,
                    total=summary.total,
                    minimum=summary.minimum,
                    maximum=summary.maximum,
                    received_s=now_s,
                )
            )
    return rows


class TraceLatency:
    """The scheduler job: read new spans, join, write finished minutes."""

    def __init__(
        self,
        config: TraceLatencyJob,
        reader: SpanReader,
        write: MetricPointWriter,
        *,
        clock: Callable[[], float] = time.time,
        max_batches: int = 50,
    ) -> None:
        self.config = config
        self.reader = reader
        self.write = write
        self.clock = clock
        self.max_batches = max_batches
        self.joiner = LatencyJoiner(max_wait_ns=int(config.max_wait * NS))
        self.windows = MinuteWindows(tuple(config.percentiles))
        self.cursor: Cursor | None = None
        self.caught_up = False

    def drain(self) -> int:
        """Read every stored span, then write every minute that has ended, without waiting out
        the grace for late spans (on a graceful stop, so a restart leaves no gap)."""
        while not self._read():
            pass
        return self._close(grace_s=0.0)

    def run(self) -> int:
        """One pass; returns how many rows it wrote."""
        self._read()
        return self._close(grace_s=self.config.grace)

    def _read(self) -> bool:
        """Up to ``max_batches`` batches of new spans into the joiner; whether caught up."""
        now_ns = int(self.clock() * NS)
        if self.cursor is None:
            self.cursor = Cursor(self.reader.first_id_since(now_ns - int(self.config.lookback * NS)))
        for _ in range(self.max_batches):
            found, ids = self.reader.read_new(self.cursor, self.config.batch_size)
            self.cursor = self.cursor.after_read(ids, now_ns, self.reader.horizon_ns)
            self.caught_up = len(ids) < self.config.batch_size
            self.windows.add(self.joiner.add(found), now_ns)
            if self.caught_up:
                break
        else:
            log.info(
                "queue latency: still catching up with the spans table (at id %s)", self.cursor.watermark
            )
        return self.caught_up

    def _close(self, grace_s: float) -> int:
        now = self.clock()
        self.joiner.expire()
        rows = latency_rows(self.windows.close(int(now * NS), int(grace_s * NS)), now)
        if rows:
            self.write(rows)
        return len(rows)


__all__ = [
    "SpanReader",
    "SqlSpanReader",
    "TraceLatency",
    "latency_rows",
    "messaging_span",
]

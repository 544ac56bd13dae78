"""Where committed telemetry goes: the ``TelemetrySink`` edge and its in-memory implementation.

The writer only needs "store this batch atomically, tell me what was new". ``SqlSink``
(``collector.sql_sink``) does it against the store; ``InMemorySink`` does it in a dict so the
pipeline and the writer are unit-tested without a database, with the same duplicate rules.
"""

from __future__ import annotations

import threading
from typing import Protocol

from collector.rows import METRIC_INDEX, SPAN_INDEX, SPAN_KEY_INDEX, Row, WriteBatch, WriteResult


class TelemetrySink(Protocol):
    def write(self, batch: WriteBatch) -> WriteResult:
        """Store ``batch`` in one transaction: all of it or, on an exception, none of it.

        A span whose (trace_id, span_id, event_time_unix_nano) is already stored, a span key
        already stored, and a metric point whose (series_id, time_unix_nano) is already stored
        are skipped and counted as duplicates.
        """
        ...

    def close(self) -> None: ...


class InMemorySink:
    """A ``TelemetrySink`` in dicts, for tests."""

    def __init__(self) -> None:
        self.spans: dict[tuple[str, str, int], Row] = {}
        self.span_keys: dict[tuple[str, str, str, str], Row] = {}
        self.metric_points: dict[tuple[str, int], Row] = {}
        self.commits = 0
        self.closed = False
        self._lock = threading.Lock()

    def write(self, batch: WriteBatch) -> WriteResult:
        with self._lock:
            ti, si, ei = SPAN_INDEX["trace_id"], SPAN_INDEX["span_id"], SPAN_INDEX["event_time_unix_nano"]
            new_spans = {}
            for row in batch.spans:
                key = (row[ti], row[si], row[ei])
                if key not in self.spans and key not in new_spans:
                    new_spans[key] = row
            ki = [SPAN_KEY_INDEX[c] for c in ("key_hash", "key_name", "trace_id", "span_id")]
            new_keys = {}
            for row in batch.span_keys:
                kkey = (row[ki[0]], row[ki[1]], row[ki[2]], row[ki[3]])
                if kkey not in self.span_keys:
                    new_keys[kkey] = row
            mi, mt = METRIC_INDEX["series_id"], METRIC_INDEX["time_unix_nano"]
            new_points = {}
            for row in batch.metric_points:
                pkey = (row[mi], row[mt])
                if pkey not in self.metric_points and pkey not in new_points:
                    new_points[pkey] = row
            self.spans.update(new_spans)
            self.span_keys.update(new_keys)
            self.metric_points.update(new_points)
            self.commits += 1
            return WriteResult(
                spans_inserted=len(new_spans),
                spans_duplicate=len(batch.spans) - len(new_spans),
                points_inserted=len(new_points),
                points_duplicate=len(batch.metric_points) - len(new_points),
            )

    def close(self) -> None:
        self.closed = True


__all__ = ["InMemorySink", "TelemetrySink"]

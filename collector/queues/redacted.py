"""Queue rows pass through the collector's redaction policy like every OTLP point does.

Queue names, consumer groups and labels come from brokers and engine databases, named by whoever
set up the integration; a channel named after a patient, or a stream key with an MRN in it, would
otherwise reach the ``queue`` column, the dashboards and alert labels. Every row the queues
component writes (polled, trace-derived and stuck rows) is redacted on its way to the writer, and
the pollers log queue names only as redacted.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from collector.attributes import json_text
from collector.config import load_collector_config
from collector.redaction import Redactor
from collector.rows import json_object
from vitals.kernel.runtime import MetricPointWriter


class RedactingWriter:
    """``write_metric_points`` with the rows' names, units, queue and attributes redacted first.

    Thread-safe: poll jobs run on the scheduler's threads, and a ``Redactor`` is not.
    """

    def __init__(self, write: MetricPointWriter, redactor: Redactor) -> None:
        self._write = write
        self._redactor = redactor
        self._lock = threading.Lock()

    def text(self, text: str) -> str:
        """``text`` (a queue name, for instance) with every identifier replaced by a marker."""
        with self._lock:
            return self._redactor.text(text)

    def row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        redactor = self._redactor
        out = dict(row)
        for column in ("name", "unit", "scope_name"):
            if isinstance(out.get(column), str):
                out[column] = redactor.name(out[column])
        for column in ("service_name", "queue"):
            if isinstance(out.get(column), str):
                out[column] = redactor.text(out[column])
        for column in ("attributes", "resource_attributes"):
            if out.get(column) is not None:
                out[column] = json_text(redactor.attributes(json_object(out[column])))
        # The id is a plain hash of the series' identity: recomputed from what is stored.
        out.pop("series_id", None)
        return out

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            redacted = [self.row(row) for row in rows]
            self._redactor.take_counts()
        self._write(redacted)


def queue_redactor(config_dir: str | Path) -> Redactor:
    """A redactor with the collector's policy (``redaction`` in collector.yaml).

    Queue rows carry no ``hc.key.*`` correlation keys, so its hash secret is a random one of this
    process: should a broker label be named so, its value is still never stored.
    """
    policy = load_collector_config(config_dir).redaction.policy()
    return Redactor(policy, secrets.token_bytes(32))


__all__ = ["RedactingWriter", "queue_redactor"]

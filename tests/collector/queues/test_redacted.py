"""Queue names and labels from brokers pass the collector's redaction policy before they are
written or logged."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.queues import names
from collector.queues.config import RedisPoller
from collector.queues.points import point_row
from collector.queues.poller import Poller
from collector.queues.redacted import RedactingWriter, queue_redactor
from collector.queues.samples import QueueReading
from collector.queues.source import InMemorySource
from collector.redaction import RedactionPolicy, Redactor
from collector.rows import METRIC_COLUMNS, metric_row_tuple, series_id
from tests.collector.queues.conftest import ManualClock

PLANTED = "adt for jane.doe@example.org"
REDACTED = "adt for [REDACTED:email]"


class Captured:
    def __init__(self) -> None:
        self.rows: list[Mapping[str, Any]] = []

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rows.extend(rows)


def writer(policy: RedactionPolicy | None = None) -> tuple[RedactingWriter, Captured]:
    captured = Captured()
    return RedactingWriter(captured, Redactor(policy or RedactionPolicy(), b"queue-test-secret")), captured


def test_every_text_column_of_a_queue_row_is_redacted() -> None:
    write, captured = writer()
    row = point_row(names.DEPTH, 3.0, 1000.0, {"queue": PLANTED, "group": "SSN 123-45-6789"})
    write([row])
    (stored,) = captured.rows
    assert stored["queue"] == REDACTED
    attributes = orjson.loads(stored["attributes"])
    assert attributes == {"queue": REDACTED, "group": "SSN [REDACTED:ssn]"}
    assert "jane" not in str(stored) and "123-45-6789" not in str(stored)
    # The series id is recomputed from what is stored, not from the planted name.
    values = dict(zip(("series_id",), metric_row_tuple(stored), strict=False))
    assert values["series_id"] == series_id(
        names.DEPTH, "vitals-queues", {"service.name": "vitals-queues"}, attributes
    )


def test_clean_rows_keep_their_series() -> None:
    write, captured = writer()
    row = point_row(names.DEPTH, 3.0, 1000.0, {"queue": "charges-outbound", "broker": "redis"})
    write([row])
    assert metric_row_tuple(captured.rows[0])[METRIC_COLUMNS.index("series_id")] == row["series_id"]


def test_strict_mode_keeps_vitals_own_queue_attributes() -> None:
    write, captured = writer(RedactionPolicy(strict=True))
    write(
        [
            point_row(
                names.DEPTH, 1.0, 1000.0, {"queue": "charges", "broker": "redis", "poller": "p", "x": "y"}
            )
        ]
    )
    assert orjson.loads(captured.rows[0]["attributes"]) == {
        "queue": "charges",
        "broker": "redis",
        "poller": "p",
        "x": "[REDACTED:strict]",
    }


def test_the_poller_logs_and_writes_queue_names_only_redacted(caplog: pytest.LogCaptureFixture) -> None:
    write, captured = writer()
    source, clock = InMemorySource("redis"), ManualClock(0.0)
    config = RedisPoller.model_validate({"type": "redis", "name": "mem"})
    poller = Poller(config, source, clock=clock, redact=write.text)
    source.set([QueueReading(PLANTED, depth=1)])
    with caplog.at_level(logging.DEBUG):
        first = poller.poll()
        source.set([])
        clock.advance(30)
        second = poller.poll()
    write([*first.rows, *second.rows])
    assert [s.queue for s in first.samples] == [REDACTED]
    assert second.disappeared == (REDACTED,)
    assert "jane" not in caplog.text and REDACTED in caplog.text
    assert "jane" not in str(first.rows) + str(second.rows) + str(captured.rows)


def test_the_redactor_follows_collector_yaml(tmp_path: Path) -> None:
    (tmp_path / "collector.yaml").write_text(
        "redaction:\n  site_detectors:\n    - {name: epic_csn, pattern: 'CSN[0-9]{9}'}\n"
    )
    assert queue_redactor(tmp_path).text("q-CSN123456789") == "q-[REDACTED:epic_csn]"

"""``/healthz`` answers while a big adversarial request is being decoded and redacted.

Over real HTTP against the collector's real aiohttp server: the request (several MiB of the
shapes that made a detector quadratic) is held on the Ingest's worker thread, between its
decoding and its redaction, until the test has seen ``/healthz`` and ``/metrics`` answer; then it
completes, is answered 200 and is stored, redacted. No time is measured; the client's timeout
only turns a hang into a failure.
"""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import collector.ingest
from collector.tables import spans
from tests.collector.harness import get, metric_value, post, running_collector
from tests.collector.otlp import span, trace_request
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

SIZE = 512 * 1024
#: Shapes that once made a PHI detector take time growing with the square of their length.
SHAPES = ["a", "a@", "a.", "1-", "123-45-6789-", "555-867-5309x ", "2024-05-01T10:", "a'^1 ", "mrn "]


def long(shape: str) -> str:
    return (shape * (SIZE // len(shape) + 1))[:SIZE]


class HeldDecode:
    """Wraps ``collector.ingest.decode``: a request carrying ``mark`` is held after decoding,
    on the worker thread, until ``release`` is set."""

    def __init__(self, mark: bytes) -> None:
        self.mark = mark
        self.original = collector.ingest.decode
        self.entered = threading.Event()
        self.release = threading.Event()
        self.thread: threading.Thread | None = None

    def __call__(self, signal: Any, body: bytes, encoding: Any) -> Any:
        request = self.original(signal, body, encoding)
        if self.mark in body:
            self.thread = threading.current_thread()
            self.entered.set()
            # Bounded only so that a regression fails instead of hanging: the test sets it.
            assert self.release.wait(60)
        return request


def test_healthz_answers_while_a_big_request_is_decoded_and_redacted(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attributes: dict[str, Any] = {f"shape.{i}": long(shape) for i, shape in enumerate(SHAPES)}
    attributes["mail"] = long("a@") + " write to jane.doe@example.org"
    attributes["mark"] = "held-for-the-healthz-test"
    big = span("big", attributes=attributes)
    body = trace_request(big).SerializeToString()
    assert len(body) > 4 * 1024 * 1024
    gate = HeldDecode(b"held-for-the-healthz-test")
    monkeypatch.setattr(collector.ingest, "decode", gate)
    outcome: list[int] = []
    with running_collector(sqlite_url, tmp_path) as running:
        base = f"http://127.0.0.1:{running.http_port}"
        sender = threading.Thread(
            target=lambda: outcome.append(post(f"{base}/v1/traces", body)[0]), daemon=True
        )
        sender.start()
        assert gate.entered.wait(60), "the big request never reached the ingest worker"
        # The request is in progress (its bytes reserved, not answered) and the loop answers.
        for _ in range(3):
            with urllib.request.urlopen(f"{base}/healthz", timeout=30) as response:
                assert response.status == 200
        metrics = get(f"{base}/metrics")[1].decode()
        assert metric_value(metrics, "vitals_collector_in_flight_bytes") >= len(body)
        assert sender.is_alive() and not outcome
        assert gate.thread is not None and gate.thread.name.startswith("vitals-ingest")  # not the loop
        gate.release.set()
        sender.join(60)
        assert outcome == [200]
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(spans.c.name, spans.c.attributes)).one()
    finally:
        engine.dispose()
    assert stored.name == "big"
    assert stored.attributes["shape.0"] == long("a")
    assert stored.attributes["mail"].endswith("[REDACTED:email]")
    assert "jane.doe@example.org" not in stored.attributes["mail"]

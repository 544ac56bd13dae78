"""``/readyz`` and ``/metrics`` of a real ``vitals serve``: who holds which job, lag, evaluation age."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.collector.harness import get, post, served, wait_until
from tests.collector.otlp import span, trace_request

SLAS = {"VITALS_COMPONENTS": "slas"}


def _readyz(url: str) -> dict[str, Any]:
    status, body = get(f"{url}/readyz")
    assert status == 200, body
    data: dict[str, Any] = orjson.loads(body)
    return data


def _job(url: str, name: str) -> dict[str, Any] | None:
    return next((j for j in _readyz(url)["jobs"] if j["job"] == name and j["held"]), None)


@pytest.mark.e2e
def test_readyz_and_metrics_name_the_holder_of_each_job(sqlite_url: str, tmp_path: Path) -> None:
    with served(sqlite_url, tmp_path, environ=SLAS) as server:
        status, _, _ = post(
            f"{server.url}/v1/traces", trace_request(span("a"), span("b")).SerializeToString()
        )
        assert status == 200
        wait_until(lambda: _job(server.url, "slas.engine") is not None, timeout=60, message="engine lease")
        data = _readyz(server.url)
        # The fields that were there before stay.
        assert {"status", "components", "writer_queue_depth", "in_flight_bytes"} <= data.keys()
        engine = _job(server.url, "slas.engine")
        assert engine is not None
        assert engine["this_process"] is True
        assert (engine["host"], engine["pid"]) == (socket.gethostname(), server.process.pid)
        assert engine["since"] and engine["until"] and engine["expires_in_s"] > 0
        # No dashboards component: nothing folds the spans into the rollups, and /readyz says so.
        ingest = data["ingest"]
        assert ingest["newest_span_id"] >= 2
        assert ingest["rollups"]["spans"]["behind_rows"] >= 2
        assert ingest["rollups"]["spans"]["lag_s"] >= 0
        assert "newest_sla_evaluation_age_s" in data  # None without SLAs
        status, body = get(f"{server.url}/metrics")
        text = body.decode()
        assert 'vitals_job_lease_this_process{job="slas.engine"} 1.0' in text
        assert (
            f'vitals_job_lease_holder{{host="{socket.gethostname()}",job="slas.engine",pid="{server.process.pid}"}}'
            in text
        )
        assert "vitals_ingest_newest_span_id" in text and "vitals_ingest_rollup_lag_seconds" in text


@pytest.mark.e2e
@pytest.mark.postgres
def test_two_processes_on_postgresql_agree_on_who_holds_the_engine(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with ExitStack() as stack:
        a = stack.enter_context(served(pg_url, tmp_path / "a", environ=SLAS))
        b = stack.enter_context(served(pg_url, tmp_path / "b", environ=SLAS))
        wait_until(lambda: _job(a.url, "slas.engine") is not None, timeout=60, message="engine lease")
        seen_by_a, seen_by_b = _job(a.url, "slas.engine"), _job(b.url, "slas.engine")
        assert seen_by_a is not None and seen_by_b is not None
        assert seen_by_a["holder"] == seen_by_b["holder"]
        assert seen_by_a["this_process"] != seen_by_b["this_process"]
        holder = a if seen_by_a["this_process"] else b
        assert seen_by_a["pid"] == holder.process.pid


def test_readiness_fields_never_replace_the_core_ones_nor_hold_the_answer(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector import service
    from tests.collector import component_slow_readiness as slow
    from tests.collector.harness import running_collector

    monkeypatch.setattr(service, "READINESS_TIMEOUT_S", 0.5)
    with running_collector(sqlite_url, tmp_path, components=[slow.__name__]) as collector:
        url = f"http://127.0.0.1:{collector.http_port}"
        data = _readyz(url)
        assert data["status"] == "ready" and data["probe"] == "here"
        assert any("store gone" in e for e in data["readiness_errors"])
        slow.HANG.set()
        try:
            data = _readyz(url)  # answered although one field hangs
            assert data["status"] == "ready"
            assert data["readiness_errors"] == ["no answer within 0.5s"]
        finally:
            slow.RELEASE.set()

"""The whole loop over real parts: a failed transaction in the store, a replay to the stand-in
engine's webhook, the engine reporting the re-driven transaction to a real collector over
OTLP/HTTP in the replayed trace, and the group showing it succeeded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from collector.config import load_collector_config
from collector.otlp_json import traces_from_json
from collector.service import Collector, CollectorThread, ServeOptions
from exceptions.config import parse
from exceptions.queue import refresh, replay
from exceptions.sqlstore import SqlExceptionStore
from exceptions.standin import Received, StandIn, post_replayed, replayed_span
from tests.collector.harness import wait_until
from tests.exceptions.support import T0, failed_charge
from tests.exceptions.test_queue import _route
from tests.support.factories import insert_spans
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.settings import Settings


def test_the_replayed_span_is_valid_otlp_in_the_replayed_trace() -> None:
    received = Received(
        "/webhook",
        {},
        {"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"},
        {"stage": "charge.post", "system": "erp", "trace_id": "ab" * 16, "span_id": "ef" * 8},
    )
    export = replayed_span(received, 1_780_000_000_000_000_000)
    assert export is not None
    request = traces_from_json(httpx.Request("POST", "/", json=export).content)
    (span,) = request.resource_spans[0].scope_spans[0].spans
    assert span.trace_id.hex() == "ab" * 16 and span.parent_span_id.hex() == "cd" * 8
    assert {a.key: a.value.string_value for a in span.attributes}["hc.stage"] == "charge.post"
    assert replayed_span(Received("/api/x", {}, {"traceparent": "bad"}), 0) is None


@pytest.mark.e2e
def test_a_replay_through_the_engine_comes_back_as_succeeded(tmp_path: Path, sqlite_url: str) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "collector.yaml").write_text(
        "redaction:\n  hash_secret: {value: loop-hash-secret-0123456789abcdef}\n"
    )
    engine = create_engine(sqlite_url)
    migrate(engine)
    # From 1: an all-zero trace id is not a valid one (the collector drops such spans).
    insert_spans(engine, [failed_charge(i, at=T0 + i) for i in range(1, 4)])
    options = ServeOptions(http_port=0, grpc_port=0, components=(), shutdown_timeout=10)
    thread = CollectorThread(
        Collector(Settings(sqlite_url, config_dir), load_collector_config(config_dir, {}), options)
    )
    collector = thread.start()
    exported: list[bool] = []

    def report(received: Received) -> None:
        exported.append(
            post_replayed(f"http://127.0.0.1:{collector.http_port}", received, int((T0 + 3700) * 1e9))
        )

    standin = StandIn(on_replay=report)
    url = standin.start()
    try:
        text = (
            "interfaces:\n  - name: c\n    stage: charge.post\n"
            f"    target: {{kind: webhook, url: '{url}/webhook'}}\n"
        )
        config = parse(text, tmp_path / "exceptions.yaml")
        store = SqlExceptionStore(engine)
        group = refresh(store, _route(), config, now=T0 + 3600)[0]
        assert replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3600).count("sent") == 3
        assert exported == [True, True, True]

        def decided() -> bool:
            return refresh(store, _route(), config, now=T0 + 3800)[0].succeeded == 3

        wait_until(decided, message="the replayed transactions stored and read back")
        after = refresh(store, _route(), config, now=T0 + 3800)[0]
        assert (after.replayed, after.succeeded, after.failed_again) == (3, 3, 0)
    finally:
        standin.stop()
        thread.stop()
        engine.dispose()


@pytest.mark.e2e
def test_the_standin_command_serves_until_stopped(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "vitals", "exceptions", "standin", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("stand-in engine on http://127.0.0.1:"), line
            base = line.split()[3].rstrip(":")
            headers = {"traceparent": "t"}
            answer = httpx.post(f"{base}/webhook", json={"stage": "x"}, headers=headers, trust_env=False)
            assert answer.status_code == 202
            assert "replay accepted: /webhook traceparent t" in process.stdout.readline()
        finally:
            process.terminate()
            process.wait(30)

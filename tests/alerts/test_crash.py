"""kill -9 of a dispatcher process in the middle of a delivery: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from alerts.sqlstore import SqlStore
from tests.alerts.conftest import SLACK_CONFIG, SlackPipeline
from tests.support.fake_slack import FakeSlack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def dispatcher(engine: Engine, config_dir: Path, fake: FakeSlack, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VITALS_DB": engine.url.render_as_string(hide_password=False),
        "VITALS_CONFIG": str(config_dir),
        "TEST_SLACK_TOKEN": fake.token,
        "TEST_FALLBACK_WEBHOOK": fake.webhook_url("alerts-fallback"),
    }
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "vitals", "alerts", "run", "--deliver-only"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait(predicate: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what()}")


def test_kill_9_mid_delivery_loses_nothing_and_sends_nothing_twice(
    engine: Engine, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    (tmp_path / "alerts.yaml").write_text(SLACK_CONFIG.format(api=fake_slack.api_url, fallback_after="10m"))
    pipeline = SlackPipeline(engine, fake_slack)
    pipeline.fire("gl-posting-errors", "charge-lag", "queue-stuck")  # three notifications in the outbox
    store = SqlStore(engine)
    keys = pipeline.keys()
    assert len(keys) == 3

    # Slack applies the first post but holds its answer: the dispatcher is mid-delivery.
    fake_slack.hold(["chat.postMessage"])
    first = dispatcher(engine, tmp_path, fake_slack, tmp_path / "first.log")
    try:
        wait(
            lambda: fake_slack.held >= 1,
            60,
            lambda: "the first post:\n" + (tmp_path / "first.log").read_text(),
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    fake_slack.release()
    assert len(fake_slack.channel_messages("integration-oncall")) == 1
    rows = {r.key: r for r in store.outbox_rows(None, 10)}
    in_flight = [r for r in rows.values() if r.status == "sending"]
    assert len(in_flight) == 1 and in_flight[0].attempt_started_at is not None  # the crash window

    second = dispatcher(engine, tmp_path, fake_slack, tmp_path / "second.log")
    try:
        wait(
            lambda: all(r.status == "sent" for r in store.outbox_rows(None, 10)),
            60,
            lambda: "every row to be sent:\n" + (tmp_path / "second.log").read_text(),
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    messages = fake_slack.channel_messages("integration-oncall")
    delivered = Counter(m.metadata["event_payload"]["key"] for m in messages if m.metadata)
    assert delivered == Counter(keys)  # every notification exactly once
    recovered = store.outbox_get(in_flight[0].key)
    assert (
        recovered is not None and recovered.result is not None and recovered.result.get("reconciled") is True
    )
    assert recovered.result["ts"] == next(
        m.ts for m in messages if m.metadata and m.metadata["event_payload"]["key"] == recovered.key
    )
    # the new dispatcher took the dead one's lease at once (its pid is gone) and asked Slack first
    assert fake_slack.calls_to("conversations.history")
    assert len([c for c in fake_slack.calls_to("chat.postMessage") if c.status == 200]) == 3

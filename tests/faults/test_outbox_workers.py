"""The outbox drained by two dispatchers over one PostgreSQL, one killed with SIGKILL mid-delivery.

Both ``vitals alerts run --deliver-only`` processes run at once and claim rows one by one. Slack
applies a post but holds its answer (the crash window: the message exists, the dispatcher does
not know); the dispatcher whose post is held is killed. The two look like two hosts
(``VITALS_LEASE_HOST``), so the survivor cannot see the dead pid and takes the row when its
lease (``delivery.lease``, 15 s here: longer than Slack's 10 s request timeout) runs out, asks
Slack whether the earlier attempt landed, and sends nothing twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from alerts.sqlstore import SqlStore
from tests.alerts.conftest import SLACK_CONFIG, SlackPipeline
from tests.faults.helpers import wait_for
from tests.support.fake_slack import FakeSlack
from vitals.kernel.db import create_engine, migrate

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
SLAS = ("gl-posting-errors", "charge-lag", "queue-stuck", "adt-silence", "claims-rejects", "eligibility")


def _dispatcher(url: str, config_dir: Path, fake: FakeSlack, host: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VITALS_DB": url,
        "VITALS_CONFIG": str(config_dir),
        "VITALS_LEASE_HOST": host,
        "TEST_SLACK_TOKEN": fake.token,
        "TEST_FALLBACK_WEBHOOK": fake.webhook_url("alerts-fallback"),
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "vitals", "alerts", "run", "--deliver-only"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def test_two_dispatchers_one_killed_mid_delivery_each_notification_once(pg_url: str, tmp_path: Path) -> None:
    engine: Engine = create_engine(pg_url)
    migrate(engine)
    with FakeSlack() as fake:
        config = SLACK_CONFIG.format(api=fake.api_url, fallback_after="10m").replace(
            "lease: 30s", "lease: 15s"
        )
        (tmp_path / "alerts.yaml").write_text(config)
        pipeline = SlackPipeline(engine, fake)
        pipeline.fire(*SLAS)
        keys = pipeline.keys()
        assert len(keys) == len(SLAS)
        store = SqlStore(engine)

        fake.hold(["chat.postMessage"])
        workers = {
            host: _dispatcher(pg_url, tmp_path, fake, host, tmp_path / f"{host}.log")
            for host in ("host-a", "host-b")
        }
        try:

            def held() -> bool:
                for host, process in workers.items():
                    if process.poll() is not None:
                        raise AssertionError((tmp_path / f"{host}.log").read_text())
                return fake.held >= 1

            wait_for(held, 60, "a post held by Slack")

            def in_flight() -> list[str]:
                return [r.lease_owner or "" for r in store.outbox_rows(None, 100) if r.status == "sending"]

            wait_for(lambda: bool(in_flight()), 30, "a row being sent")
            victim = in_flight()[0].split(":")[0]
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(10)
            killed = time.monotonic()
            fake.release()
            survivor = workers["host-b" if victim == "host-a" else "host-a"]
            wait_for(
                lambda: all(r.status == "sent" for r in store.outbox_rows(None, 100)),
                90,
                "every row sent by the survivor",
            )
            drained = time.monotonic() - killed
        finally:
            for process in workers.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        process.kill()
        assert survivor.returncode in (0, -signal.SIGTERM)
        messages = fake.channel_messages("integration-oncall")
        delivered = Counter(m.metadata["event_payload"]["key"] for m in messages if m.metadata)
        assert delivered == Counter(keys)  # each notification exactly once, none lost
        assert fake.channel_messages("alerts-fallback") == []
        assert len([c for c in fake.calls_to("chat.postMessage") if c.status == 200]) == len(SLAS)
        reconciled = [r for r in store.outbox_rows(None, 100) if r.result and r.result.get("reconciled")]
        print(
            f"\noutbox: {len(SLAS)} notifications, dispatcher on {victim} killed mid-post; the other "
            f"drained the rest in {drained:.1f}s, {len(reconciled)} found already posted (not re-sent)"
        )
    engine.dispose()

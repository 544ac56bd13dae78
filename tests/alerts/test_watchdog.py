"""The SLA engine's watchdog: evaluations stop -> one page to the fallback receiver; resume -> resolved."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from alerts import config
from alerts.config import WatchdogSettings
from alerts.dispatcher import Dispatcher
from alerts.senders import MemorySender
from alerts.service import AlertsService, engine_interval
from alerts.store import MemoryStore
from alerts.watchdog import STATE, Watchdog, limit_s, receiver_of, stopped
from tests.alerts.conftest import SLACK_CONFIG
from tests.alerts.factories import T0, evaluation, insert_evaluations
from tests.alerts.harness import FakeClock
from tests.support.fake_slack import FakeSlack
from vitals.kernel.configfile import ConfigError

INTERVAL = 30.0  # the SLA engine's evaluation.interval
LIMIT = 3 * INTERVAL + 60.0  # the default watchdog: 3 intervals plus a minute

MEMORY_CONFIG = """
route:
  receiver: oncall
receivers:
  - name: oncall
    fallback: backstop
    webhook_configs: [{url: 'http://127.0.0.1:9/oncall', send_resolved: true}]
  - name: backstop
    webhook_configs: [{url: 'http://127.0.0.1:9/backstop', send_resolved: true}]
"""


# --- the pure decision ---------------------------------------------------------------------------


def test_evaluations_count_as_stopped_once_the_newest_is_older_than_the_limit() -> None:
    assert limit_s(WatchdogSettings(), INTERVAL) == LIMIT
    assert limit_s(WatchdogSettings(intervals=2, margin=0), 60.0) == 120.0
    assert not stopped(T0, T0 - 3600, T0 + LIMIT, LIMIT)
    assert stopped(T0, T0 - 3600, T0 + LIMIT + 1, LIMIT)


def test_a_fresh_start_gives_the_engine_the_same_grace() -> None:
    # No evaluation yet, or only old ones (after a downtime): counted from the start of watching.
    assert not stopped(None, T0, T0 + LIMIT, LIMIT)
    assert stopped(None, T0, T0 + LIMIT + 1, LIMIT)
    assert not stopped(T0 - 86400, T0, T0 + 10, LIMIT)
    assert stopped(T0 - 86400, T0, T0 + LIMIT + 1, LIMIT)


def test_the_watchdog_tells_the_fallback_of_the_root_receiver_unless_configured() -> None:
    parsed = config.parse(MEMORY_CONFIG)
    assert receiver_of(parsed) == "backstop"
    assert receiver_of(config.parse(config.DEFAULT_TEXT)) == "console"  # no fallback: the root's
    chosen = config.AlertsConfig(
        route=parsed.route, receivers=parsed.receivers, watchdog=WatchdogSettings(receiver="oncall")
    )
    assert receiver_of(chosen) == "oncall"


# --- the edge on the in-memory store ---------------------------------------------------------------


class Evaluations:
    """The newest SLA evaluation, as the test sets it."""

    def __init__(self) -> None:
        self.newest: float | None = None

    def __call__(self) -> float | None:
        return self.newest


def test_stopped_then_resumed_is_one_page_and_one_resolution_through_the_outbox() -> None:
    clock = FakeClock(T0)
    store = MemoryStore()
    parsed = config.parse(MEMORY_CONFIG)
    evaluations = Evaluations()
    evaluations.newest = T0
    watchdog = Watchdog(store, lambda: parsed, evaluations, INTERVAL, watching_since=T0)
    sender = MemorySender()
    dispatcher = Dispatcher(store, lambda: parsed, lambda integration: sender, clock=clock, sleep=clock.sleep)

    def cycle(at: float) -> None:
        clock.now = at
        watchdog.check(at)
        dispatcher.run_once(budget=5.0)

    for offset in range(0, int(LIMIT) + 1, 5):  # the engine stopped after T0: within the limit
        cycle(T0 + offset)
    assert sender.delivered == []
    for offset in range(int(LIMIT) + 5, 1200, 5):  # stopped: one page, however many cycles
        cycle(T0 + offset)
    (page,) = sender.delivered
    assert page.item.receiver == "backstop"
    n = page.item.notification
    assert (n.kind, n.status) == ("firing", "firing")
    assert "no SLA evaluation since 2026-05-28" in n.note
    assert store.get_state(STATE)["firing"] is True
    assert watchdog.readiness()["sla_watchdog"] == {
        "enabled": True,
        "firing": True,
        "evaluations_stopped_since": "2026-05-28 20:26 UTC",
        "fired_at": "2026-05-28 20:29 UTC",
        "limit_s": LIMIT,
        "receiver": "backstop",
    }

    for offset in range(1200, 1500, 5):  # the engine evaluates again, every cycle
        evaluations.newest = T0 + offset
        cycle(T0 + offset)
    assert [d.item.notification.kind for d in sender.delivered] == ["firing", "resolved"]
    assert watchdog.readiness()["sla_watchdog"]["firing"] is False
    resolved = sender.delivered[1].item
    assert resolved.receiver == "backstop" and resolved.notification.status == "resolved"
    assert "resumed" in resolved.notification.note

    # Stopping again is a new episode: a new page, not a duplicate of the first.
    for offset in range(1500, 1500 + int(LIMIT) + 30, 5):
        cycle(T0 + offset)
    assert [d.item.notification.kind for d in sender.delivered] == ["firing", "resolved", "firing"]
    assert len({d.item.key for d in sender.delivered}) == 3


def test_a_cycle_repeated_after_a_crash_enqueues_nothing_twice() -> None:
    store = MemoryStore()
    parsed = config.parse(MEMORY_CONFIG)
    watchdog = Watchdog(store, lambda: parsed, lambda: T0, INTERVAL, watching_since=T0)
    assert watchdog.check(T0 + LIMIT + 1) is not None
    # The process died after enqueuing and before remembering it (or another process planned too).
    store.set_state(STATE, None, T0)
    assert watchdog.check(T0 + LIMIT + 6) is not None
    assert len(store.outbox_rows(None, 100)) == 1


def test_switched_off_it_stays_silent() -> None:
    store = MemoryStore()
    parsed = config.parse(MEMORY_CONFIG)
    off = config.AlertsConfig(
        route=parsed.route, receivers=parsed.receivers, watchdog=WatchdogSettings(enabled=False)
    )
    watchdog = Watchdog(store, lambda: off, lambda: None, INTERVAL, watching_since=T0)
    assert watchdog.check(T0 + 86400) is None
    assert store.outbox_rows(None, 100) == []


# --- the alerts service on SQLite, delivering to a fake Slack --------------------------------------


def test_the_alerts_cycle_pages_the_fallback_channel_once_and_resolves(
    engine: Engine, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    (tmp_path / "alerts.yaml").write_text(SLACK_CONFIG.format(api=fake_slack.api_url, fallback_after="60s"))
    environ = {
        "TEST_SLACK_TOKEN": fake_slack.token,
        "TEST_FALLBACK_WEBHOOK": fake_slack.webhook_url("alerts-fallback"),
    }
    clock = FakeClock(T0)
    stop = threading.Event()
    service = AlertsService(
        engine, tmp_path, clock=clock, environ=environ, stop=stop, watch_evaluations=INTERVAL
    )
    insert_evaluations(engine, [evaluation(at=T0, firing=False)])

    def cycle(at: float) -> None:
        clock.now = at
        service.cycle()
        service.deliver(budget=5.0)

    for offset in (0, 30, 60, 120, LIMIT):
        cycle(T0 + offset)
    assert fake_slack.all_messages() == []
    for offset in (LIMIT + 5, 300, 600, 900):  # stopped
        cycle(T0 + offset)
    (page,) = fake_slack.channel_messages("alerts-fallback")
    assert "SLA evaluations have stopped" in page.text
    assert "no SLA evaluation since 2026-05-28" in page.text
    assert "observed" not in page.text and "objective" not in page.text  # no SLA figures to show
    assert fake_slack.channel_messages("integration-oncall") == []

    insert_evaluations(engine, [evaluation(at=T0 + 930, firing=False)])  # resumed
    for offset in (935, 960, 990):
        cycle(T0 + offset)
    first, resolved = fake_slack.channel_messages("alerts-fallback")
    assert first.ts == page.ts
    assert resolved.text.startswith("[RESOLVED]") and "resumed" in resolved.text
    assert fake_slack.channel_messages("integration-oncall") == []
    stop.set()


def test_no_slas_no_watchdog(tmp_path: Path) -> None:
    assert engine_interval(tmp_path) is None


def test_alerts_yaml_sets_the_watchdog_and_names_a_missing_receiver() -> None:
    text = """
route: {receiver: console}
receivers:
  - name: console
    console_configs: [{}]
  - name: platform
    console_configs: [{}]
alerting:
  watchdog: {intervals: 2, margin: 30s, receiver: platform}
"""
    got = config.parse(text, read_secrets=False).watchdog
    assert got == WatchdogSettings(enabled=True, intervals=2.0, margin=30.0, receiver="platform")
    off = config.parse(text.replace("receiver: platform", "enabled: false"), read_secrets=False)
    assert off.watchdog == WatchdogSettings(enabled=False, intervals=2.0, margin=30.0)
    with pytest.raises(ConfigError) as caught:
        config.parse(text.replace("receiver: platform}", "receiver: nobody}"), read_secrets=False)
    said = "alerts.yaml:9: alerting.watchdog.receiver: watchdog receiver 'nobody' is not defined"
    assert said in str(caught.value)

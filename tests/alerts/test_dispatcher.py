"""The dispatcher on the in-memory store with a controllable clock and scripted receivers."""

from __future__ import annotations

from dataclasses import replace

from alerts.dispatcher import Dispatcher
from alerts.outbox import integration_of
from alerts.senders import Delivery, DeliveryError, MemorySender
from tests.alerts.factories import T0, burn
from tests.alerts.harness import Harness

CONFIG = """
route:
  receiver: oncall
  group_by: [sla]
  group_wait: 30s
  group_interval: 5m
receivers:
  - name: oncall
    fallback: backup
    slack_configs:
      - channel: '#integration-oncall'
        api_url: https://slack.com/api/chat.postMessage
        send_resolved: true
        http_config: {authorization: {credentials: xoxb-never-used}}
  - name: backup
    console_configs: [{}]
alerting:
  objective_alerts: false
  stale_after: null
delivery:
  pace: 1s
  retry_initial: 2s
  retry_max: 60s
  fallback_after: 2m
  give_up_after: 1h
"""

PAGE = [burn("1h/5m", firing=True)]
#: A second facility's alert: it joins the SLA's incident (group_by: [sla]).
SOUTH_TOO = {"south_campus": PAGE}


class Setup:
    def __init__(self, text: str = CONFIG) -> None:
        self.h = Harness(text)
        self.oncall = MemorySender()
        self.backup = MemorySender()
        self.dispatcher = self.make()

    def make(self, owner: str | None = None) -> Dispatcher:
        senders = {"oncall": self.oncall, "backup": self.backup}
        return Dispatcher(
            self.h.store,
            lambda: self.h.config,
            lambda integration: senders[integration.receiver],
            clock=self.h.clock,
            sleep=self.h.clock.sleep,
            owner=owner,
        )

    def fire(self) -> None:
        self.h.set(PAGE)
        self.h.run(30)

    def statuses(self) -> list[tuple[str, str]]:
        return [(r.receiver, r.status) for _, r in sorted(self.h.store.outbox.items())]


def test_retries_with_backoff_until_delivered_once() -> None:
    s = Setup()
    s.fire()
    s.oncall.failures = [
        DeliveryError("HTTP 500"),
        DeliveryError("HTTP 502"),
        DeliveryError("connection reset"),
    ]
    stats = s.dispatcher.drain(300)
    assert stats.retried == 3 and stats.sent == 1
    assert len(s.oncall.delivered) == 1 and s.statuses() == [("oncall", "sent")]
    (row,) = s.h.store.outbox.values()
    assert row.attempts == 4 and row.result == {"channel": "CMEMORY", "ts": "1.000000"}
    # 2 s, 4 s, 8 s (+-20 %) of backoff passed on the fake clock
    assert row.sent_at is not None and row.first_failure_at is not None
    assert 14 * 0.8 <= row.sent_at - row.first_failure_at <= 14 * 1.2 + 0.01


def test_retry_after_is_honoured() -> None:
    s = Setup()
    s.fire()
    s.oncall.failures = [DeliveryError("429", rate_limited=True, retry_after=7)]
    start = s.h.clock.now
    s.dispatcher.drain(60)
    (row,) = s.h.store.outbox.values()
    assert row.status == "sent" and row.sent_at is not None
    assert row.sent_at - start >= 7
    assert row.first_failure_at is None  # a rate limit is not a failure of the receiver


def test_a_receiver_that_stays_down_fails_over_to_its_fallback() -> None:
    s = Setup()
    s.fire()
    s.oncall.failures = [DeliveryError("HTTP 503")] * 100
    stats = s.dispatcher.drain(600)
    assert stats.failed_over == 1
    assert s.statuses() == [("oncall", "failed_over"), ("backup", "sent")]
    (delivered,) = s.backup.delivered
    assert delivered.item.notification.via_fallback_of == "oncall"
    assert delivered.item.key.endswith(">backup/console_configs[0]")
    failed = next(r for r in s.h.store.outbox.values() if r.receiver == "oncall")
    assert failed.first_failure_at is not None
    assert delivered.item.created_at - failed.first_failure_at >= 120  # fallback_after
    assert s.oncall.delivered == []


def test_later_notifications_skip_straight_to_the_fallback_while_down() -> None:
    s = Setup()
    s.fire()
    s.oncall.failures = [DeliveryError("HTTP 503")] * 100
    s.dispatcher.drain(600)
    attempts_before = 100 - len(s.oncall.failures)
    s.h.set(PAGE, **SOUTH_TOO)
    s.h.run(s.h.clock.now - T0 + 400)  # south joins: update + reply planned for oncall
    s.dispatcher.drain(60)
    # one probe of the dead receiver (it failed), nothing else was tried there
    assert 100 - len(s.oncall.failures) == attempts_before + 1
    # the reply went to the fallback; the in-place update of a message that never arrived did not
    assert [r.notification.kind for r in s.h.store.outbox.values() if r.receiver == "backup"] == [
        "firing",
        "firing",
    ]
    assert ("oncall", "skipped") in s.statuses()


def test_a_refused_payload_fails_over_at_once_and_without_fallback_is_dead() -> None:
    s = Setup()
    s.fire()
    s.oncall.failures = [DeliveryError("invalid_blocks", retryable=False)]
    s.dispatcher.drain(60)
    assert s.statuses() == [("oncall", "failed_over"), ("backup", "sent")]
    lonely = Setup(CONFIG.replace("    fallback: backup\n", ""))
    lonely.fire()
    lonely.oncall.failures = [DeliveryError("invalid_blocks", retryable=False)]
    stats = lonely.dispatcher.drain(60)
    assert stats.dead == 1 and lonely.statuses() == [("oncall", "dead")]


def test_gives_up_after_give_up_after_without_fallback() -> None:
    s = Setup(CONFIG.replace("    fallback: backup\n", ""))
    s.fire()
    s.oncall.failures = [DeliveryError("HTTP 500")] * 1000
    s.dispatcher.drain(7200, budget=600)
    (row,) = s.h.store.outbox.values()
    assert row.status == "dead" and row.last_error is not None and "gave up" in row.last_error


def test_rows_of_a_lane_go_in_order_and_paced() -> None:
    s = Setup()
    s.h.set(PAGE)
    s.h.run(60)
    s.h.set(PAGE, **SOUTH_TOO)
    s.h.run(400)  # post, then update + reply on the same channel
    s.dispatcher.drain(60)
    actions = [d.action for d in s.oncall.delivered]
    assert actions == ["post", "update", "reply"]
    times: list[float] = []
    for _, row in sorted(s.h.store.outbox.items()):
        assert row.sent_at is not None
        times.append(row.sent_at)
    # the update and reply were due together; the second waited for the 1 s pace
    assert times[2] - times[1] >= 1.0
    # replies and updates found their parent's ts
    assert all(d.parent == {"channel": "CMEMORY", "ts": "1.000000"} for d in s.oncall.delivered[1:])


def test_an_older_update_is_superseded_by_a_newer_one() -> None:
    s = Setup()
    s.fire()
    s.dispatcher.drain(10)
    s.h.ack("1h/5m")
    s.h.run(s.h.clock.now - T0 + 5)  # update: acknowledged
    s.h.store.alerts = {
        fp: replace(a, acknowledged_by="ivan") for fp, a in s.h.store.alerts.items()
    }  # another state change
    s.h.run(s.h.clock.now - T0 + 5)  # a second update before the first was sent
    s.dispatcher.drain(10)
    assert [d.action for d in s.oncall.delivered] == ["post", "update"]
    assert [r.status for _, r in sorted(s.h.store.outbox.items())] == ["sent", "skipped", "sent"]
    assert s.oncall.delivered[-1].item.notification.alerts[0].acknowledged_by == "ivan"


def test_a_crash_after_sending_is_reconciled_not_resent() -> None:
    s = Setup()
    s.fire()
    (row,) = s.h.store.outbox.values()
    # a dispatcher (pid 1 on another machine) claimed it, recorded the attempt, sent, then died
    claimed = s.h.store.outbox_claim(row, "elsewhere:1:dead", s.h.clock.now, 60)
    assert claimed is not None
    started = s.h.store.outbox_start_attempt(claimed, s.h.clock.now)
    integration = integration_of(s.h.config.receivers, started)
    assert integration is not None
    s.oncall.applied.append(Delivery(started, integration, "post"))  # Slack got it
    survivor = s.make()
    assert survivor.run_once(5).total() == 0  # the lease is still held: hands off
    s.h.clock.advance(61)
    stats = survivor.drain(30)
    assert stats.reconciled == 1 and stats.sent == 0
    assert s.oncall.delivered == []  # not sent a second time
    done = s.h.store.outbox_get(row.key)
    assert (
        done is not None and done.status == "sent" and done.result is not None and done.result["reconciled"]
    )


def test_a_crash_before_sending_is_sent_after_the_lease() -> None:
    s = Setup()
    s.fire()
    (row,) = s.h.store.outbox.values()
    claimed = s.h.store.outbox_claim(row, "elsewhere:1:dead", s.h.clock.now, 60)
    assert claimed is not None
    s.h.store.outbox_start_attempt(claimed, s.h.clock.now)  # recorded, but never reached Slack
    s.h.clock.advance(61)
    stats = s.make().drain(30)
    assert stats.sent == 1 and stats.reconciled == 0
    assert len(s.oncall.delivered) == 1


def test_an_unexpected_error_is_retried_not_left_hanging() -> None:
    s = Setup()
    s.fire()

    class Broken(MemorySender):
        calls = 0

        def send(self, delivery: Delivery) -> dict[str, str]:
            Broken.calls += 1
            if Broken.calls == 1:
                raise KeyError("a bug")
            return dict(super().send(delivery))

    s.oncall = Broken()
    s.dispatcher = s.make()
    stats = s.dispatcher.drain(60)
    assert stats.retried == 1 and stats.reconciled == 0 and stats.sent == 1
    (row,) = s.h.store.outbox.values()
    assert row.status == "sent" and row.attempts == 2

"""Outages against the fake Slack on a fake clock: the primary comes back, look-ups back off.

Real slack_sdk clients over real sockets; only time is fake (the dispatcher's clock and sleep),
so two minutes of an outage take milliseconds and the counts are exact.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy.engine import Engine

from alerts import config
from alerts.dispatcher import Dispatcher
from alerts.outbox import OutboxItem
from alerts.senders import SenderFactory
from tests.alerts.conftest import SlackPipeline
from tests.alerts.factories import burn, evaluation, insert_evaluations
from tests.alerts.scoped_slack import ScopedSlack

pytestmark = pytest.mark.e2e


@pytest.fixture
def slack() -> Iterator[ScopedSlack]:
    with ScopedSlack() as fake:
        yield fake


def on_fake_time(p: SlackPipeline) -> Dispatcher:
    return Dispatcher(
        p.store,
        lambda: p.config,
        SenderFactory(clock=p.clock),
        clock=p.clock,
        sleep=p.clock.sleep,
        rng=random.Random(11),
    )


def fire(p: SlackPipeline, sla: str) -> None:
    """A new alert (its own group) now, on the pipeline's clock."""
    insert_evaluations(p.engine, [evaluation(at=p.clock.now, sla_id=sla, burn_rates=[burn(firing=True)])])
    p.alerting.evaluate()
    p.alerting.plan()


def where(p: SlackPipeline) -> list[tuple[str, str, str]]:
    rows = sorted(p.store.outbox_rows(None, 100), key=lambda r: r.id or 0)
    return [(r.notification.group_labels["sla"], r.receiver, r.status) for r in rows]


def crashed_mid_send(p: SlackPipeline, row: OutboxItem) -> None:
    """A dispatcher on another host claimed the row, recorded its attempt and died."""
    claimed = p.store.outbox_claim(row, "elsewhere:1:dead", p.clock.now, 30)
    assert claimed is not None
    p.store.outbox_start_attempt(claimed, p.clock.now)
    p.clock.advance(31)  # its lease lapses


def test_the_primary_gets_its_notifications_back_once_slack_answers(
    engine: Engine, slack: ScopedSlack
) -> None:
    p = SlackPipeline(engine, slack, fallback_after="60s")
    dispatcher = on_fake_time(p)
    slack.fail_next(10**6, status=503, error="service_unavailable", methods=["chat.postMessage"])
    fire(p, "first")
    dispatcher.drain(600)
    assert where(p) == [("first", "oncall", "failed_over"), ("first", "fallback", "sent")]

    p.clock.advance(60)
    posts = len(slack.calls_to("chat.postMessage"))
    fire(p, "second")  # still down: this one probes the primary, then goes to the fallback at once
    dispatcher.drain(600)
    assert len(slack.calls_to("chat.postMessage")) == posts + 1
    assert where(p)[2:] == [("second", "oncall", "failed_over"), ("second", "fallback", "sent")]

    slack.heal()
    p.clock.advance(60)
    fire(p, "third")  # the next probe arrives: the receiver is back
    dispatcher.drain(600)
    p.clock.advance(60)
    fire(p, "fourth")
    dispatcher.drain(600)
    assert where(p)[4:] == [("third", "oncall", "sent"), ("fourth", "oncall", "sent")]
    assert len(slack.channel_messages("integration-oncall")) == 2
    assert len(slack.channel_messages("alerts-fallback")) == 2


def test_while_slack_is_down_the_look_ups_of_an_earlier_attempt_back_off(
    engine: Engine, slack: ScopedSlack
) -> None:
    p = SlackPipeline(engine, slack)
    p.config = replace(
        p.config,
        delivery=replace(p.config.delivery, retry_initial=2.0, retry_max=300.0, fallback_after=3600.0),
    )
    dispatcher = on_fake_time(p)
    fire(p, "gl-posting-errors")
    (row,) = p.store.outbox_rows(None, 10)
    crashed_mid_send(p, row)
    slack.fail_next(10**6, status=503, error="service_unavailable")  # every method
    dispatcher.drain(120, budget=120)
    lookups = slack.calls_to("conversations.list")
    # 2 s doubling (+-20 %): 2, 4, 8, 16, 32, 64 s; without backoff it was one every 2 s (~60)
    assert 4 <= len(lookups) <= 8, len(lookups)
    assert slack.calls_to("chat.postMessage") == []  # never re-sent blind

    slack.heal()
    dispatcher.drain(600)
    (message,) = slack.channel_messages("integration-oncall")
    assert message.metadata is not None and message.metadata["event_payload"]["key"] == row.key


TWO_CHANNELS = """
route:
  receiver: oncall
  group_by: [sla]
  group_wait: 0s
receivers:
  - name: oncall
    slack_configs:
      - channel: '#integration-oncall'
        api_url: {api}chat.postMessage
        http_config: {{authorization: {{credentials: {{env: TEST_SLACK_TOKEN}}}}}}
      - channel: '#oncall-lead'
        api_url: {api}chat.postMessage
        http_config: {{authorization: {{credentials: {{env: TEST_SLACK_TOKEN}}}}}}
alerting: {{objective_alerts: false, stale_after: null}}
delivery: {{pace: 1s, retry_initial: 2s, retry_max: 5m, fallback_after: 1h, lease: 30s}}
"""


def test_a_rate_limited_look_up_holds_that_method_back_for_every_channel_of_the_workspace(
    engine: Engine, slack: ScopedSlack
) -> None:
    p = SlackPipeline(engine, slack)
    p.config = config.parse(TWO_CHANNELS.format(api=slack.api_url), environ={"TEST_SLACK_TOKEN": slack.token})
    dispatcher = on_fake_time(p)
    fire(p, "gl-posting-errors")
    rows = p.store.outbox_rows(None, 10)
    assert len(rows) == 2
    for row in rows:
        crashed_mid_send(p, row)
    slack.rate_limit_next(1, retry_after=30, methods=["conversations.list"])
    dispatcher.drain(600)
    # one 429, then one look-up after Retry-After that found both channels (not one per channel)
    assert [c.status for c in slack.calls_to("conversations.list")] == [429, 200]
    for channel in ("integration-oncall", "oncall-lead"):
        assert len(slack.channel_messages(channel)) == 1

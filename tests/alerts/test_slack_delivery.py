"""The real slack_sdk clients against the fake Slack: threads, updates, faults, pacing, fallback."""

from __future__ import annotations

import itertools
import threading
from collections import Counter

import pytest

from alerts import actions
from tests.alerts.conftest import SlackPipeline
from tests.support.fake_slack import FakeSlack, Message

pytestmark = pytest.mark.e2e


def keys_of(messages: list[Message]) -> list[str]:
    return [m.metadata["event_payload"]["key"] for m in messages if m.metadata]


def test_post_update_in_place_and_thread_follow_ups(pipeline: SlackPipeline, fake_slack: FakeSlack) -> None:
    pipeline.fire("gl-posting-errors")
    assert pipeline.dispatcher.drain(30).sent == 1
    (parent,) = fake_slack.channel_messages("integration-oncall")
    assert parent.metadata is not None and parent.metadata["event_type"] == "vitals_notification"
    assert parent.blocks[0]["type"] == "header" and "GL postings succeed" in parent.blocks[0]["text"]["text"]
    assert "[FIRING] P1" in parent.text and "observed 97.80% vs objective 99.50%" in parent.text
    row = pipeline.store.outbox_get(pipeline.keys()[0])
    assert row is not None and row.result == {"channel": parent.channel, "ts": parent.ts}

    # acknowledged from the CLI: the same message is updated in place
    (alert,) = pipeline.store.open_alerts()
    actions.acknowledge(
        pipeline.store, alert.fingerprint, "alice", "on it", source="cli", now=pipeline.clock.now + 5
    )
    pipeline.clock.advance(10)
    pipeline.alerting.plan()
    assert pipeline.dispatcher.drain(30).sent == 1
    (update,) = fake_slack.calls_to("chat.update")
    assert update.args["ts"] == parent.ts and update.args["channel"] == parent.channel
    assert "Acknowledged by alice" in str(update.args["blocks"])
    assert fake_slack.channel_messages("integration-oncall")[0].edited == 1

    # resolution: updated in place at once, and a follow-up in the thread at the next flush
    pipeline.fire("gl-posting-errors", firing=False, offset=60)
    pipeline.clock.advance(600)
    pipeline.alerting.evaluate()
    pipeline.alerting.plan()
    pipeline.clock.now += 300
    pipeline.alerting.plan()
    pipeline.dispatcher.drain(30)
    messages = fake_slack.channel_messages("integration-oncall")
    assert len(messages) == 2
    reply = messages[1]
    assert reply.thread_ts == parent.ts and not reply.reply_broadcast
    assert "Resolved" in str(reply.blocks)
    assert fake_slack.channel_messages("integration-oncall")[0].edited == 2
    assert "RESOLVED" in fake_slack.channel_messages("integration-oncall")[0].text
    assert [c.method for c in fake_slack.calls] == [
        "chat.postMessage",
        "chat.update",
        "chat.update",
        "chat.postMessage",
    ]


def test_500s_and_429_are_retried_and_each_notification_arrives_exactly_once(
    pipeline: SlackPipeline, fake_slack: FakeSlack
) -> None:
    slas = ["gl-posting-errors", "charge-lag", "queue-stuck"]
    pipeline.fire(*slas)
    fake_slack.fail_next(3, status=500, methods=["chat.postMessage"])
    fake_slack.rate_limit_next(1, retry_after=2, methods=["chat.postMessage"])
    stats = pipeline.dispatcher.drain(60)
    assert stats.sent == 3
    messages = fake_slack.channel_messages("integration-oncall")
    assert Counter(keys_of(messages)) == Counter(pipeline.keys())  # each exactly once
    assert {m.text.splitlines()[0] for m in messages} == {
        "[FIRING] P1 GL postings succeed",
    }  # same title in every test evaluation; three distinct groups
    posts = fake_slack.calls_to("chat.postMessage")
    statuses = [c.status for c in posts]
    assert statuses[:4] == [500, 500, 500, 429] and statuses[4:] == [200, 200, 200]
    # after a 500 the outcome is unknown: the channel history was checked before re-sending
    assert fake_slack.calls_to("conversations.history")
    # Retry-After: 2 was honoured
    assert posts[4].at - posts[3].at >= 2.0


def test_posts_to_one_channel_are_paced(pipeline: SlackPipeline, fake_slack: FakeSlack) -> None:
    pipeline.fire("a", "b", "c", "d")
    pipeline.dispatcher.drain(60)
    posts = [c for c in fake_slack.calls_to("chat.postMessage") if c.status == 200]
    assert len(posts) == 4
    gaps = [b.at - a.at for a, b in itertools.pairwise(posts)]
    assert min(gaps) >= 0.95  # about one per second per channel, never faster


def test_a_down_period_loses_and_doubles_nothing(pipeline: SlackPipeline, fake_slack: FakeSlack) -> None:
    fake_slack.go_down()
    pipeline.fire("gl-posting-errors", "charge-lag")
    done = threading.Event()
    result: dict[str, int] = {}

    def deliver() -> None:
        result["sent"] = pipeline.dispatcher.drain(90).sent
        done.set()

    worker = threading.Thread(target=deliver)
    worker.start()
    # wait until the dispatcher has failed against the closed port at least twice
    fake_slack.wait_for(
        lambda: any(
            r.attempts >= 2 and "refused" in (r.last_error or "")
            for r in pipeline.store.outbox_rows(None, 10)
        ),
        what="failed attempts while Slack is down",
    )
    assert fake_slack.calls == []
    fake_slack.come_up()
    assert done.wait(90)
    worker.join()
    assert result["sent"] == 2
    messages = fake_slack.channel_messages("integration-oncall")
    assert Counter(keys_of(messages)) == Counter(pipeline.keys())
    assert len(messages) == 2


def test_a_receiver_that_stays_down_fails_over_to_the_fallback_webhook(
    engine: object, fake_slack: FakeSlack
) -> None:
    from sqlalchemy.engine import Engine

    assert isinstance(engine, Engine)
    pipeline = SlackPipeline(engine, fake_slack, fallback_after="2s")
    fake_slack.fail_next(1000, status=503, error="service_unavailable", methods=["chat.postMessage"])
    pipeline.fire("gl-posting-errors")
    stats = pipeline.dispatcher.drain(60)
    assert stats.failed_over == 1 and stats.sent == 1
    assert fake_slack.channel_messages("integration-oncall") == []
    (fallback,) = fake_slack.channel_messages("alerts-fallback")
    assert fallback.via == "webhook"
    assert "Delivered here because receiver *oncall* is unreachable" in str(fallback.blocks)
    rows = {r.receiver: r for r in pipeline.store.outbox_rows(None, 10)}
    assert rows["oncall"].status == "failed_over" and rows["fallback"].status == "sent"
    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) >= 2 and posts[-1].at - posts[0].at < 10  # it kept trying until fallback_after


def test_incoming_webhook_429_is_honoured(engine: object, fake_slack: FakeSlack) -> None:
    from sqlalchemy.engine import Engine

    assert isinstance(engine, Engine)
    pipeline = SlackPipeline(engine, fake_slack, fallback_after="1s")
    fake_slack.fail_next(1000, status=503, error="service_unavailable", methods=["chat.postMessage"])
    fake_slack.rate_limit_next(1, retry_after=1, methods=["webhook"])
    pipeline.fire("gl-posting-errors")
    pipeline.dispatcher.drain(60)
    hooks = fake_slack.calls_to("webhook")
    assert [c.status for c in hooks] == [429, 200]
    assert hooks[1].at - hooks[0].at >= 1.0
    assert len(fake_slack.channel_messages("alerts-fallback")) == 1

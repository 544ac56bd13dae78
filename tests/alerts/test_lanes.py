"""Delivery lanes against the fake Slack: pacing shared by dispatchers, channels independent.

Issue #13: several delivery processes on one outbox each paced on their own (7 posts reached one
channel in 2 s), and one hung Slack request held every other channel's deliveries for its
timeout.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from alerts import config
from alerts.dispatcher import Dispatcher
from alerts.senders import Delivery, Sender, SenderFactory
from alerts.sqlstore import SqlStore
from tests.alerts.conftest import SLACK_CONFIG, SlackPipeline
from tests.alerts.factories import T0
from tests.alerts.harness import HangingSlack
from tests.support.fake_slack import FakeSlack

PACE = 1.0


# --- the store's send slots ------------------------------------------------------------------


def test_send_slots_are_shared_and_never_closer_than_the_pace(engine: Engine) -> None:
    """Two writers taking slots of one lane at the same instant get distinct slots, a pace apart."""
    stores = [SqlStore(engine), SqlStore(engine)]
    slots: list[float] = []
    lock = threading.Lock()

    def take(store: SqlStore) -> None:
        for _ in range(8):
            slot = store.pace_take("slack:ws:integration-oncall", T0, PACE)
            with lock:
                slots.append(slot)

    workers = [threading.Thread(target=take, args=(s,)) for s in stores]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert sorted(slots) == [T0 + k * PACE for k in range(16)]
    # another lane is not held back by this one
    assert stores[0].pace_take("slack:ws:oncall-lead", T0, PACE) == T0
    # a slot is never in the past: an idle lane's next request may go at once
    assert stores[1].pace_take("slack:ws:oncall-lead", T0 + 100, PACE) == T0 + 100


def test_retry_after_holds_the_lane_back_for_every_dispatcher(engine: Engine) -> None:
    store = SqlStore(engine)
    store.pace_block("slack:ws:integration-oncall", T0 + 30)  # no row yet: created
    assert SqlStore(engine).pace_take("slack:ws:integration-oncall", T0, PACE) == T0 + 30
    store.pace_block("slack:ws:integration-oncall", T0 + 5)  # never moves a lane forward
    assert store.pace_take("slack:ws:integration-oncall", T0, PACE) == T0 + 30 + PACE


# --- two dispatchers on one outbox -----------------------------------------------------------


class SlotLog(SqlStore):
    """The SQL store, noting every send slot it hands out."""

    def __init__(self, engine: Engine, slots: list[tuple[str, float]], lock: threading.Lock) -> None:
        super().__init__(engine)
        self.slots = slots
        self.lock = lock

    def pace_take(self, lane: str, now: float, pace: float) -> float:
        slot = super().pace_take(lane, now, pace)
        with self.lock:
            self.slots.append((lane, slot))
        return slot


class Stamped:
    """A sender that notes when each request leaves, on the dispatcher's clock."""

    def __init__(
        self, inner: Sender, clock: Callable[[], float], sent: list[tuple[str, float]], lock: threading.Lock
    ) -> None:
        self.inner = inner
        self.clock = clock
        self.sent = sent
        self.lock = lock

    def send(self, delivery: Delivery) -> Mapping[str, Any]:
        with self.lock:
            self.sent.append((delivery.item.target, self.clock()))
        return self.inner.send(delivery)

    def reconcile(self, delivery: Delivery, since: float) -> Mapping[str, Any] | None:
        return self.inner.reconcile(delivery, since)


@pytest.fixture
def second_engine(engine: Engine) -> Iterator[Engine]:
    """Another connection pool on the same database: a second delivery process."""
    other = create_engine(engine.url.render_as_string(hide_password=False))
    yield other
    other.dispose()


@pytest.mark.e2e
def test_two_dispatchers_on_one_outbox_keep_the_channel_pace(
    pipeline: SlackPipeline, fake_slack: FakeSlack, second_engine: Engine
) -> None:
    slas = ["a", "b", "c", "d", "e", "f"]
    pipeline.fire(*slas)
    slots: list[tuple[str, float]] = []
    sent: list[tuple[str, float]] = []
    lock = threading.Lock()
    clock = pipeline.dispatcher.clock  # real time: the pace is in real seconds
    factory = SenderFactory()

    def dispatcher(engine: Engine) -> Dispatcher:
        return Dispatcher(
            SlotLog(engine, slots, lock),
            lambda: pipeline.config,
            lambda integration: Stamped(factory(integration), clock, sent, lock),
            clock=clock,
        )

    dispatchers = [dispatcher(pipeline.engine), dispatcher(second_engine)]
    results: list[int] = []

    def deliver(d: Dispatcher) -> None:
        stats = d.drain(60)
        with lock:
            results.append(stats.sent)

    workers = [threading.Thread(target=deliver, args=(d,)) for d in dispatchers]
    for w in workers:
        w.start()
    for w in workers:
        w.join(90)
    assert sum(results) == len(slas)
    messages = fake_slack.channel_messages("integration-oncall")
    keys = [m.metadata["event_payload"]["key"] for m in messages if m.metadata]
    assert Counter(keys) == Counter(pipeline.keys())  # each exactly once
    # every request took a slot, the slots of the channel are at least the pace apart, and no
    # request left before its slot
    assert len(slots) == len(sent) == len(slas)
    taken = sorted(slot for _, slot in slots)
    assert min(b - a for a, b in itertools.pairwise(taken)) >= PACE - 1e-6
    assert all(at >= slot for at, slot in zip(sorted(at for _, at in sent), taken, strict=True))


# --- a hung channel does not hold the others -------------------------------------------------

TWO_CHANNELS = SLACK_CONFIG.replace(
    """        send_resolved: true
        http_config:
          authorization:
            credentials: {{env: TEST_SLACK_TOKEN}}
""",
    """        send_resolved: true
        timeout: 120s
        http_config:
          authorization:
            credentials: {{env: TEST_SLACK_TOKEN}}
      - channel: '#oncall-lead'
        api_url: {api}chat.postMessage
        send_resolved: true
        http_config:
          authorization:
            credentials: {{env: TEST_SLACK_TOKEN}}
""",
).replace("  lease: 30s", "  lease: 5m")  # the timeout must stay within the lease (alerts check)


@pytest.fixture
def hanging_slack() -> Iterator[HangingSlack]:
    fake = HangingSlack()
    with fake:
        yield fake


@pytest.mark.e2e
def test_a_hung_channel_does_not_hold_another_channels_delivery(
    engine: Engine, hanging_slack: HangingSlack
) -> None:
    assert TWO_CHANNELS != SLACK_CONFIG
    pipeline = SlackPipeline(engine, hanging_slack)
    pipeline.config = config.parse(
        TWO_CHANNELS.format(api=hanging_slack.api_url, fallback_after="60s"),
        environ={
            "TEST_SLACK_TOKEN": hanging_slack.token,
            "TEST_FALLBACK_WEBHOOK": hanging_slack.webhook_url("alerts-fallback"),
        },
    )
    hanging_slack.hang("integration-oncall")
    pipeline.fire("gl-posting-errors")  # one row per channel; the hung channel's row first
    rows = pipeline.store.outbox_rows(None, 10)
    assert [r.target.rsplit(":", 1)[1] for r in rows] == ["integration-oncall", "oncall-lead"]
    done = threading.Event()
    result: dict[str, int] = {}

    def deliver() -> None:
        result["sent"] = pipeline.dispatcher.drain(60).sent
        done.set()

    worker = threading.Thread(target=deliver)
    worker.start()
    try:
        # the first channel's request hangs (the lanes start in any order: wait for it) ...
        hanging_slack.wait_for(
            lambda: hanging_slack.hanging("integration-oncall") == 1, what="the hung request"
        )
        # ... and the other channel's message arrives while it still hangs (its client timeout is
        # 120 s: a dispatcher waiting for it would deliver nothing here)
        hanging_slack.wait_for(
            lambda: len(hanging_slack.channel_messages("oncall-lead")) == 1, what="the other channel"
        )
        assert hanging_slack.hanging("integration-oncall") == 1
        assert hanging_slack.channel_messages("integration-oncall") == []
    finally:
        hanging_slack.release_channel("integration-oncall")
    assert done.wait(60)
    worker.join()
    assert result["sent"] == 2
    for channel in ("integration-oncall", "oncall-lead"):
        assert len(hanging_slack.channel_messages(channel)) == 1, channel
    assert len(hanging_slack.calls_to("chat.postMessage")) == 2  # each sent once
    assert {r.status for r in pipeline.store.outbox_rows(None, 10)} == {"sent"}

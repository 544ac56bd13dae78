"""Slack down for 5 minutes: every pending notification is delivered once it is back, none twice.

The fake Slack answers 503 to every call (the bot API and the webhooks) for five minutes of the
dispatcher's clock, then recovers. Only time is fake (the dispatcher's clock and sleep, which the
outage follows too): real slack_sdk clients over real sockets, so five minutes take a second.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy.engine import Engine

from alerts.dispatcher import Dispatcher
from alerts.senders import SenderFactory
from tests.alerts.conftest import SlackPipeline
from tests.alerts.factories import burn, evaluation, insert_evaluations
from tests.alerts.scoped_slack import ScopedSlack

pytestmark = pytest.mark.e2e

OUTAGE_S = 300.0
SLAS = ("gl-posting-errors", "charge-lag", "queue-stuck", "adt-silence", "claims-rejects")


class OutageSlack(ScopedSlack):
    """Answers 503 ``service_unavailable`` to everything while ``clock()`` is before ``until``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock: Callable[[], float] = lambda: 0.0
        self.until = 0.0
        self.refused: Counter[str] = Counter()

    def outage(self, clock: Callable[[], float], seconds: float) -> None:
        self.clock, self.until = clock, clock() + seconds

    def _fault(self, method: str) -> web.Response | None:
        if self.clock() < self.until:
            self.refused[method] += 1
            if method == "webhook":
                return web.Response(status=503, text="service_unavailable")
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        return super()._fault(method)


@pytest.fixture
def slack() -> Iterator[OutageSlack]:
    fake = OutageSlack()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def test_slack_down_for_five_minutes_then_every_notification_once(engine: Engine, slack: OutageSlack) -> None:
    p = SlackPipeline(engine, slack)
    # Wait for the primary through the outage (fallback after 10 min), retrying at most every minute.
    p.config = replace(
        p.config, delivery=replace(p.config.delivery, retry_initial=2.0, retry_max=60.0, fallback_after=600.0)
    )
    dispatcher = Dispatcher(
        p.store,
        lambda: p.config,
        SenderFactory(clock=p.clock),
        clock=p.clock,
        sleep=p.clock.sleep,
        rng=random.Random(15),
    )
    started = p.clock.now
    slack.outage(p.clock, OUTAGE_S)
    insert_evaluations(
        engine, [evaluation(at=p.clock.now, sla_id=s, burn_rates=[burn(firing=True)]) for s in SLAS]
    )
    p.alerting.evaluate()
    p.alerting.plan()
    keys = p.keys()
    assert len(keys) == len(SLAS)

    # While Slack is down nothing is delivered and nothing is given up.
    dispatcher.drain(OUTAGE_S - 1, budget=OUTAGE_S)
    assert p.clock.now - started < OUTAGE_S
    rows = p.store.outbox_rows(None, 100)
    assert {r.status for r in rows} <= {"pending", "sending"}, [(r.key, r.status) for r in rows]
    assert slack.all_messages() == []
    assert slack.refused["chat.postMessage"] >= 1  # tried (a receiver that is down gets probes)

    # Slack is back: the dispatcher's next retries (at most a minute later) deliver everything.
    dispatcher.drain(600, budget=600)
    recovered_after = p.clock.now - started
    rows = p.store.outbox_rows(None, 100)
    assert [r.status for r in rows] == ["sent"] * len(SLAS), [(r.key, r.status) for r in rows]
    messages = slack.channel_messages("integration-oncall")
    delivered = Counter(m.metadata["event_payload"]["key"] for m in messages if m.metadata)
    assert delivered == Counter(keys)  # each pending notification exactly once
    assert slack.channel_messages("alerts-fallback") == []  # none failed over, none lost
    posted = [c for c in slack.calls_to("chat.postMessage") if c.status == 200]
    assert len(posted) == len(SLAS)
    print(
        f"\nSlack down {OUTAGE_S:g}s (dispatcher clock): {sum(slack.refused.values())} calls refused, "
        f"{len(SLAS)} notifications delivered once, all by {recovered_after:.0f}s"
    )

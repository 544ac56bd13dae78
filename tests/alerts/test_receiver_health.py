"""A down receiver is probed and comes back; retry delays grow even when no attempt is counted."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from typing import Any

from alerts.config import DeliverySettings
from alerts.dispatcher import Dispatcher
from alerts.health import ReceiverHealth, retry_delay
from alerts.outbox import integration_of
from alerts.senders import Delivery, DeliveryError, MemorySender
from tests.alerts.factories import T0, burn, evaluation
from tests.alerts.harness import Harness
from tests.alerts.test_dispatcher import CONFIG


class Flaky(MemorySender):
    """A receiver that refuses while ``down``; remembers when each request came."""

    def __init__(self, clock: Any) -> None:
        super().__init__()
        self.clock = clock
        self.down = False
        self.sends: list[float] = []
        self.lookups: list[float] = []

    def send(self, delivery: Delivery) -> Mapping[str, Any]:
        self.sends.append(self.clock())
        if self.down:
            raise DeliveryError("connection refused")
        return super().send(delivery)

    def reconcile(self, delivery: Delivery, since: float) -> Mapping[str, Any] | None:
        self.lookups.append(self.clock())
        if self.down:
            raise DeliveryError("connection error: reset", uncertain=True)
        return super().reconcile(delivery, since)


def setup(text: str = CONFIG) -> tuple[Harness, Flaky, MemorySender, Dispatcher]:
    h = Harness(text)
    oncall, backup = Flaky(h.clock), MemorySender()
    senders = {"oncall": oncall, "backup": backup}
    dispatcher = Dispatcher(
        h.store,
        lambda: h.config,
        lambda integration: senders[integration.receiver],
        clock=h.clock,
        sleep=h.clock.sleep,
        rng=random.Random(7),
    )
    return h, oncall, backup, dispatcher


def fire(h: Harness, sla: str) -> None:
    h.store.add_evaluation(evaluation(at=h.clock.now, sla_id=sla, burn_rates=[burn("1h/5m", firing=True)]))
    h.engine.evaluate()
    h.plan()  # opens the group
    h.clock.advance(30)  # group_wait
    assert h.plan()


def test_a_down_receiver_is_probed_with_backoff_and_gets_its_notifications_back() -> None:
    h, oncall, _, dispatcher = setup(CONFIG.replace("retry_max: 60s", "retry_max: 10m"))
    oncall.down = True
    fire(h, "first")  # first fails at T0+30, falls back after fallback_after (2 min)
    dispatcher.drain(600)
    assert [(r.receiver, r.status) for _, r in sorted(h.store.outbox.items())] == [
        ("oncall", "failed_over"),
        ("backup", "sent"),
    ]
    # a notification a minute for half an hour, while the receiver stays down
    for minute in range(30):
        fire(h, f"sla-{minute}")
        dispatcher.drain(30)
        h.clock.advance(30)
    sent = [r for r in h.store.outbox.values() if r.status == "sent"]
    assert len(sent) == 31 and {r.receiver for r in sent} == {"backup"}  # none was lost or held back
    probes = [t for t in oncall.sends if t > T0 + 30 + 120]
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    # the receiver was tried again, but not with every notification: the gaps between probes
    # grow (2 s, 4 s, 8 s, ... doubling, each probe riding on the next notification)
    assert 5 <= len(probes) <= 12, [round(t - T0) for t in probes]
    assert gaps[-1] >= 240 and gaps[0] <= 120

    # the receiver answers again: the next probe brings it back, later notifications go to it
    oncall.down = False
    for minute in range(3):
        fire(h, f"after-{minute}")
        dispatcher.drain(30)
        h.clock.advance(600)
    after = [r for r in h.store.outbox.values() if r.notification.group_labels["sla"].startswith("after-")]
    assert [(r.receiver, r.status) for r in after][-2:] == [("oncall", "sent"), ("oncall", "sent")]
    assert "oncall" not in dispatcher.health.down_since


def test_a_failed_look_up_still_makes_the_retry_delay_grow() -> None:
    h, oncall, _, dispatcher = setup(CONFIG.replace("    fallback: backup\n", ""))
    fire(h, "gl-posting-errors")
    (row,) = h.store.outbox.values()
    # an attempt of unknown outcome (a crash mid-send): each retry first looks it up
    claimed = h.store.outbox_claim(row, "elsewhere:1:dead", h.clock.now, 1)
    assert claimed is not None
    h.store.outbox_start_attempt(claimed, h.clock.now)
    integration = integration_of(h.config.receivers, claimed)
    assert integration is not None
    oncall.down = True
    h.clock.advance(2)
    dispatcher.drain(120, budget=120)
    # retry_initial 2 s doubling (+-20 %): about 6 look-ups in two minutes, not one every 2 s
    assert 4 <= len(oncall.lookups) <= 8, oncall.lookups
    gaps = [b - a for a, b in zip(oncall.lookups, oncall.lookups[1:], strict=False)]
    assert gaps[-1] >= 16 and gaps[-1] > 2 * gaps[0]
    assert oncall.sends == []  # never re-sent while it could not tell whether the first arrived


def test_retry_delay_is_exponential_in_time_spent_failing() -> None:
    settings = DeliverySettings(retry_initial=2.0, retry_max=300.0)
    rng = random.Random(1)
    assert 1.6 <= retry_delay(settings, 0, 0.0, rng) <= 2.4
    assert 1.6 * 8 <= retry_delay(settings, 1, 14.0, rng) <= 2.4 * 8
    assert retry_delay(settings, 1, 10_000.0, rng) <= 300.0
    assert 1.6 * 8 <= retry_delay(settings, 4, 0.0, rng) <= 2.4 * 8  # attempts count too
    seeded = [retry_delay(settings, 3, 0.0, random.Random(5)) for _ in range(2)]
    assert seeded[0] == seeded[1]  # the jitter comes from the injected generator


def test_probes_are_booked_with_doubling_delays() -> None:
    settings = DeliverySettings(retry_initial=2.0, retry_max=60.0, fallback_after=120.0)
    health = ReceiverHealth(random.Random(3))
    health.failed("oncall", 0.0)
    assert not health.is_down("oncall", 119.0, settings)
    assert health.is_down("oncall", 120.0, settings)
    assert health.probe_due("oncall", 120.0, settings)
    assert not health.probe_due("oncall", 120.5, settings)  # one probe at a time
    times, now = [], 120.0
    while now < 600:
        now += 0.5
        if health.probe_due("oncall", now, settings):
            times.append(now)
    gaps = [b - a for a, b in zip([120.0, *times], times, strict=False)]
    assert gaps[:4] == sorted(gaps[:4]) and gaps[0] < 3 and max(gaps) <= 60 * 1.2 + 0.5
    health.succeeded("oncall")
    assert not health.is_down("oncall", now, settings) and health.next_probe("oncall") is None

"""An alerting pipeline on the in-memory store with a controllable clock."""

from __future__ import annotations

from typing import Any

from alerts import actions, config
from alerts.dispatcher import Dispatcher
from alerts.engine import AlertEngine
from alerts.model import Alert
from alerts.notification import Notification
from alerts.senders import MemorySender
from alerts.store import MemoryStore
from slas.model import BurnRate, Evaluation
from tests.alerts.factories import T0, evaluation


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """The evaluate/plan cycle every ``step`` seconds, fed an evaluation every ``eval_every``.

    ``condition`` is the burn rates the next evaluations report (None: no evaluations).
    """

    def __init__(self, text: str, start: float = T0, step: float = 5.0, eval_every: float = 60.0) -> None:
        self.step = step
        self.eval_every = eval_every
        self.condition: list[BurnRate] | None = None
        self._last_feed: float | None = None
        self.clock = FakeClock(start)
        self.store = MemoryStore()
        self.config = config.parse(text)
        self.engine = AlertEngine(self.store, lambda: self.config, self.clock)
        self.sender = MemorySender()
        self.dispatcher = Dispatcher(
            self.store,
            lambda: self.config,
            lambda integration: self.sender,
            clock=self.clock,
            sleep=self.clock.sleep,
        )

    def feed(self, *evaluations: Evaluation, **kwargs: Any) -> None:
        for ev in evaluations or (evaluation(at=self.clock.now, **kwargs),):
            self.store.add_evaluation(ev)
        self.engine.evaluate()

    def plan(self) -> list[Notification]:
        return self.engine.plan().notifications

    def at(self, offset: float, **kwargs: Any) -> list[Notification]:
        """Move to T0+offset; feed an evaluation if kwargs are given; plan."""
        self.clock.now = T0 + offset
        if kwargs:
            self.feed(**kwargs)
        else:
            self.engine.evaluate()
        return self.plan()

    def set(self, burn_rates: list[BurnRate] | None) -> None:
        """Change what the SLA engine reports from now on (fed at once)."""
        self.condition = burn_rates
        self._last_feed = None

    def run(self, until: float) -> list[tuple[float, str, str, str]]:
        """Cycle from now to T0+until; returns (offset, receiver, action, kind) of notifications."""
        out: list[tuple[float, str, str, str]] = []
        self.notifications: list[Notification] = []
        while self.clock.now <= T0 + until + 1e-9:
            now = self.clock.now
            if self.condition is not None and (
                self._last_feed is None or now - self._last_feed >= self.eval_every
            ):
                self.store.add_evaluation(evaluation(at=now, burn_rates=self.condition))
                self._last_feed = now
            self.engine.evaluate()
            for n in self.plan():
                self.notifications.append(n)
                out.append((round(now - T0, 3), n.receiver, n.action, n.kind))
            self.clock.advance(self.step)
        return out

    def alerts(self) -> dict[str, Alert]:
        return {a.tier: a for a in self.store.alerts.values()}

    def ack(self, tier: str, by: str = "alice") -> Alert:
        return actions.acknowledge(
            self.store, self.alerts()[tier].fingerprint, by, source="cli", now=self.clock.now
        )


def summary(notifications: list[Notification]) -> list[tuple[str, str, str]]:
    return [(n.receiver, n.action, n.kind) for n in notifications]

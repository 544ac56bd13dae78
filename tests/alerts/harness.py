"""An alerting pipeline on the in-memory store with a controllable clock."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from alerts import actions, config
from alerts.dispatcher import Dispatcher
from alerts.engine import AlertEngine
from alerts.model import Alert
from alerts.notification import Notification
from alerts.senders import MemorySender
from alerts.store import MemoryStore
from slas.model import BurnRate, Evaluation
from tests.alerts.factories import T0, evaluation
from tests.support.fake_slack import FakeSlack


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
        self.facilities: dict[str, list[BurnRate]] = {}
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

    def set(self, burn_rates: list[BurnRate] | None, **facilities: list[BurnRate]) -> None:
        """Change what the SLA engine reports from now on (fed at once).

        ``burn_rates`` are the SLA's as a whole; each keyword is a facility slice's (an alert of
        its own, ``hc.facility=<name>``).
        """
        self.condition = burn_rates
        self.facilities = {name.replace("_", "-"): rates for name, rates in facilities.items()}
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
                for name, rates in self.facilities.items():
                    self.store.add_evaluation(
                        evaluation(
                            at=now,
                            burn_rates=rates,
                            slice=f"hc.facility={name}",
                            labels={"hc.facility": name},
                        )
                    )
                self._last_feed = now
            self.engine.evaluate()
            for n in self.plan():
                self.notifications.append(n)
                out.append((round(now - T0, 3), n.receiver, n.action, n.kind))
            self.clock.advance(self.step)
        return out

    def alerts(self) -> dict[str, Alert]:
        """The SLA-wide alert under its tier, a facility's alert under the facility's name."""
        return {a.labels.get("facility") or a.tier: a for a in self.store.alerts.values()}

    def ack(self, tier: str, by: str = "alice") -> Alert:
        return actions.acknowledge(
            self.store, self.alerts()[tier].fingerprint, by, source="cli", now=self.clock.now
        )


def summary(notifications: list[Notification]) -> list[tuple[str, str, str]]:
    return [(n.receiver, n.action, n.kind) for n in notifications]


class HangingSlack(FakeSlack):
    """The fake Slack, able to hang every request to a channel until the test releases it.

    A hung request is neither applied nor answered (a Slack that stopped responding for that
    channel); once released it is handled as usual. ``hanging`` counts requests waiting now.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gates: dict[str, asyncio.Event] = {}
        self._hanging: dict[str, int] = {}
        self._count_lock = threading.Lock()

    def hang(self, channel: str) -> None:
        cid = self._channel_id(channel)
        assert cid is not None, channel
        self._gates[cid] = asyncio.Event()

    def release_channel(self, channel: str) -> None:
        cid = self._channel_id(channel)
        gate = self._gates.pop(cid or "", None)
        if gate is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(gate.set)

    def hanging(self, channel: str) -> int:
        with self._count_lock:
            return self._hanging.get(self._channel_id(channel) or "", 0)

    async def _stop(self) -> None:
        for gate in self._gates.values():
            gate.set()  # a test that failed half-way does not leave the server waiting
        await super()._stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        args = await self._args(request)  # aiohttp keeps the body: the handler reads it again
        cid = self._channel_id(args.get("channel"))
        gate = self._gates.get(cid or "")
        if cid is not None and gate is not None:
            with self._count_lock:
                self._hanging[cid] = self._hanging.get(cid, 0) + 1
            try:
                await gate.wait()
            finally:
                with self._count_lock:
                    self._hanging[cid] -= 1
        return await super()._handle(request)

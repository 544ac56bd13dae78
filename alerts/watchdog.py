"""The SLA engine's watchdog: a page to the fallback receiver when evaluations stop.

Alerts come from SLA evaluations; when the engine stops evaluating (its process died, its lease
is stuck, its store is full), no alert can fire, and a silent alerting system looks exactly like
a healthy estate. So the alerts cycle also looks at the age of the newest evaluation and, once it
is older than a few engine intervals, tells the watchdog receiver (the fallback of the root
route's receiver by default) that evaluations have stopped since then; when they resume, the
alert resolves.

Two parts: :func:`stopped` is the pure decision (newest evaluation, now, limit -> stopped or
not); :class:`Watchdog` is the edge that turns its changes into outbox rows. The rows go through
the normal outbox (durable, delivered by the dispatcher, failed over, retried). Each change is
one *episode* number and its rows' keys derive from it (``vitals.watchdog/<episode>/firing``),
so a cycle that runs twice (a crash between the plan and the state, or two alerting processes
on one PostgreSQL) enqueues each notification once: the outbox key is unique.

What it cannot do: when the whole ``vitals serve`` dies, nothing inside it can page. An external
check of ``/readyz`` (a dead man's switch) is still needed; see docs/explanation/alerting.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alerts.config import AlertsConfig, WatchdogSettings
from alerts.messages import duration, when
from alerts.model import Figures, fingerprint
from alerts.notification import AlertView, Kind, Notification
from alerts.outbox import expand
from alerts.store import AlertStore, Conflict

__all__ = ["STATE", "Watchdog", "WatchdogState", "limit_s", "notification", "receiver_of", "stopped"]

log = logging.getLogger(__name__)

#: The ``alert_state`` row that remembers the watchdog's episode across restarts.
STATE = "watchdog"
SLA_ID = "vitals.watchdog"
ALERTNAME = "SlaEvaluationsStopped"
TITLE = "SLA evaluations have stopped"


def limit_s(settings: WatchdogSettings, engine_interval_s: float) -> float:
    """How old the newest evaluation may get before evaluations count as stopped."""
    return settings.intervals * engine_interval_s + settings.margin


def stopped(newest: float | None, watching_since: float, now: float, limit: float) -> bool:
    """Whether evaluations have stopped: nothing newer than ``limit`` seconds before ``now``.

    Pure. The watchdog counts from when it started watching at the earliest, so a process that
    starts on a store whose newest evaluation is old (after a downtime) gives its engine the same
    grace as a fresh start instead of paging at once.
    """
    last = watching_since if newest is None else max(newest, watching_since)
    return now - last > limit


@dataclass(frozen=True)
class WatchdogState:
    """What ``alert_state`` keeps: the current episode and whether it is firing."""

    episode: int = 0
    firing: bool = False
    since: float | None = None  # the newest evaluation when it fired (None: none at all)
    fired_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "episode": self.episode,
            "firing": self.firing,
            "since": self.since,
            "fired_at": self.fired_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> WatchdogState:
        if not isinstance(data, dict):
            return cls()
        return cls(
            episode=int(data.get("episode") or 0),
            firing=bool(data.get("firing")),
            since=data.get("since"),
            fired_at=data.get("fired_at"),
        )


def receiver_of(config: AlertsConfig) -> str:
    """The watchdog's receiver: configured, else the root receiver's fallback, else the root's."""
    if config.watchdog.receiver:
        return config.watchdog.receiver
    root = config.route.opts.receiver
    receiver = config.receivers.get(root)
    return receiver.fallback if receiver is not None and receiver.fallback else root


def notification(
    state: WatchdogState, config: AlertsConfig, now: float, limit: float, newest: float | None
) -> Notification:
    """The message of a change of ``state`` (pure): firing, or resolved when evaluations resumed."""
    since = state.since if state.since is not None else state.fired_at or now
    kind: Kind = "firing" if state.firing else "resolved"
    if state.firing:
        what = f"no SLA evaluation since {when(state.since)}" if state.since else "no SLA evaluation yet"
        note = (
            f"{what} ({duration(now - since)} ago, limit {duration(limit)}): the SLA engine is not "
            "evaluating, so no SLA alert can fire. Look at /readyz (which process holds slas.engine) "
            "and the vitals serve log."
        )
    else:
        note = f"SLA evaluations resumed (newest {when(newest)}) after stopping since {when(state.since)}"
    labels = {"alertname": ALERTNAME, "priority": "P1", "severity": "page"}
    view = AlertView(
        fingerprint=fingerprint(SLA_ID, ""),
        sla_id=SLA_ID,
        slice="",
        tier="page",
        labels=labels,
        state="firing" if state.firing else "resolved",
        started_at=since,
        figures=Figures(
            title=TITLE,
            kind="watchdog",
            objective=0.0,
            sli=None,
            good=0.0,
            total=0.0,
            window_label=f"{duration(limit)} without an evaluation",
            budget_remaining=None,
            time_to_exhaustion_s=None,
            evaluated_at=state.since or 0.0,
        ),
        resolved_at=None if state.firing else now,
    )
    receiver = receiver_of(config)
    return Notification(
        key=f"{SLA_ID}/{state.episode}/{kind}",
        receiver=receiver,
        action="post",
        kind=kind,
        group_ref=SLA_ID,
        group_key=f'{{}}:{{alertname="{ALERTNAME}"}}',
        group_labels={"alertname": ALERTNAME},
        alerts=(view,),
        created_at=now,
        highlight=(view.fingerprint,),
        note=note,
        route_receiver=receiver,
    )


class Watchdog:
    """The edge: reads the newest evaluation, plans a notification into the outbox on a change."""

    def __init__(
        self,
        store: AlertStore,
        config: Callable[[], AlertsConfig],
        newest_evaluation: Callable[[], float | None],
        engine_interval_s: float,
        watching_since: float,
    ) -> None:
        self.store = store
        self.config = config
        self.newest_evaluation = newest_evaluation
        self.engine_interval_s = engine_interval_s
        self.watching_since = watching_since

    def readiness(self) -> dict[str, Any]:
        """The ``sla_watchdog`` field of ``/readyz``: whether it is paging, since when, its limit."""
        config = self.config()
        state = WatchdogState.from_json(self.store.get_state(STATE))
        return {
            "sla_watchdog": {
                "enabled": config.watchdog.enabled,
                "firing": state.firing,
                "evaluations_stopped_since": when(state.since) if state.firing and state.since else None,
                "fired_at": when(state.fired_at) if state.firing else None,
                "limit_s": limit_s(config.watchdog, self.engine_interval_s),
                "receiver": receiver_of(config),
            }
        }

    def check(self, now: float) -> Notification | None:
        """One look; the notification it enqueued (None: nothing changed)."""
        config = self.config()
        if not config.watchdog.enabled:
            return None
        limit = limit_s(config.watchdog, self.engine_interval_s)
        newest = self.newest_evaluation()
        firing = stopped(newest, self.watching_since, now, limit)
        state = WatchdogState.from_json(self.store.get_state(STATE))
        if firing == state.firing:
            return None
        if firing:
            state = WatchdogState(episode=state.episode + 1, firing=True, since=newest, fired_at=now)
        else:
            state = WatchdogState(state.episode, firing=False, since=state.since, fired_at=state.fired_at)
        n = notification(state, config, now, limit, newest)
        rows = expand(n, config.receivers, now)
        if not rows:
            log.warning("watchdog: receiver %r has no integration for a %s notification", n.receiver, n.kind)
        try:
            self.store.commit_plan([], rows, now)
        except Conflict:
            log.info("watchdog: %s already enqueued (by an earlier cycle or another process)", n.key)
        self.store.set_state(STATE, state.to_json(), now)
        if firing:
            log.error("watchdog: %s", n.note)
        else:
            log.warning("watchdog: %s", n.note)
        return n

"""The alerting loop's two steps, over the store edge and the current config.

``evaluate``: read the SLA evaluations new to its cursor (``vitals.kernel.follow``: each once,
also when PostgreSQL commits them out of id order), apply them to the alerts (lifecycle), apply
time (hysteresis, ack expiry), silences and inhibitions, and commit alerts, history and the
moved cursor in one transaction, so a restart resumes exactly after the last evaluation it
applied. ``plan``: route every alert, run each group's timers and escalation, and
commit the new group states together with the notifications they decided (the outbox), so a
decision is recorded exactly when its notifications are.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from alerts import lifecycle
from alerts.config import AlertsConfig
from alerts.grouping import GroupState, PlanEnv, plan_group
from alerts.inhibition import Candidate, inhibitions
from alerts.labels import observations
from alerts.links import links_for
from alerts.model import Alert, AlertEvent, Clock
from alerts.notification import Notification
from alerts.outbox import OutboxItem, expand
from alerts.routing import Route, group_key, group_labels, group_ref
from alerts.silences import silencing, to_expire_on_resolve
from alerts.store import AlertStore, Conflict
from vitals.kernel.units import NS

log = logging.getLogger(__name__)

#: Resolved alerts stay visible to their groups this long (for the resolved notification).
RESOLVED_HORIZON_S = 24 * 3600.0
MAX_RETRIES = 5


@dataclass
class EvaluateReport:
    evaluations: int = 0
    changed: int = 0
    events: Counter[str] = field(default_factory=Counter)


@dataclass
class PlanReport:
    groups: int = 0
    notifications: list[Notification] = field(default_factory=list)
    rows: int = 0


def ack_timeout(config: AlertsConfig, alert: Alert) -> float | None:
    """The ack timeout of the first matching route with an escalation policy that sets one."""
    for route in config.route.match(alert.labels):
        policy = config.escalation_policies.get(route.opts.escalation_policy or "")
        if policy is not None and policy.ack_timeout is not None:
            return policy.ack_timeout or None
    return config.lifecycle.ack_timeout


def route_groups(
    config: AlertsConfig, alerts: list[Alert]
) -> dict[str, tuple[Route, str, dict[str, str], list[Alert]]]:
    """group ref -> (route, group key, group labels, member alerts)."""
    out: dict[str, tuple[Route, str, dict[str, str], list[Alert]]] = {}
    for alert in alerts:
        for route in config.route.match(alert.labels):
            key = group_key(route, alert.labels)
            ref = group_ref(route, alert.labels)
            if ref not in out:
                out[ref] = (route, key, group_labels(route.opts, alert.labels), [])
            out[ref][3].append(alert)
    return out


class AlertEngine:
    def __init__(
        self,
        store: AlertStore,
        config: Callable[[], AlertsConfig],
        clock: Clock = time.time,
        batch: int = 5000,
        on_events: Callable[[list[AlertEvent]], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.batch = batch
        self.on_events = on_events

    # --- evaluate ------------------------------------------------------------------------------

    def evaluate(self, max_batches: int = 20) -> EvaluateReport:
        report = EvaluateReport()
        for _ in range(max_batches):
            done = self._retry(lambda: self._evaluate_once(report))
            if done:
                break
        return report

    def _retry(self, step: Callable[[], bool]) -> bool:
        for attempt in range(MAX_RETRIES):
            try:
                return step()
            except Conflict as exc:
                log.debug("alert store conflict (%s), retrying (attempt %d)", exc, attempt + 1)
        raise Conflict(f"gave up after {MAX_RETRIES} conflicting writes")

    def _evaluate_once(self, report: EvaluateReport) -> bool:
        config = self.config()
        now = self.clock()
        cursor = self.store.evaluations_cursor()
        batch = self.store.new_evaluations(cursor, self.batch)
        seen = [o for _, ev in batch for o in observations(ev, config.observation)]
        current = {a.fingerprint: a for a in self.store.open_alerts()}
        missing = {o.fingerprint for o in seen} - current.keys()
        if missing:
            current.update(self.store.alerts_by_fingerprint(missing))
        original = dict(current)
        events: list[AlertEvent] = []

        for obs in seen:
            step = lifecycle.observe(current.get(obs.fingerprint), obs, config.lifecycle)
            if step.alert is not None:
                current[obs.fingerprint] = step.alert
            events.extend(step.events)
        for fp, alert in list(current.items()):
            if alert.is_open:
                step = lifecycle.tick(alert, now, config.lifecycle, ack_timeout(config, alert))
                assert step.alert is not None
                current[fp] = step.alert
                events.extend(step.events)

        events.extend(self._join_acknowledged_incidents(config, current, now))

        silences = self.store.silences(now)
        open_alerts = [a for a in current.values() if a.is_open]
        inhibited = inhibitions(
            config.inhibit_rules, [Candidate(a.fingerprint, a.labels) for a in open_alerts]
        )
        matched: set[int] = set()
        for alert in open_alerts:
            ids = silencing(silences, alert.labels, now)
            matched.update(ids)
            reasons = tuple(f"silence:{i}" for i in ids)
            if alert.fingerprint in inhibited:
                reasons += (f"inhibited_by:{inhibited[alert.fingerprint]}",)
            step = lifecycle.suppress(alert, reasons, now)
            assert step.alert is not None
            current[alert.fingerprint] = step.alert
            events.extend(step.events)
        newly_matched = {s.id for s in silences if s.id in matched and not s.matched_any}
        marked = [replace(s, matched_any=True) if s.id in newly_matched else s for s in silences]
        expire = to_expire_on_resolve(marked, [a.labels for a in current.values() if a.is_open], now)

        changed = [a for fp, a in current.items() if original.get(fp) != a]
        moved = cursor.after_read((i for i, _ in batch), int(now * NS), int(self.store.follow_horizon_s * NS))
        if changed or events or moved != cursor or newly_matched or expire:
            self.store.commit(
                alerts=changed,
                events=events,
                cursor=moved if moved != cursor else None,
                silences_matched=newly_matched,
                silences_expired=[(sid, "vitals (expire on resolve)", now) for sid in expire],
                now=now,
            )
        report.evaluations += len(batch)
        report.changed += len(changed)
        report.events.update(e.kind for e in events)
        if self.on_events and events:
            self.on_events(events)
        return len(batch) < self.batch

    def _join_acknowledged_incidents(
        self, config: AlertsConfig, current: dict[str, Alert], now: float
    ) -> list[AlertEvent]:
        """Alerts routed to an acknowledged, open incident are acknowledged with it."""
        acked = [
            g
            for g in self.store.groups().values()
            if g.open and g.acknowledged_by and g.acknowledged_at is not None
        ]
        if not acked:
            return []
        routed = route_groups(config, [a for a in current.values() if a.is_open])
        events: list[AlertEvent] = []
        for group in acked:
            if group.group_ref not in routed or group.acknowledged_at is None or not group.acknowledged_by:
                continue
            route, _, _, members = routed[group.group_ref]
            timeout = config.ack_timeout_for(route.opts)
            if timeout and now >= group.acknowledged_at + timeout:
                continue  # the incident's acknowledgement has lapsed
            for alert in members:
                step = lifecycle.join_acknowledgement(
                    current[alert.fingerprint],
                    group.acknowledged_by,
                    group.ack_comment,
                    acked_at=group.acknowledged_at,
                    now=now,
                    incident=group.group_ref,
                )
                if step.alert is not None:
                    current[alert.fingerprint] = step.alert
                events.extend(step.events)
        return events

    # --- plan ----------------------------------------------------------------------------------

    def plan(self) -> PlanReport:
        report = PlanReport()
        self._retry(lambda: self._plan_once(report))
        return report

    def _plan_once(self, report: PlanReport) -> bool:
        config = self.config()
        now = self.clock()
        alerts = self.store.open_alerts() + self.store.resolved_since(now - RESOLVED_HORIZON_S)
        groups = self.store.groups()
        routed = route_groups(config, alerts)
        env = PlanEnv(config.time_intervals, config.escalation_policies, partial(links_for, config.dashboard))
        changed: list[GroupState] = []
        notifications: list[Notification] = []
        for ref in sorted(set(routed) | {r for r, g in groups.items() if g.open}):
            state = groups.get(ref)
            if ref not in routed:
                # Its route left the config, or its alerts aged out: close the episode quietly.
                if state is not None and state.open:
                    changed.append(replace(state, open=False, next_flush_at=None, escalation=None))
                continue
            route, key, labels, members = routed[ref]
            if state is None:
                if not any(a.state == "firing" for a in members):
                    continue
                state = GroupState(route.key, key, ref, route.opts.receiver, labels)
            elif state.receiver != route.opts.receiver:
                state = replace(state, receiver=route.opts.receiver)
            timeout = config.ack_timeout_for(route.opts)
            if state.acknowledged_at is not None and timeout and now >= state.acknowledged_at + timeout:
                state = replace(state, acknowledged_by=None, acknowledged_at=None, ack_comment=None)
            plan = plan_group(state, members, route.opts, now, env)
            if plan.state != state or plan.notifications:
                changed.append(plan.state)
                notifications.extend(plan.notifications)
        rows: list[OutboxItem] = [row for n in notifications for row in expand(n, config.receivers, now)]
        for n in notifications:
            if n.receiver not in config.receivers:
                log.error("notification for unknown receiver %s dropped", n.receiver)
        if changed or rows:
            self.store.commit_plan(changed, rows, now)
        report.groups = len(routed)
        report.notifications = notifications
        report.rows = len(rows)
        return True

"""Alert lifecycle: observations in, alert state and history events out. Pure.

- A tier whose condition becomes active fires (a new episode if it had resolved).
- Hysteresis: when the condition clears the alert is held open; it resolves only after the
  condition has stayed clear for ``resolve_after``. If it comes back during the hold, the alert
  simply stays firing (counted in ``hysteresis_holds``) instead of resolving and re-paging.
- Flap damping: when the condition has changed ``flap_threshold`` times within ``flap_window``
  the alert is flapping and the hold is stretched to ``flap_resolve_after``. A return during the
  stretch (a re-page that plain hysteresis would have sent) counts in ``flap_holds``.
- An acknowledgement lasts ``ack_timeout``; if the alert is still open then, the ack lapses and
  the alert fires again (re-triggering notifications and escalation).
- Silences and inhibitions suppress an alert without changing its condition.
- Severity (the worst burn-rate tier firing) rises at once and falls back from page to ticket only
  after no page tier has fired for ``resolve_after``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from alerts.labels import Observation
from alerts.model import Alert, AlertEvent

#: Labels an alert keeps while its condition is clear (held open by hysteresis): the severity it
#: fired with, so its routing and message do not change until it resolves.
HELD_LABELS = ("tier", "severity")


@dataclass(frozen=True)
class LifecyclePolicy:
    resolve_after: float = 600.0
    flap_window: float = 3600.0
    flap_threshold: int = 4
    flap_resolve_after: float = 1800.0
    ack_timeout: float | None = 4 * 3600.0
    stale_after: float | None = 3600.0  # no evaluation for this long counts as clear


@dataclass(frozen=True)
class Step:
    alert: Alert | None
    events: tuple[AlertEvent, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.events)


def _recent(transitions: Sequence[float], now: float, window: float) -> tuple[float, ...]:
    return tuple(t for t in transitions if now - t <= window)


def observe(alert: Alert | None, obs: Observation, policy: LifecyclePolicy) -> Step:
    """Apply one observation; returns the alert as it now is and what happened to it."""
    now = obs.at
    if alert is not None and now < alert.last_evaluated_at:
        return Step(alert)  # an older evaluation than one already applied: ignore it
    if obs.active is None:
        if alert is None:
            return Step(None)
        return Step(replace(alert, last_evaluated_at=now))
    if obs.active:
        return _active(alert, obs, policy)
    if alert is None:
        return Step(None)
    if not alert.is_open:
        return Step(alert)  # resolved and still clear: nothing to record
    events: list[AlertEvent] = []
    labels = {**obs.labels, **{k: alert.labels[k] for k in HELD_LABELS if k in alert.labels}}
    updated = replace(alert, last_evaluated_at=now, active=False, figures=obs.figures, labels=labels)
    if alert.clear_since is None:
        transitions = (*_recent(alert.transitions, now, policy.flap_window), now)
        updated = replace(updated, clear_since=now, transitions=transitions)
        events.append(
            AlertEvent(
                alert.fingerprint, now, "cleared", detail={"resolve_after": _hold(updated, now, policy)}
            )
        )
    step = resolve_if_due(updated, now, policy)
    return Step(step.alert, (*events, *step.events))


def _started(alert: Alert | None, obs: Observation) -> float:
    """When the breach began: the SLA engine's first bad minute, else when it was first seen.

    A new episode never starts before the previous one resolved.
    """
    started = obs.at if obs.started_at is None else min(obs.started_at, obs.at)
    if alert is not None and alert.resolved_at is not None:
        started = max(started, alert.resolved_at)
    return started


def _severity(
    alert: Alert, obs: Observation, policy: LifecyclePolicy
) -> tuple[str, Mapping[str, str], float | None]:
    """The tier, labels and page time of an open alert after an active observation.

    Severity rises at once and falls with hysteresis: a fast burn whose short window dips under
    its threshold for a minute would otherwise flip the alert page -> ticket -> page, updating its
    message and restarting escalation each time. A page holds until no page tier has fired for
    ``resolve_after``.
    """
    now = obs.at
    if obs.labels.get("severity") == "page":
        return obs.tier, obs.labels, now
    seen = alert.page_seen_at
    if alert.labels.get("severity") == "page" and seen is not None and now - seen < policy.resolve_after:
        held = {**obs.labels, **{k: alert.labels[k] for k in HELD_LABELS if k in alert.labels}}
        return alert.tier, held, seen
    return obs.tier, obs.labels, seen


def _active(alert: Alert | None, obs: Observation, policy: LifecyclePolicy) -> Step:
    now = obs.at
    if alert is None or not alert.is_open:
        transitions = (*_recent(alert.transitions if alert else (), now, policy.flap_window), now)
        fired = Alert(
            fingerprint=obs.fingerprint,
            sla_id=obs.sla_id,
            slice=obs.slice,
            tier=obs.tier,
            labels=obs.labels,
            figures=obs.figures,
            started_at=_started(alert, obs),
            last_evaluated_at=now,
            transitions=transitions,
            hysteresis_holds=alert.hysteresis_holds if alert else 0,
            flap_holds=alert.flap_holds if alert else 0,
            episode=alert.episode + 1 if alert else 1,
            page_seen_at=now if obs.labels.get("severity") == "page" else None,
            id=alert.id if alert else None,
            version=alert.version if alert else 0,
        )
        detail = {"episode": fired.episode, "labels": dict(obs.labels), "started_at": fired.started_at}
        return Step(fired, (AlertEvent(obs.fingerprint, now, "fired", detail=detail),))
    tier, labels, page_seen_at = _severity(alert, obs, policy)
    updated = replace(
        alert,
        last_evaluated_at=now,
        active=True,
        figures=obs.figures,
        labels=labels,
        tier=tier,
        page_seen_at=page_seen_at,
    )
    tier_events: tuple[AlertEvent, ...] = ()
    if tier != alert.tier:
        # The same alert got worse (a slow burn became a fast one) or better: its severity moves,
        # it does not become another alert.
        detail = {"from": alert.tier, "to": tier, "severity": labels.get("severity", "")}
        tier_events = (AlertEvent(alert.fingerprint, now, "tier_changed", detail=detail),)
    if alert.clear_since is None:
        return Step(updated, tier_events)
    held_for = now - alert.clear_since
    transitions = (*_recent(alert.transitions, now, policy.flap_window), now)
    updated = replace(updated, clear_since=None, transitions=transitions)
    if held_for >= policy.resolve_after:
        updated = replace(updated, flap_holds=alert.flap_holds + 1)
        kind = "flap_held"
    else:
        updated = replace(updated, hysteresis_holds=alert.hysteresis_holds + 1)
        kind = "hysteresis_held"
    return Step(
        updated, (*tier_events, AlertEvent(alert.fingerprint, now, kind, detail={"clear_for_s": held_for}))
    )


def _flapping(alert: Alert, now: float, policy: LifecyclePolicy) -> bool:
    return len(_recent(alert.transitions, now, policy.flap_window)) >= policy.flap_threshold


def _hold(alert: Alert, now: float, policy: LifecyclePolicy) -> float:
    if alert.flapping or _flapping(alert, now, policy):
        return max(policy.flap_resolve_after, policy.resolve_after)
    return policy.resolve_after


def resolve_if_due(alert: Alert, now: float, policy: LifecyclePolicy) -> Step:
    """Resolve a held alert whose condition has been clear long enough (time-driven, too)."""
    clear_since = alert.clear_since
    if not alert.is_open or clear_since is None:
        return Step(alert)
    events: list[AlertEvent] = []
    if not alert.flapping and _flapping(alert, now, policy):
        alert = replace(alert, flapping=True)
        events.append(
            AlertEvent(
                alert.fingerprint,
                now,
                "flapping",
                detail={"changes": len(_recent(alert.transitions, now, policy.flap_window))},
            )
        )
    hold = _hold(alert, now, policy)
    if now - clear_since < hold:
        return Step(alert, tuple(events))
    resolved = replace(
        alert,
        resolved_at=now,
        flapping=False,
        acknowledged_by=None,
        acknowledged_at=None,
        ack_comment=None,
        suppressed_by=(),
    )
    detail = {"clear_for_s": now - clear_since, "hold_s": hold}
    return Step(resolved, (*events, AlertEvent(alert.fingerprint, now, "resolved", detail=detail)))


def tick(alert: Alert, now: float, policy: LifecyclePolicy, ack_timeout: float | None) -> Step:
    """Time-driven changes: staleness, resolution after the hold, ack expiry."""
    events: list[AlertEvent] = []
    if (
        alert.is_open
        and alert.clear_since is None
        and policy.stale_after
        and now - alert.last_evaluated_at >= policy.stale_after
    ):
        # The SLA (or this slice or tier) is no longer evaluated: treat it as clear from now.
        transitions = (*_recent(alert.transitions, now, policy.flap_window), now)
        alert = replace(alert, active=False, clear_since=now, transitions=transitions)
        events.append(
            AlertEvent(alert.fingerprint, now, "stale", detail={"last_evaluated_at": alert.last_evaluated_at})
        )
    step = resolve_if_due(alert, now, policy)
    current = step.alert
    assert current is not None
    events.extend(step.events)
    if (
        current.is_open
        and current.acknowledged_at is not None
        and ack_timeout
        and now >= current.acknowledged_at + ack_timeout
    ):
        events.append(
            AlertEvent(
                current.fingerprint,
                now,
                "ack_expired",
                detail={"acknowledged_by": current.acknowledged_by, "ack_timeout_s": ack_timeout},
            )
        )
        current = replace(current, acknowledged_by=None, acknowledged_at=None, ack_comment=None)
    return Step(current, tuple(events))


class AckError(ValueError):
    """An acknowledgement that cannot apply (already resolved, ...)."""


def acknowledge(alert: Alert, by: str, comment: str, now: float) -> Step:
    if not alert.is_open:
        raise AckError(f"alert {alert.fingerprint} is resolved; there is nothing to acknowledge")
    if not by.strip():
        raise AckError("say who acknowledges (by)")
    acked = replace(alert, acknowledged_by=by, acknowledged_at=now, ack_comment=comment or None)
    event = AlertEvent(alert.fingerprint, now, "acknowledged", actor=by, detail={"comment": comment})
    return Step(acked, (event,))


def join_acknowledgement(
    alert: Alert, by: str, comment: str | None, *, acked_at: float, now: float, incident: str
) -> Step:
    """An alert that joins an acknowledged incident is acknowledged with it.

    It takes the incident's acknowledgement time, so the two lapse together (``ack_timeout``).
    """
    if not alert.is_open or alert.acknowledged_by is not None:
        return Step(alert)
    acked = replace(alert, acknowledged_by=by, acknowledged_at=acked_at, ack_comment=comment)
    detail = {"comment": comment or "", "incident": incident, "incident_acknowledged_at": acked_at}
    return Step(acked, (AlertEvent(alert.fingerprint, now, "acknowledged", actor=by, detail=detail),))


def suppress(alert: Alert, reasons: tuple[str, ...], now: float) -> Step:
    """Set the silences/inhibitions muting an open alert; events only when that changes."""
    if not alert.is_open or tuple(sorted(reasons)) == tuple(sorted(alert.suppressed_by)):
        return Step(alert)
    kind = "suppressed" if reasons else "unsuppressed"
    event = AlertEvent(
        alert.fingerprint, now, kind, detail={"by": list(reasons), "was": list(alert.suppressed_by)}
    )
    return Step(replace(alert, suppressed_by=tuple(sorted(reasons))), (event,))

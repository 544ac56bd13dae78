"""What people do to alerts (acknowledge, silence) — the same code for CLI, API, dashboard, Slack.

Each action is validated, applied with optimistic retries, and written together with its audit
entry in one transaction: an acknowledgement or silence that exists was audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from access.model import AuditEntry
from alerts import lifecycle
from alerts.config import AlertsConfig
from alerts.engine import route_groups
from alerts.matchers import Matcher, MatcherError, parse_matcher_list
from alerts.model import Alert
from alerts.payloads import iso
from alerts.routing import RouteOpts
from alerts.silences import Silence, SilenceError, validate
from alerts.store import AlertStore, Conflict, NotFound
from vitals.kernel.timeintervals import TimeInterval

SOURCES = ("cli", "api", "dashboard", "slack", "system")
#: The labels that name one alert (its fingerprint's parts, as labels).
IDENTITY_LABELS = ("sla", "slice", "tier")


def acknowledge(
    store: AlertStore, ref: str | int, by: str, comment: str = "", *, source: str, now: float
) -> Alert:
    """Acknowledge one alert (by id or fingerprint); raises NotFound or lifecycle.AckError."""
    for _ in range(5):
        alert = store.get_alert(ref)
        if alert is None:
            raise NotFound(f"no alert with id or fingerprint {ref!r}")
        step = lifecycle.acknowledge(alert, by, comment, now)
        assert step.alert is not None
        audit = AuditEntry(
            at=now,
            actor=by,
            action="acknowledge",
            target=f"alert:{alert.fingerprint}",
            source=source,
            detail={"comment": comment, "sla": alert.sla_id, "slice": alert.slice, "tier": alert.tier},
        )
        try:
            store.commit(alerts=[step.alert], events=step.events, audits=[audit], now=now)
        except Conflict:
            continue
        return step.alert
    raise Conflict(f"alert {ref} kept changing; try again")


def group_alerts(store: AlertStore, config: AlertsConfig, ref: str) -> list[Alert]:
    """The unresolved alerts currently in the group ``ref`` (as in Slack button values)."""
    routed = route_groups(config, store.open_alerts())
    if ref not in routed:
        return []
    return list(routed[ref][3])


def acknowledge_group(
    store: AlertStore, config: AlertsConfig, ref: str, by: str, *, comment: str = "", source: str, now: float
) -> list[Alert]:
    """Acknowledge an incident: its alerts now, and those that join it while it stays open.

    The incident's acknowledgement is recorded on its group first, so an alert that joins while
    this runs is acknowledged by the next evaluation; then every firing alert in it. Returns the
    alerts acknowledged here.
    """
    if not by.strip():
        raise lifecycle.AckError("say who acknowledges (by)")
    for _ in range(5):
        state = store.groups().get(ref)
        if state is None or not state.open:
            break
        acked_group = replace(state, acknowledged_by=by, acknowledged_at=now, ack_comment=comment or None)
        try:
            store.commit_plan([acked_group], [], now)
        except Conflict:
            continue
        store.add_audit(
            AuditEntry(
                at=now,
                actor=by,
                action="acknowledge",
                target=f"incident:{ref}",
                source=source,
                detail={"comment": comment, "group": dict(state.group_labels), "receiver": state.receiver},
            )
        )
        break
    acked = []
    for alert in group_alerts(store, config, ref):
        if alert.state == "firing":
            acked.append(acknowledge(store, alert.fingerprint, by, comment, source=source, now=now))
    return acked


def parse_silence_matchers(matchers: str | Sequence[str]) -> list[Matcher]:
    items = [matchers] if isinstance(matchers, str) else list(matchers)
    try:
        return parse_matcher_list(items)
    except MatcherError as exc:
        raise SilenceError(str(exc)) from exc


def create_silence(
    store: AlertStore,
    matchers: str | Sequence[str],
    *,
    starts_at: float | None,
    ends_at: float,
    author: str,
    comment: str,
    now: float,
    source: str,
    expire_on_resolve: bool = False,
    time_intervals: Sequence[TimeInterval] = (),
) -> int:
    parsed = parse_silence_matchers(matchers)
    start = now if starts_at is None else starts_at
    validate(parsed, start, ends_at, now)
    if not author.strip():
        raise SilenceError("a silence needs an author")
    if not comment.strip():
        raise SilenceError("a silence needs a comment (why is it silenced?)")
    silence = Silence(
        id=0,
        matchers=tuple(parsed),
        starts_at=start,
        ends_at=ends_at,
        created_by=author,
        comment=comment,
        created_at=now,
        expire_on_resolve=expire_on_resolve,
        time_intervals=tuple(time_intervals),
    )
    detail: dict[str, Any] = {
        "matchers": [str(m) for m in parsed],
        "starts_at": iso(start),  # times as times in the audit log, not epoch seconds
        "ends_at": iso(ends_at),
        "comment": comment,
        "expire_on_resolve": expire_on_resolve,
    }
    if time_intervals:
        detail["time_intervals"] = [s.to_json() for s in time_intervals]
    audit = AuditEntry(now, author, "silence.create", "silence", source, detail=detail)
    return store.add_silence(silence, source, audit)


def expire_silence(store: AlertStore, silence_id: int, by: str, *, source: str, now: float) -> Silence:
    silence = store.get_silence(silence_id)
    if silence is None:
        raise NotFound(f"no silence with id {silence_id}")
    if silence.status(now) == "expired":
        raise SilenceError(f"silence {silence_id} has already expired")
    audit = AuditEntry(
        now,
        by,
        "silence.expire",
        f"silence:{silence_id}",
        source,
        detail={"matchers": [str(m) for m in silence.matchers]},
    )
    store.commit(audits=[audit], silences_expired=[(silence_id, by, now)], now=now)
    expired = store.get_silence(silence_id)
    assert expired is not None
    return expired


def silence_group(
    store: AlertStore,
    config: AlertsConfig,
    ref: str,
    *,
    by: str,
    duration_s: float,
    source: str,
    now: float,
) -> list[int]:
    """Silence what one notification is about (the Slack button), and nothing more."""
    routed = route_groups(config, store.open_alerts())
    if ref not in routed:
        return []
    route, _key, labels, members = routed[ref]
    comment = f"silenced from {source} for the alerts of one notification"
    return [
        create_silence(
            store,
            matchers,
            starts_at=now,
            ends_at=now + duration_s,
            author=by,
            comment=comment,
            now=now,
            source=source,
            expire_on_resolve=True,
        )
        for matchers in group_matchers(route.opts, labels, members)
    ]


def group_matchers(opts: RouteOpts, labels: Mapping[str, str], members: Sequence[Alert]) -> list[list[str]]:
    """Silence matchers that match a group's alerts exactly, one list per silence.

    A group label the group lacks is matched as empty: the group of an SLA as a whole (no
    ``slice`` label, ``group_by: [sla, slice]``) would otherwise be silenced by ``sla="x"``
    alone, which mutes every slice of that SLA. A route without ``group_by`` silences each alert
    by its identity (SLA, slice, tier), an absent slice matched as empty for the same reason.
    """
    if labels:
        names = sorted(labels) if opts.group_by_all else sorted(opts.group_by)
        return [[str(Matcher.create(k, "=", labels.get(k, ""))) for k in names]]
    return [[str(Matcher.create(k, "=", a.labels.get(k, ""))) for k in IDENTITY_LABELS] for a in members]

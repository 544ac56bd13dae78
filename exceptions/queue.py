"""The work queue: failed transactions grouped by signature, worked, and replayed.

``refresh`` recomputes each group's figures from the stored error spans of the window (so a
retention purge or a late span never leaves a count that the spans do not show), keeps the
state people gave it, reopens a closed group that failed again after it was closed, and reads
the outcome of earlier replays from the spans that arrived since in the replayed traces.
``change_state`` and ``replay`` are the two ways people act on a group; each writes its audit
entry in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from access.model import AuditEntry
from alerts.routing import Route
from exceptions.config import ExceptionsConfig
from exceptions.model import (
    Attempt,
    Group,
    GroupNotFound,
    GroupState,
    Outcome,
    Transaction,
    TransitionError,
    transition,
)
from exceptions.ratelimit import Bucket
from exceptions.routing import group_route_labels, team_for
from exceptions.signature import Signature, signature_of
from exceptions.store import ExceptionStore, FailedSpan
from exceptions.targets import Sender, sender_for, traceparent_for

#: What each verb of the CLI and API asks of the state machine.
VERBS: dict[str, GroupState] = {
    "assign": "assigned",
    "resolve": "resolved",
    "ignore": "ignored",
    "reopen": "new",
}


@dataclass
class _Tally:
    signature: Signature
    traces: set[str]
    first: float
    last: float
    amount: float
    workflow: str
    facility: str


def build_groups(
    failed: Iterable[FailedSpan],
    *,
    previous: Mapping[str, Group],
    attempts: Iterable[Attempt],
    route: Route,
    config: ExceptionsConfig,
    now: float,
) -> list[Group]:
    """The groups the failed spans make, with the state and replay figures already known."""
    tallies: dict[str, _Tally] = {}
    for span in failed:
        sig = signature_of(span.stage, span.system, span.status_message)
        t = tallies.get(sig.key)
        if t is None:
            t = tallies[sig.key] = _Tally(sig, set(), span.at, span.at, 0.0, span.workflow, span.facility)
        t.traces.add(span.trace_id)
        t.first = min(t.first, span.at)
        if span.at >= t.last:
            t.last, t.workflow, t.facility = span.at, span.workflow or t.workflow, span.facility or t.facility
        t.amount += span.amount or 0.0
    by_group: dict[str, list[Attempt]] = {}
    for a in attempts:
        by_group.setdefault(a.group_id, []).append(a)
    out = []
    for key, t in sorted(tallies.items()):
        sig = t.signature
        interface = config.interface_for(sig.stage, sig.system)
        labels = group_route_labels(
            stage=sig.stage,
            system=sig.system,
            workflow=t.workflow,
            facility=t.facility,
            extra=interface.labels if interface is not None else {},
        )
        mine = by_group.get(key, [])
        group = Group(
            id=key,
            stage=sig.stage,
            system=sig.system,
            message=sig.message,
            count=len(t.traces),
            first_seen=t.first,
            last_seen=t.last,
            amount=round(t.amount, 2),
            team=team_for(route, labels),
            workflow=t.workflow,
            facility=t.facility,
            interface=interface.name if interface is not None else "",
            state_at=t.first,
            replayed=sum(1 for a in mine if a.status == "sent"),
            succeeded=sum(1 for a in mine if a.outcome == "succeeded"),
            failed_again=sum(1 for a in mine if a.outcome == "failed_again"),
        )
        before = previous.get(key)
        if before is not None:
            group = replace(
                group,
                state=before.state,
                owner=before.owner,
                state_by=before.state_by,
                state_at=before.state_at,
            )
            if not before.open and t.last > before.state_at:
                group = replace(group, state="new", state_by="system", state_at=now)
        out.append(group)
    return out


def outcomes(
    attempts: Sequence[Attempt], later: Mapping[str, Sequence[tuple[bool, float]]]
) -> list[tuple[int, Outcome, float]]:
    """Pending sent attempts whose trace has since shown the stage again: succeeded when a span
    of that stage ended well after the replay, failed again when only failures followed."""
    found: list[tuple[int, Outcome, float]] = []
    for a in attempts:
        if a.status != "sent" or a.outcome != "pending" or a.id is None:
            continue
        after = [(ok, at) for ok, at in later.get(a.trace_id, ()) if at > a.at]
        good = [at for ok, at in after if ok]
        if good:
            found.append((a.id, "succeeded", min(good)))
        elif after:
            found.append((a.id, "failed_again", min(at for _, at in after)))
    return found


def refresh(store: ExceptionStore, route: Route, config: ExceptionsConfig, now: float) -> list[Group]:
    """Recompute every group of the window from the stored spans; returns them, newest first.

    A group none of whose failures is left in the window keeps its row (its history and state
    stay readable by id) but is not returned: it is no longer on the queue."""
    attempts = store.attempts(since=now - config.window)
    pending = [a for a in attempts if a.status == "sent" and a.outcome == "pending"]
    stages = {g.id: g.stage for g in store.groups()}
    by_stage: dict[str, list[Attempt]] = {}
    for a in pending:
        if a.group_id in stages:
            by_stage.setdefault(stages[a.group_id], []).append(a)
    decided: list[tuple[int, Outcome, float]] = []
    for stage, items in by_stage.items():
        later: dict[str, list[tuple[bool, float]]] = {}
        for s in store.stage_spans([a.trace_id for a in items], stage, min(a.at for a in items)):
            later.setdefault(s.trace_id, []).append((s.ok, s.at))
        decided += outcomes(items, later)
    store.set_outcomes(decided)
    if decided:
        attempts = store.attempts(since=now - config.window)
    previous = {g.id: g for g in store.groups()}
    groups = build_groups(
        store.failed_spans(now - config.window),
        previous=previous,
        attempts=attempts,
        route=route,
        config=config,
        now=now,
    )
    store.save_groups(groups)
    return sorted(groups, key=lambda g: g.last_seen, reverse=True)


def change_state(
    store: ExceptionStore,
    group_id: str,
    verb: str,
    *,
    actor: str,
    source: str,
    now: float,
    owner: str | None = None,
    comment: str = "",
) -> Group:
    """assign (needs an owner), resolve, ignore or reopen a group, audited."""
    if verb not in VERBS:
        raise TransitionError(f"unknown action {verb!r}: expected one of {', '.join(VERBS)}")
    group = store.group(group_id)
    if group is None:
        raise GroupNotFound(f"no exception group {group_id!r}")
    changed = transition(group, VERBS[verb], actor=actor, now=now, owner=owner)
    detail: dict[str, object] = {"from": group.state, "to": changed.state}
    if changed.owner != group.owner:
        detail["owner"] = changed.owner
    if comment:
        detail["comment"] = comment[:500]
    entry = AuditEntry(now, actor, f"exception.{verb}", f"exception:{group_id}", source, detail=detail)
    store.update_group(changed, [entry], before=group)
    return changed


@dataclass(frozen=True)
class ReplayReport:
    group: Group
    attempts: tuple[Attempt, ...]
    #: Selected transactions not sent because the target's bucket was empty.
    deferred: int
    #: Transactions skipped: a replay of them is pending or already succeeded.
    skipped: int

    def count(self, status: str) -> int:
        return sum(1 for a in self.attempts if a.status == status)


def transactions_of(
    store: ExceptionStore, group: Group, since: float, message_id_attribute: str
) -> list[Transaction]:
    """The group's failed transactions (the latest failure of each trace), oldest first."""
    latest: dict[str, FailedSpan] = {}
    for span in store.failed_spans(since, stage=group.stage, system=group.system or None, attributes=True):
        if span.system != group.system:
            continue
        if signature_of(span.stage, span.system, span.status_message).key != group.id:
            continue
        if span.trace_id not in latest or span.at >= latest[span.trace_id].at:
            latest[span.trace_id] = span
    chosen = sorted(latest.values(), key=lambda s: s.at)
    keys = store.keys_of([(s.trace_id, s.span_id) for s in chosen])
    return [
        Transaction(
            trace_id=s.trace_id,
            span_id=s.span_id,
            stage=s.stage,
            system=s.system,
            at=s.at,
            amount=s.amount,
            keys=keys.get((s.trace_id, s.span_id), {}),
            message_id=str(s.attributes.get(message_id_attribute, "") or ""),
        )
        for s in chosen
    ]


def replay(
    store: ExceptionStore,
    config: ExceptionsConfig,
    group_id: str,
    *,
    actor: str,
    source: str,
    now: float,
    traces: Sequence[str] = (),
    limit: int | None = None,
    senders: Callable[..., Sender] = sender_for,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Send the group's failed transactions (or those of ``traces``) to its interface's target,
    as many as its rate limit allows now; the group becomes ``replaying``."""
    group = store.group(group_id)
    if group is None:
        raise GroupNotFound(f"no exception group {group_id!r}")
    interface = config.by_name.get(group.interface) or config.interface_for(group.stage, group.system)
    if interface is None:
        raise TransitionError(
            f"group {group_id} ({group.stage} / {group.system or '-'}) has no replay target: "
            f"add an interface for stage {group.stage!r} to exceptions.yaml"
        )
    changed = transition(group, "replaying", actor=actor, now=now)
    history = store.attempts(group_id=group_id)
    settled = {
        a.trace_id
        for a in history
        if a.outcome == "succeeded" or (a.status == "sent" and a.outcome == "pending")
    }
    candidates = transactions_of(store, group, now - config.window, interface.message_id_attribute)
    if traces:
        wanted = set(traces)
        candidates = [t for t in candidates if t.trace_id in wanted]
        if not candidates:
            raise TransitionError(f"none of the given traces is a failed transaction of group {group_id}")
        skipped = 0
    else:
        before = len(candidates)
        candidates = [t for t in candidates if t.trace_id not in settled]
        skipped = before - len(candidates)
    if limit is not None:
        candidates = candidates[:limit]
    bucket = Bucket(interface.rate.per_minute / 60.0, interface.rate.burst)
    taken = [a.at for a in store.attempts(interface=interface.name, since=now - bucket.horizon)]
    allowed = bucket.allowed(taken, now)
    to_send, deferred = candidates[:allowed], max(0, len(candidates) - allowed)
    made: list[Attempt] = []
    sender = senders(interface)
    try:
        for i, tx in enumerate(to_send):
            parent = traceparent_for(tx.trace_id)
            result = sender.send(group_id, tx, parent)
            made.append(
                Attempt(
                    group_id=group_id,
                    interface=interface.name,
                    target=sender.kind,
                    trace_id=tx.trace_id,
                    span_id=tx.span_id,
                    key_hash=next(iter(sorted(tx.keys.items())), ("", ""))[1],
                    status=result.status,
                    actor=actor,
                    at=now,
                    result=result.result,
                    traceparent=parent,
                )
            )
            if progress is not None:
                progress(i + 1, len(to_send))
    finally:
        sender.close()
    sent = sum(1 for a in made if a.status == "sent")
    changed = replace(changed, replayed=group.replayed + sent)
    detail: dict[str, object] = {
        "interface": interface.name,
        "target": sender.kind,
        "sent": sent,
        "refused": sum(1 for a in made if a.status == "refused"),
        "error": sum(1 for a in made if a.status == "error"),
        "deferred": deferred,
    }
    entry = AuditEntry(now, actor, "exception.replay", f"exception:{group_id}", source, detail=detail)
    store.add_attempts(made, changed, [entry], before=group)
    return ReplayReport(changed, tuple(made), deferred, skipped)


__all__ = [
    "VERBS",
    "ReplayReport",
    "build_groups",
    "change_state",
    "outcomes",
    "refresh",
    "replay",
    "transactions_of",
]

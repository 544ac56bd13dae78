"""Exception groups and replay attempts as plain values, and the life of a group.

A group is worked like a ticket: ``new`` when its first failure is seen, ``assigned`` once
someone owns it, ``replaying`` while its transactions are re-driven, then ``resolved`` (fixed,
replayed or not needed) or ``ignored`` (known noise). A closed group can be reopened (``new``),
and reopens by itself when it fails again after it was closed. Every change says who and when,
so the queue doubles as the record of how an interface failure was handled.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

GroupState = Literal["new", "assigned", "replaying", "resolved", "ignored"]
STATES: tuple[GroupState, ...] = ("new", "assigned", "replaying", "resolved", "ignored")
OPEN_STATES: frozenset[GroupState] = frozenset({"new", "assigned", "replaying"})

#: Where each state may go. Re-assigning (assigned -> assigned) hands the group to someone else;
#: replaying again is a second round of replays.
TRANSITIONS: dict[GroupState, frozenset[GroupState]] = {
    "new": frozenset({"assigned", "replaying", "resolved", "ignored"}),
    "assigned": frozenset({"assigned", "replaying", "resolved", "ignored"}),
    "replaying": frozenset({"assigned", "replaying", "resolved", "ignored"}),
    "resolved": frozenset({"new"}),
    "ignored": frozenset({"new"}),
}

AttemptStatus = Literal["sent", "refused", "error"]
Outcome = Literal["pending", "succeeded", "failed_again"]


class TransitionError(ValueError):
    """A change of state the life of a group does not allow (the API answers 400)."""


class GroupChanged(TransitionError):
    """Someone changed the group between reading it and writing the change (400: look again)."""


class GroupNotFound(LookupError):
    """No group with that id (the API answers 404)."""


@dataclass(frozen=True)
class Group:
    id: str
    stage: str
    system: str
    message: str
    count: int
    first_seen: float
    last_seen: float
    #: Sum of ``hc.amount`` over the failed transactions that carry one.
    amount: float
    #: The receiver the alert route tree picks for the group's labels.
    team: str
    workflow: str = ""
    facility: str = ""
    #: The configured interface whose replay target re-drives the group ("" when none matches).
    interface: str = ""
    state: GroupState = "new"
    owner: str = ""
    state_by: str = "system"
    state_at: float = 0.0
    replayed: int = 0
    succeeded: int = 0
    failed_again: int = 0

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Transaction:
    """One failed transaction, by reference only: ids and key hashes, never a payload."""

    trace_id: str
    span_id: str
    stage: str
    system: str
    at: float
    amount: float | None = None
    #: ``hc.key.*`` name -> keyed hash, as the collector stored them.
    keys: dict[str, str] = field(default_factory=dict)
    #: The engine's own message id (e.g. Mirth's), from a configured span attribute.
    message_id: str = ""


@dataclass(frozen=True)
class Attempt:
    """One transaction sent to a replay target once."""

    group_id: str
    interface: str
    target: str
    trace_id: str
    span_id: str
    key_hash: str
    status: AttemptStatus
    actor: str
    at: float
    #: The target's answer, short ("202", "HTTP 500: ...", "no token left in the bucket").
    result: str = ""
    #: The traceparent the replay request carried: the new transaction's parent.
    traceparent: str = ""
    outcome: Outcome = "pending"
    outcome_at: float | None = None
    id: int | None = None


def transition(group: Group, to: GroupState, *, actor: str, now: float, owner: str | None = None) -> Group:
    """The group in state ``to``, or TransitionError naming the states it may go to."""
    if to not in TRANSITIONS:
        raise TransitionError(f"unknown state {to!r}: expected one of {', '.join(STATES)}")
    allowed = TRANSITIONS[group.state]
    if to not in allowed:
        raise TransitionError(
            f"group {group.id} is {group.state}: it can go to {', '.join(sorted(allowed))}, not {to}"
        )
    if to == "assigned" and not (owner or "").strip():
        raise TransitionError("assigning needs an owner")
    new_owner = (owner or "").strip() or group.owner
    return replace(group, state=to, owner=new_owner, state_by=actor, state_at=now)


def parse_states(text: str) -> frozenset[str]:
    """``open``, ``all`` or a comma-separated list of states, as ``--state`` and ``?state=`` take
    it; anything else is a ``ValueError`` naming what is accepted."""
    if text == "open":
        return frozenset(OPEN_STATES)
    if text == "all":
        return frozenset(STATES)
    wanted = frozenset(s.strip() for s in text.split(",") if s.strip())
    if not wanted or wanted - set(STATES):
        raise ValueError(f"expected open, all or states among {', '.join(STATES)}")
    return wanted


__all__ = [
    "OPEN_STATES",
    "STATES",
    "TRANSITIONS",
    "Attempt",
    "AttemptStatus",
    "Group",
    "GroupChanged",
    "GroupNotFound",
    "GroupState",
    "Outcome",
    "Transaction",
    "TransitionError",
    "parse_states",
    "transition",
]

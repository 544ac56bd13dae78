"""Escalation policies: who hears about an unacknowledged alert next, and when.

A policy is an ordered list of levels, each with receivers and a timeout: level 0 is notified
when the group is first notified; if nobody acknowledges within level 0's timeout, level 1 is
notified, and so on. After the last level's timeout the policy starts again at level 0, up to
``repeat`` more times, then stays quiet (the route's ``repeat_interval`` reminders continue).
An acknowledgement (or resolution, or suppression) of every firing alert stops it; if alerts
fire again unacknowledged later (an ack timeout, a new alert), it starts over at level 0.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EscalationLevel:
    receivers: tuple[str, ...]  # empty: the receiver of the route the incident came through
    timeout: float


@dataclass(frozen=True)
class EscalationPolicy:
    name: str
    levels: tuple[EscalationLevel, ...]
    repeat: int = 0
    ack_timeout: float | None = None  # overrides alerting.ack_timeout for alerts routed here


@dataclass(frozen=True)
class EscalationState:
    level: int
    round: int
    started_at: float
    next_at: float | None  # None once the policy is exhausted


@dataclass(frozen=True)
class EscalationStep:
    """Notify ``receivers`` as ``level`` (0-based) of round ``round`` (0 = first pass)."""

    level: int
    round: int
    receivers: tuple[str, ...]
    of_levels: int
    of_rounds: int


def start(policy: EscalationPolicy, now: float) -> tuple[EscalationState, EscalationStep]:
    first = policy.levels[0]
    state = EscalationState(level=0, round=0, started_at=now, next_at=now + first.timeout)
    return state, _step(policy, 0, 0)


def advance(
    policy: EscalationPolicy, state: EscalationState, now: float
) -> tuple[EscalationState, EscalationStep | None]:
    """Move at most one level forward if the current level's timeout has passed."""
    if state.next_at is None or now < state.next_at:
        return state, None
    level, round_ = state.level + 1, state.round
    if level >= len(policy.levels):
        level, round_ = 0, round_ + 1
        if round_ > policy.repeat:
            return EscalationState(state.level, state.round, state.started_at, None), None
    # Each level gets its full timeout from when it was notified, even after a late tick.
    next_at = now + policy.levels[level].timeout
    return EscalationState(level, round_, state.started_at, next_at), _step(policy, level, round_)


def _step(policy: EscalationPolicy, level: int, round_: int) -> EscalationStep:
    return EscalationStep(
        level=level,
        round=round_,
        receivers=policy.levels[level].receivers,
        of_levels=len(policy.levels),
        of_rounds=policy.repeat + 1,
    )

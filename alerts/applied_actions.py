"""Slack actions already applied: a replayed request gets the first answer and changes nothing.

Slack signs a request, not a moment: the same signed body stays valid for 5 minutes, and whoever
saw it (a proxy's log, a retrying client) can send it again. Every click has its own
``action_ts`` and ``trigger_id``, so an action is recorded under those (with the user, the button
and its value) before it is applied; a second request for the same click finds the record,
answers what the first one answered, and applies nothing. The record is a table in the store, so
it holds across the processes behind one URL and across restarts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from alerts.tables import alert_slack_actions as table
from vitals.kernel.rowmap import unix_nano
from vitals.kernel.units import NS

#: How long an applied action is remembered: far beyond the 5 minutes a signature is accepted.
KEEP_S = 24 * 3600.0
#: The answer to a copy of a request whose first copy is still being applied.
IN_PROGRESS = "this action is already being applied (a repeated request)"


class Click(Protocol):
    """What identifies one click (``SlackAction`` has these)."""

    @property
    def trigger_id(self) -> str: ...
    @property
    def action_ts(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def action_id(self) -> str: ...
    @property
    def value(self) -> str: ...


@dataclass(frozen=True)
class Applied:
    """The record of a click seen before."""

    outcome: str | None  # the answer given; None while the first request is applying it
    received_at: float
    replays: int  # copies received after the first, this one included

    @property
    def answer(self) -> str:
        return IN_PROGRESS if self.outcome is None else self.outcome


def action_key(click: Click) -> str:
    """One click's identity: the same for every copy of its request, different for any other click."""
    parts = (click.user_id, click.action_id, click.action_ts, click.trigger_id, click.value)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def identified(click: Click) -> bool:
    """Whether the click carries what tells it apart from others (Slack always sends both)."""
    return bool(click.action_ts or click.trigger_id)


class AppliedActions:
    """The ``alert_slack_actions`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, click: Click, now: float) -> Applied | None:
        """None if this is the first request for ``click`` (apply it, then ``finish``); else its record.

        The claim is an insert on the click's key, so of two copies arriving at once in two
        processes exactly one is applied.
        """
        key = action_key(click)
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(table).where(table.c.received_at_unix_nano < unix_nano(now - KEEP_S)))
                conn.execute(
                    insert(table).values(
                        key=key,
                        trigger_id=click.trigger_id[:255],
                        action_ts=click.action_ts[:32],
                        user_id=click.user_id[:64],
                        action_id=click.action_id[:255],
                        outcome=None,
                        received_at_unix_nano=unix_nano(now),
                        replays=0,
                    )
                )
            return None
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.key == key).values(replays=table.c.replays + 1))
            row = conn.execute(
                select(table.c.outcome, table.c.received_at_unix_nano, table.c.replays).where(
                    table.c.key == key
                )
            ).first()
        if row is None:  # pruned in between: long past, so applied long ago
            return Applied("this action was applied before", now, 1)
        return Applied(row.outcome, int(row.received_at_unix_nano) / NS, int(row.replays))

    def finish(self, click: Click, outcome: str) -> None:
        """Record the answer the first request gave (copies get the same)."""
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.key == action_key(click)).values(outcome=outcome))

    def release(self, click: Click) -> None:
        """Forget a claim whose action failed unexpectedly, so a copy of the request may apply it."""
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.key == action_key(click), table.c.outcome.is_(None)))

"""The audit log: one append-only record of who did what, when and from where, for every component.

``append(conn, entries)`` writes inside the caller's transaction, so a component's change and its
audit row commit together or not at all (alerting acknowledges an alert and records it in one
transaction). ``SqlAuditLog`` is the standalone log over an engine; ``InMemoryAuditLog`` the same
rules on a list. There is no update and no delete: the only way rows leave ``audit_log`` is the
store's own retention, if an operator configures one (none is installed by default).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from access.model import AuditEntry
from access.tables import audit_log
from vitals.kernel.rowmap import unix_nano
from vitals.kernel.units import NS

#: Most entries one query returns, whatever ``limit`` asks for.
MAX_LIMIT = 10_000


def _params(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at_unix_nano": unix_nano(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "source": entry.source,
        "remote": entry.remote[:64],
        "detail": dict(entry.detail),
    }


def append(conn: Connection, entries: Sequence[AuditEntry]) -> None:
    """Record ``entries`` in the caller's transaction (they commit with it)."""
    if entries:
        conn.execute(insert(audit_log), [_params(e) for e in entries])


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        at=int(row.at_unix_nano) / NS,
        actor=str(row.actor),
        action=str(row.action),
        target=str(row.target),
        source=str(row.source),
        remote=str(row.remote or ""),
        detail=dict(row.detail or {}),
        id=int(row.id),
    )


def read(
    conn: Connection,
    *,
    since: float | None = None,
    until: float | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 100,
) -> builtins.list[AuditEntry]:
    """Entries recorded in ``[since, until)`` (times of the entries), newest recorded first."""
    query = select(audit_log)
    if since is not None:
        query = query.where(audit_log.c.at_unix_nano >= unix_nano(since))
    if until is not None:
        query = query.where(audit_log.c.at_unix_nano < unix_nano(until))
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    query = query.order_by(audit_log.c.id.desc()).limit(max(0, min(limit, MAX_LIMIT)))
    return [_entry(r) for r in conn.execute(query)]


class SqlAuditLog:
    """The audit log in ``audit_log`` (the store is migrated already)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, entry: AuditEntry) -> None:
        with self.engine.begin() as conn:
            append(conn, [entry])

    def query(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> builtins.list[AuditEntry]:
        with self.engine.connect() as conn:
            return read(conn, since=since, until=until, actor=actor, action=action, limit=limit)


class InMemoryAuditLog:
    """The audit log on a list, for tests and for components without a store."""

    def __init__(self) -> None:
        self.entries: builtins.list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(replace(entry, detail=dict(entry.detail), id=len(self.entries) + 1))

    def query(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> builtins.list[AuditEntry]:
        found = [
            e
            for e in reversed(self.entries)
            if (since is None or e.at >= since)
            and (until is None or e.at < until)
            and (actor is None or e.actor == actor)
            and (action is None or e.action == action)
        ]
        return found[: max(0, min(limit, MAX_LIMIT))]


__all__ = ["MAX_LIMIT", "InMemoryAuditLog", "SqlAuditLog", "append", "read"]

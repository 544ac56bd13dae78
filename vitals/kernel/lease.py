"""Leases: one process at a time runs a job that several processes may try to run.

``vitals serve`` and every dashboard process refresh the dashboard's rollups; two ``vitals serve``
processes on one store both schedule the SLA engine. A lease decides who works. It is a row of
``vitals_leases``: a name, its holder, since when it holds it, and when the holding expires. A
process may take it when nobody holds it, when the holding has expired, when it holds it
already, or at once when the holder is a process of this host that no longer runs (a crash and
restart does not wait out the expiry).

Taking is one conditional UPDATE, so two processes never both win: SQLite runs one writer at a
time, and on PostgreSQL the second UPDATE waits for the first's row lock and re-checks its
condition against the committed row. A holder renews the lease (:func:`hold`) in the transaction
that writes its job's results; when another process has taken over meanwhile the renewal matches
no row, and the caller rolls back, so a holder that stalled past its expiry never writes over
its successor.

A per-row claim (the alert outbox: one notification, claimed by the dispatcher that sends it,
with its own attempt and retry state) is not a job lease and lives with its row; it shares
:func:`new_owner` and :func:`owner_alive`.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Column, String, Table, Text, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from vitals.kernel.db import metadata

__all__ = [
    "Lease",
    "all_leases",
    "hold",
    "holder",
    "leases",
    "may_take",
    "new_owner",
    "owner_alive",
    "owner_here",
    "owner_process",
    "release",
    "take",
]

leases = Table(
    "vitals_leases",
    metadata,
    Column("name", String(128), primary_key=True),
    # Who holds it (``host:pid:random``, see new_owner); '' before anyone took it.
    Column("owner", Text, nullable=False),
    # The holding ends at this instant unless renewed; 0 once released.
    Column("expires_unix_nano", BigInteger, nullable=False),
    # When the current holder took it (renewals keep it); 0 before anyone took it.
    Column("taken_unix_nano", BigInteger, nullable=False, server_default="0"),
)


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str
    expires_ns: int
    #: When ``owner`` took it (renewals keep it); 0 when unknown. Not part of equality: a lease
    #: is its name, holder and expiry.
    taken_ns: int = field(default=0, compare=False)

    def held(self, now_ns: int) -> bool:
        return bool(self.owner) and self.expires_ns > now_ns


def new_owner() -> str:
    """A holder name unique to this process and call: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_process(owner: str | None) -> tuple[str, int] | None:
    """The host and pid that ``owner`` names (see :func:`new_owner`), or None for another shape."""
    parts = (owner or "").split(":")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def owner_here(owner: str | None) -> bool:
    """Whether ``owner`` names this process (any of its holder names: each job makes its own)."""
    return owner_process(owner) == (socket.gethostname(), os.getpid())


def owner_alive(owner: str | None) -> bool | None:
    """False if ``owner`` names a process of this host that no longer runs; None if we cannot tell
    (another host, or a name not made by :func:`new_owner`)."""
    if not owner:
        return False
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return None
    pid = int(parts[1])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def may_take(current: Lease | None, owner: str, now_ns: int) -> bool:
    """Whether ``owner`` may take a lease whose row reads ``current``."""
    return (
        current is None
        or not current.held(now_ns)
        or current.owner == owner
        or owner_alive(current.owner) is False
    )


def holder(conn: Connection, name: str) -> Lease | None:
    """The lease's row, or None when nobody ever took it."""
    row = conn.execute(select(leases).where(leases.c.name == name)).first()
    return _lease(row) if row else None


def all_leases(conn: Connection) -> list[Lease]:
    """Every lease's row, by name (who holds which job, for ``/readyz`` and ``/metrics``)."""
    return [_lease(row) for row in conn.execute(select(leases).order_by(leases.c.name))]


def _lease(row: Any) -> Lease:
    return Lease(row.name, row.owner, int(row.expires_unix_nano), int(row.taken_unix_nano or 0))


def take(conn: Connection, name: str, owner: str, now_ns: int, duration_ns: int) -> Lease | None:
    """Take or renew the lease in the caller's transaction: the lease, or None when another
    process holds it."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(leases)
    absent = insert.values(name=name, owner="", expires_unix_nano=0)
    conn.execute(absent.on_conflict_do_nothing(index_elements=["name"]))
    current = holder(conn, name)
    if not may_take(current, owner, now_ns):
        return None
    assert current is not None
    # A renewal by the holder keeps when it took the lease; a new holder starts now.
    since = current.taken_ns if current.owner == owner and current.held(now_ns) else now_ns
    # Compare and set on the row as read: a concurrent taker changed it, or nobody did.
    taken = conn.execute(
        update(leases)
        .where(
            leases.c.name == name,
            leases.c.owner == current.owner,
            leases.c.expires_unix_nano == current.expires_ns,
        )
        .values(owner=owner, expires_unix_nano=now_ns + duration_ns, taken_unix_nano=since)
    ).rowcount
    return Lease(name, owner, now_ns + duration_ns, since) if taken == 1 else None


def hold(conn: Connection, lease: Lease, now_ns: int, duration_ns: int) -> Lease | None:
    """Renew ``lease`` in the transaction that writes the job's results; None when it was lost
    (the caller must roll back). A holding that expired but that nobody took is still held."""
    renewed = conn.execute(
        update(leases)
        .where(leases.c.name == lease.name, leases.c.owner == lease.owner)
        .values(expires_unix_nano=now_ns + duration_ns)
    ).rowcount
    return Lease(lease.name, lease.owner, now_ns + duration_ns, lease.taken_ns) if renewed == 1 else None


def release(conn: Connection, lease: Lease) -> None:
    """Let the next taker in at once (the row keeps the last holder's name)."""
    conn.execute(
        update(leases)
        .where(leases.c.name == lease.name, leases.c.owner == lease.owner)
        .values(expires_unix_nano=0)
    )

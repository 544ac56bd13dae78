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

A job that must not stop for long when its holder dies (the SLA engine tick, the alert
evaluation, the dashboard rollups) keeps its lease with a :class:`Keeper`: a heartbeat, apart
from the job's own interval, that renews the lease while the process lives and, in a process that
stands by, tries to take it. Its :class:`Timing` follows from one figure, the *takeover bound*
(``VITALS_LEASE_BOUND``, 30 s by default): a lease lasts half the bound and the heartbeat beats six
times per bound, so a holder that dies on another host is replaced at most ``lease + heartbeat``
(20 s by default) after its last renewal, within the bound, while a holder that lives survives
two missed beats. The bound cannot rely on the holder's death being noticed: only a process of
this host that no longer runs is detected at once (``VITALS_LEASE_HOST`` names the host in holder
names, so processes of one machine can stand for several hosts, as the fault tests do).

A per-row claim (the alert outbox: one notification, claimed by the dispatcher that sends it,
with its own attempt and retry state) is not a job lease and lives with its row; it shares
:func:`new_owner` and :func:`owner_alive`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Column, String, Table, Text, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from vitals.kernel.db import metadata

__all__ = [
    "BOUND_ENV",
    "DEFAULT_BOUND_S",
    "HOST_ENV",
    "Keeper",
    "Lease",
    "Timing",
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
    "renew_owned",
    "take",
    "this_process",
    "timing",
]

log = logging.getLogger(__name__)

#: Environment variable: the takeover bound in seconds (see :class:`Timing`).
BOUND_ENV = "VITALS_LEASE_BOUND"
#: Environment variable: the host name written in holder names (default: the machine's).
HOST_ENV = "VITALS_LEASE_HOST"
#: The takeover bound by default: a job whose holder died runs again elsewhere within 30 s.
DEFAULT_BOUND_S = 30.0
#: The shortest bound accepted: below it a lease would not outlast a slow transaction.
MIN_BOUND_S = 1.0

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


@dataclass(frozen=True)
class Timing:
    """How long a job lease lasts and how often its :class:`Keeper` beats, from the takeover bound.

    Pure. The worst case: the holder renews and dies at once; its lease runs out ``lease_s``
    later; a standby that looked just before then looks again ``heartbeat_s`` later and takes it.
    """

    bound_s: float = DEFAULT_BOUND_S

    @property
    def lease_s(self) -> float:
        return self.bound_s / 2

    @property
    def heartbeat_s(self) -> float:
        return self.bound_s / 6

    @property
    def worst_takeover_s(self) -> float:
        """The longest a job stays without a holder after its holder dies (before its first run)."""
        return self.lease_s + self.heartbeat_s

    @property
    def missed_beats_survived(self) -> int:
        """Heartbeats a living holder may miss (a stalled database, a busy host) and keep its lease."""
        return int(self.lease_s / self.heartbeat_s) - 1


def timing(environ: Mapping[str, str] | None = None) -> Timing:
    """The timing of job leases: ``VITALS_LEASE_BOUND`` seconds, or 30 s by default."""
    raw = (os.environ if environ is None else environ).get(BOUND_ENV, "").strip()
    if not raw:
        return Timing()
    try:
        bound = float(raw)
    except ValueError:
        raise ValueError(f"{BOUND_ENV}={raw!r}: expected a number of seconds") from None
    if not bound >= MIN_BOUND_S:
        raise ValueError(f"{BOUND_ENV}={raw!r}: the takeover bound must be at least {MIN_BOUND_S:g}s")
    return Timing(bound)


def _host() -> str:
    return os.environ.get(HOST_ENV) or socket.gethostname()


def this_process() -> tuple[str, int]:
    """The host and pid that this process's holder names carry (see :func:`new_owner`)."""
    return _host(), os.getpid()


def new_owner() -> str:
    """A holder name unique to this process and call: ``host:pid:random``."""
    return f"{_host()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_process(owner: str | None) -> tuple[str, int] | None:
    """The host and pid that ``owner`` names (see :func:`new_owner`), or None for another shape."""
    parts = (owner or "").split(":")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def owner_here(owner: str | None) -> bool:
    """Whether ``owner`` names this process (any of its holder names: each job makes its own)."""
    return owner_process(owner) == this_process()


def owner_alive(owner: str | None) -> bool | None:
    """False if ``owner`` names a process of this host that no longer runs; None if we cannot tell
    (another host, or a name not made by :func:`new_owner`)."""
    if not owner:
        return False
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != _host() or not parts[1].isdigit():
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
    # Compare and set on the row as read: a concurrent taker changed it, or nobody did. A holder
    # renewing its own lease matches on its name only: its heartbeat and its job renew from two
    # threads, and one's renewal must not read as a lost lease to the other.
    same = current.owner == owner
    taken = conn.execute(
        update(leases)
        .where(
            leases.c.name == name,
            leases.c.owner == current.owner,
            *(() if same else (leases.c.expires_unix_nano == current.expires_ns,)),
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


def renew_owned(conn: Connection, owner: str, now_ns: int, duration_ns: int) -> int:
    """Renew every unreleased lease ``owner`` still holds (a job and the per-part leases it took
    under the same name); how many. A lease another process took is no longer ``owner``'s."""
    return int(
        conn.execute(
            update(leases)
            .where(leases.c.owner == owner, leases.c.expires_unix_nano > 0)
            .values(expires_unix_nano=now_ns + duration_ns)
        ).rowcount
    )


class Keeper:
    """One process's hold on a job lease, kept on a heartbeat apart from the job's own interval.

    :meth:`beat` runs every ``timing.heartbeat_s``: the holder renews (its lease and every other
    lease it took under ``owner``), a process standing by tries to take it. It never raises: a
    failed beat is logged and the next one tries again, and a holder that cannot renew loses the
    lease when it runs out, as it must. Writes of the job stay guarded by :func:`hold` in their
    own transactions (or by conditions of their own): holding here is permission to start work,
    not to write over a successor.
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        *,
        owner: str | None = None,
        timing_: Timing | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.engine = engine
        self.name = name
        self.owner = owner or new_owner()
        self.timing = timing_ or timing()
        self.clock = clock
        self.lease: Lease | None = None
        # The job and its heartbeat renew from two threads: one at a time, or the second's
        # compare-and-set would miss the first's renewal and read as a lost lease.
        self._lock = threading.Lock()
        #: The holder seen by the last beat that did not hold (for status lines).
        self.other: Lease | None = None

    @property
    def duration_ns(self) -> int:
        return int(self.timing.lease_s * 1_000_000_000)

    def holds(self) -> bool:
        """Whether the last beat left this process holding the lease (and it has not run out)."""
        return self.lease is not None and self.lease.held(self.clock())

    def standby(self) -> str | None:
        """None when this process may run the job now; else who holds it (for a status line).

        A tick before the first heartbeat, or after a lost one, beats once itself rather than
        wait a heartbeat to find out."""
        if not self.holds():
            self.beat()
        if self.holds():
            return None
        return self.other.owner if self.other else "another process"

    def beat(self) -> bool:
        """Renew or take the lease; True when this beat took it (we did not hold it before).
        Never raises: with the store away, the lease we had runs out by itself."""
        try:
            return self.renew()
        except Exception as exc:
            log.warning("lease %s: heartbeat failed: %s", self.name, exc)
            return False

    def renew(self) -> bool:
        """:meth:`beat`, raising the store's errors (for a job that reports them)."""
        with self._lock:
            return self._renew()

    def _renew(self) -> bool:
        before = self.holds()
        with self.engine.begin() as conn:
            now = self.clock()
            lease = take(conn, self.name, self.owner, now, self.duration_ns)
            if lease is not None:
                renew_owned(conn, self.owner, now, self.duration_ns)
                self.other = None
            else:
                self.other = holder(conn, self.name)
        self.lease = lease
        if lease is not None and not before:
            log.info("lease %s: taken by %s", self.name, self.owner)
        elif lease is None and before:
            log.warning(
                "lease %s: lost to %s", self.name, self.other.owner if self.other else "another process"
            )
        return lease is not None and not before

    def release(self) -> None:
        """Hand the lease on at once (on a graceful stop)."""
        if self.lease is None:
            return
        try:
            with self.engine.begin() as conn:
                release(conn, self.lease)
        except Exception as exc:
            log.warning("lease %s: release failed (it runs out by itself): %s", self.name, exc)
        self.lease = None

"""One ``vitals serve`` at a time on a SQLite store: an exclusive lock file beside the database.

SQLite runs one writer at a time, and two ``vitals serve`` processes over one file would fight
for it (each collector keeps a durable writer busy); several processes are what PostgreSQL is
for. So ``vitals serve`` takes an exclusive ``flock`` on ``<database>-serve.lock`` before it
starts and keeps it for its lifetime. The kernel drops the lock when the process ends however it
ends (SIGKILL included), so a crash never leaves a stale lock behind, and the demo's back-fill
then restart works. Readers (``vitals dashboard``, ``vitals report``) take no lock: they are not
a serve. The file holds the holder's pid, host and start time, for the refusal's message.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from vitals.kernel.db import normalize_url

__all__ = ["AlreadyServed", "ServeLock", "lock_path", "take_serve_lock"]


class AlreadyServed(Exception):
    """Another ``vitals serve`` holds the store's lock; the message says who and what to do."""


def lock_path(db_url: str) -> Path | None:
    """The lock file of a SQLite file store, or None (PostgreSQL, in-memory SQLite)."""
    url = make_url(normalize_url(db_url))
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute().with_name(Path(database).name + "-serve.lock")


@dataclass
class ServeLock:
    """Held while the object lives (and its file stays open); :meth:`release` lets go at once."""

    path: Path
    file: IO[str] | None

    def release(self) -> None:
        if self.file is not None:
            self.file.close()  # closing drops the flock
            self.file = None


def refusal(path: Path, holder: str) -> str:
    """The message of a refused start (pure: the tests read it)."""
    database = path.with_name(path.name.removesuffix("-serve.lock"))
    who = holder.strip() or "another process (it has not written its name yet)"
    return (
        f"another vitals serve already runs on the SQLite store {database}: {who} holds {path}. "
        "SQLite takes one vitals serve at a time (one writer): stop the other one first, or use "
        "PostgreSQL (--db postgresql://...) to run several vitals serve processes over one store. "
        "Readers such as vitals dashboard need no vitals serve of their own."
    )


def take_serve_lock(db_url: str) -> ServeLock | None:
    """Take the store's serve lock, or raise :class:`AlreadyServed`; None for a store without one."""
    path = lock_path(db_url)
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    file = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = file.read()
        file.close()
        raise AlreadyServed(refusal(path, holder)) from None
    file.seek(0)
    file.truncate()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    file.write(f"pid {os.getpid()} on host {socket.gethostname()} (since {started})\n")
    file.flush()
    return ServeLock(path, file)

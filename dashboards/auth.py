"""Password checks and role rules, free of Streamlit so they are tested with plain values."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import bcrypt

from dashboards.config import DashboardConfig, Role

#: Pages each role may open (page keys as in ``dashboards.pages_registry``).
EXECUTIVE_PAGES = ("scorecard", "sla")
ENGINEER_PAGES = ("scorecard", "sla", "operations", "traces", "dependencies", "alerts")

MAX_FAILURES = 5
LOCKOUT_S = 60.0


@functools.cache
def _dummy_hash() -> bytes:
    """A real hash, so an unknown username costs the same bcrypt work as a known one."""
    return bcrypt.hashpw(b"vitals-no-such-user", bcrypt.gensalt(rounds=12))


def hash_password(password: str, rounds: int = 12) -> str:
    if not password:
        raise ValueError("the password is empty")
    if len(password.encode()) > 72:
        raise ValueError("bcrypt uses at most 72 bytes of a password; choose a shorter one")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def pages_for(role: Role) -> tuple[str, ...]:
    return EXECUTIVE_PAGES if role == "executive" else ENGINEER_PAGES


def may_open(role: Role, page: str) -> bool:
    return page in pages_for(role)


@dataclass(frozen=True)
class Identity:
    username: str
    name: str
    role: Role


class LoginThrottle:
    """After MAX_FAILURES failed logins for a username, refuse it for LOCKOUT_S seconds.

    Shared by every session of one dashboard process (the attacker opens new sessions).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def locked_for(self, username: str) -> float:
        with self._lock:
            recent = [t for t in self._failures.get(username, []) if self._clock() - t < LOCKOUT_S]
            self._failures[username] = recent
            if len(recent) < MAX_FAILURES:
                return 0.0
            return LOCKOUT_S - (self._clock() - recent[-MAX_FAILURES])

    def failed(self, username: str) -> None:
        with self._lock:
            self._failures.setdefault(username, []).append(self._clock())

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)


class LoginError(Exception):
    pass


def check_password(
    config: DashboardConfig, username: str, password: str, throttle: LoginThrottle
) -> Identity:
    """The identity for a correct username and password; LoginError (one message for both) else."""
    username = username.strip()
    wait = throttle.locked_for(username)
    if wait > 0:
        raise LoginError(f"Too many failed attempts: try again in {wait:.0f} s.")
    user = config.user(username)
    hashed = user.password_hash.reveal().encode() if user else _dummy_hash()
    ok = bcrypt.checkpw(password.encode()[:72], hashed) and user is not None
    if not ok or user is None:
        throttle.failed(username)
        raise LoginError("Unknown username or wrong password.")
    throttle.succeeded(username)
    return Identity(user.username, user.name or user.username, user.role)

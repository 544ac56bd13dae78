"""Password checks, role rules and session lifetimes, free of Streamlit so they are tested with
plain values.

A sign-in proves who someone is once; what they may do is decided again on every page run from
the configuration in force (a demoted or removed user loses access at their next interaction,
not when their browser session ends), and a session ends after an idle time or a maximum age.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import bcrypt

from dashboards.config import DashboardConfig, Role
from vitals.kernel.units import format_duration

#: Pages each role may open (page keys as in ``dashboards.ui.frame.PAGES``).
EXECUTIVE_PAGES = ("scorecard", "sla", "capacity")
ENGINEER_PAGES = (
    "scorecard",
    "sla",
    "operations",
    "traces",
    "dependencies",
    "apis",
    "alerts",
    "capacity",
    "exceptions",
)
#: No page is for admins only yet: an admin sees what an engineer sees. (The API's ``admin``
#: scope is a token's, not a dashboard role's.)
ADMIN_PAGES = ENGINEER_PAGES

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
    return {"executive": EXECUTIVE_PAGES, "engineer": ENGINEER_PAGES, "admin": ADMIN_PAGES}[role]


def may_open(role: Role, page: str) -> bool:
    return page in pages_for(role)


Method = Literal["none", "password", "oidc"]


@dataclass(frozen=True)
class Identity:
    """Who is asking and, as the configuration says now, in which role."""

    username: str  # the audit log's actor: a password user's name, or an OIDC e-mail (else sub)
    name: str
    role: Role
    method: Method = "none"


@dataclass(frozen=True)
class Login:
    """What a sign-in proved, kept for the session and judged again on every run."""

    method: Method
    subject: str  # password: the username; OIDC: the e-mail, else the sub
    name: str
    signed_in_at: float  # Unix seconds (OIDC: the ID token's iat)
    key: str  # the session's key in the activity book
    credential: str = ""  # password: a digest of the hash signed in with (a new password ends it)


class Refused(Exception):
    """The session may not go on; the message says why, for the person signed in."""


def credential_digest(password_hash: str) -> str:
    """A digest of a stored hash: a session notices a changed password without keeping the hash."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def oidc_subject(claims: Mapping[str, object]) -> str:
    """The actor for an OIDC user: the e-mail, else the subject (``sub``)."""
    email = claims.get("email")
    return str(email) if email else str(claims.get("sub") or "unknown")


def oidc_login(claims: Mapping[str, object], now: float) -> Login:
    """The login behind an OIDC identity cookie; one ID token (issuer, subject, issued at) is
    one session, so a reloaded tab continues it and a new sign-in starts another."""
    subject = oidc_subject(claims)
    iat = claims.get("iat")
    issued = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else now
    key = f"oidc|{claims.get('iss', '')}|{claims.get('sub', subject)}|{iat}"
    name = claims.get("name")
    return Login("oidc", subject, str(name) if name else subject, issued, key)


def identity_for(
    config: DashboardConfig, login: Login, claims: Mapping[str, object] | None = None
) -> Identity:
    """The identity ``login`` has under ``config`` now; Refused when it has none any more."""
    if login.method == "password":
        user = config.user(login.subject) if config.auth_mode == "password" else None
        if user is None:
            raise Refused(f"The user {login.subject} no longer exists on this dashboard.")
        if credential_digest(user.password_hash.reveal()) != login.credential:
            raise Refused("The password of this user was changed: sign in again.")
        return Identity(user.username, user.name or user.username, user.role, "password")
    if login.method == "oidc":
        if config.oidc is None:
            raise Refused("Single sign-on is no longer configured on this dashboard.")
        role = config.oidc.role_for_claims(claims or {})
        if role is None:
            raise Refused(f"{login.subject} has no role on this dashboard; ask its administrator to add one.")
        return Identity(login.subject, login.name, role, "oidc")
    return Identity("", "local user", "engineer")


def session_end(
    config: DashboardConfig, signed_in_at: float, last_seen: float | None, now: float
) -> str | None:
    """Why a session seen last at ``last_seen`` has ended at ``now``, or None while it lasts."""
    max_age = config.session_max_age
    if max_age is not None and now - signed_in_at >= max_age:
        return f"Your session ended: you signed in more than {format_duration(max_age)} ago."
    idle = config.session_idle_timeout
    if idle is not None and last_seen is not None and now - last_seen >= idle:
        return f"Your session expired after {format_duration(idle)} without activity."
    return None


class ActivityBook:
    """When each session was last active, and which sessions ended, for one dashboard process.

    Shared by the sessions of the process: an OIDC identity cookie outlives a browser tab, so a
    reloaded tab must find its session's last activity (and that it ended) here, not in the
    tab's own state. Times come from the caller, so the rules are tested with a fixed clock.
    """

    #: Entries kept at most; the longest idle ones go first (an ended one then could come back
    #: only through its maximum age).
    MAX_ENTRIES = 100_000

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._ended: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def touch(self, key: str, now: float) -> float | None:
        """Record activity at ``now``; the previous activity (None for a session not seen yet)."""
        with self._lock:
            previous = self._seen.get(key)
            self._seen[key] = now
            if len(self._seen) > self.MAX_ENTRIES:
                oldest = sorted(self._seen, key=self._seen.__getitem__)[: len(self._seen) // 10]
                for stale in oldest:
                    del self._seen[stale]
            return previous

    def last_seen(self, key: str) -> float | None:
        with self._lock:
            return self._seen.get(key)

    def end(self, key: str, now: float, why: str) -> None:
        """End a session for good: its key stays refused (with ``why``) if it comes back."""
        with self._lock:
            self._seen.pop(key, None)
            self._ended[key] = (now, why)
            if len(self._ended) > self.MAX_ENTRIES:
                by_age = sorted(self._ended, key=lambda k: self._ended[k][0])
                for stale in by_age[: len(self._ended) // 10]:
                    del self._ended[stale]

    def ended(self, key: str) -> str | None:
        """Why the session ended, or None while it may go on."""
        with self._lock:
            found = self._ended.get(key)
            return found[1] if found else None


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
    return Identity(user.username, user.name or user.username, user.role, "password")


def password_login(config: DashboardConfig, identity: Identity, now: float, key: str) -> Login:
    """The login of a password user ``check_password`` just let in."""
    user = config.user(identity.username)
    digest = credential_digest(user.password_hash.reveal()) if user else ""
    return Login("password", identity.username, identity.name, now, key, digest)

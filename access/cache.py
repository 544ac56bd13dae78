"""Active tokens held in memory, so a request is checked without a database round trip.

The collector checks a bearer token on every OTLP request, hundreds a second; asking the store each
time would put a query in front of every export. The cache holds every active token by the hash of
its secret and reloads them all (a small table) at most every ``ttl`` seconds, on the first request
after it went stale. So:

* a token created or revoked with ``vitals tokens`` takes effect within ``ttl`` (5 s by default);
* an expiry takes effect at once: each check compares the token's expiry with the clock;
* unknown secrets (a scan, a typo) cost a hash and a dict lookup, never a query;
* when a reload fails (the store is briefly unreachable) the tokens loaded last stay in force and
  the reload is tried again at the next stale check.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from access.model import Principal, TokenInfo
from access.tokens import LAST_USED_RESOLUTION_S, hash_secret

log = logging.getLogger("vitals.access")

#: Seconds a loaded set of tokens is trusted: the longest a revocation takes to reach the collector.
DEFAULT_TTL_S = 5.0


class ActiveTokens(Protocol):
    """Where the cache loads from (``SqlTokenStore`` and ``InMemoryTokenStore`` both are)."""

    def active_digests(self, now: float) -> dict[str, TokenInfo]: ...

    def any_created(self) -> bool: ...

    def touch(self, name: str, now: float) -> None: ...


class TokenCache:
    """Active tokens by secret hash, reloaded at most every ``ttl`` seconds.

    ``clock`` is the wall clock expiry is measured on; ``monotonic`` measures the cache's age (so
    a clock step neither freezes nor floods reloads). Thread-safe: gRPC handlers run in threads;
    one caller reloads while the others go on with the previous set.
    """

    def __init__(
        self,
        source: ActiveTokens,
        *,
        ttl: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.ttl = ttl
        self.clock = clock
        self.monotonic = monotonic
        self._tokens: dict[str, TokenInfo] = {}
        self._loaded_at: float | None = None
        #: Whether a token was ever created: once true it stays true (names are never deleted).
        self._created = False
        #: Use seen since the last reload (name -> when), written at the next reload, so a request
        #: costs no write; ``_written``: when each token's use was last written.
        self._used: dict[str, float] = {}
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()
        self.reloads = 0

    def _fresh(self) -> dict[str, TokenInfo]:
        loaded_at = self._loaded_at
        if loaded_at is not None and self.monotonic() - loaded_at < self.ttl:
            return self._tokens
        blocking = loaded_at is None  # the first load is waited for; later ones are not
        if not self._lock.acquire(blocking=blocking):
            return self._tokens
        try:
            if self._loaded_at is not loaded_at:  # another thread reloaded meanwhile
                return self._tokens
            try:
                self._tokens = self.source.active_digests(self.clock())
                self._created = self._created or bool(self._tokens) or self.source.any_created()
                self._write_use()
            except Exception as exc:
                log.warning(
                    "could not reload the API tokens (keeping the %d loaded): %s", len(self._tokens), exc
                )
            self._loaded_at = self.monotonic()
            self.reloads += 1
            return self._tokens
        finally:
            self._lock.release()

    def any_active(self) -> bool:
        now = self.clock()
        return any(info.active(now) for info in self._fresh().values())

    def note_use(self, name: str) -> None:
        """Record that ``name`` authenticated with the scope it needed (a refusal is no use); it
        reaches the store's ``last_used_at`` at the next reload, at most once a minute per token."""
        self._used[name] = self.clock()

    def _write_use(self) -> None:
        used, self._used = self._used, {}
        for name, at in used.items():
            if at - self._written.get(name, float("-inf")) < LAST_USED_RESOLUTION_S:
                continue
            try:
                self.source.touch(name, at)
            except Exception as exc:
                log.warning("could not note the last use of token %r: %s", name, exc)
                continue
            self._written[name] = at

    def any_created(self) -> bool:
        """Whether a token was ever created, revoked and expired ones included: the loopback
        rule's test (authentication is off only while none was)."""
        self._fresh()
        return self._created

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of an active token with this secret, or None."""
        info = self._fresh().get(hash_secret(secret))
        if info is None or not info.active(self.clock()):
            return None
        return Principal(info.name, info.scopes)


__all__ = ["DEFAULT_TTL_S", "ActiveTokens", "TokenCache"]

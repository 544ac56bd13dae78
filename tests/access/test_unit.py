"""The access rules on plain values and in-memory stores: scopes, tokens, the audit log, the cache."""

from __future__ import annotations

import pytest

from access.audit import InMemoryAuditLog
from access.cache import TokenCache
from access.model import AuditEntry, Principal, TokenInfo
from access.tokens import (
    DuplicateToken,
    InMemoryTokenStore,
    TokenError,
    UnknownToken,
    hash_secret,
    parse_scopes,
    state,
)
from collector.auth import ANONYMOUS, TokenAuthenticator

T0 = 1_780_000_000.0


def test_admin_implies_write_implies_read_and_ingest_stands_apart() -> None:
    admin = Principal("a", frozenset({"admin"}))
    assert admin.allows("read") and admin.allows("write") and admin.allows("admin")
    assert not admin.allows("ingest")
    writer = Principal("w", frozenset({"write"}))
    assert writer.allows("read") and not writer.allows("admin")
    reader = Principal("r", frozenset({"read"}))
    assert reader.allows("read") and not reader.allows("write")
    ingest = Principal("i", frozenset({"ingest"}))
    assert ingest.allows("ingest") and not ingest.allows("read")


def test_scopes_are_checked_and_named() -> None:
    assert parse_scopes(["READ", " ingest "]) == frozenset({"read", "ingest"})
    with pytest.raises(TokenError, match="unknown scope 'owner'"):
        parse_scopes(["owner"])
    with pytest.raises(TokenError, match="at least one scope"):
        parse_scopes([])


def test_a_token_is_shown_once_and_kept_as_its_hash() -> None:
    store = InMemoryTokenStore()
    info, secret = store.create("ci", frozenset({"read"}), now=T0)
    assert secret.startswith("vt_") and len(secret) == 3 + 43
    assert store.prefixes()["ci"] == secret[:9]
    assert len(hash_secret(secret)) == 64
    assert secret not in repr(store.list()) and secret not in repr(info)
    principal = store.authenticate(secret, now=T0 + 1)
    assert principal == Principal("ci", frozenset({"read"}))
    assert store.authenticate(secret + "x", now=T0 + 1) is None
    assert store.list()[0].last_used_at == T0 + 1


def test_names_are_unique_and_revocation_and_expiry_end_a_token() -> None:
    store = InMemoryTokenStore()
    _, forever = store.create("ci", frozenset({"read"}), now=T0)
    _, brief = store.create("brief", frozenset({"ingest"}), now=T0, expires_at=T0 + 60)
    with pytest.raises(DuplicateToken, match="exists already"):
        store.create("ci", frozenset({"admin"}), now=T0)
    assert store.any_active(T0)
    assert store.authenticate(brief, now=T0 + 59) is not None
    assert store.authenticate(brief, now=T0 + 60) is None
    assert state(store.list()[1], T0 + 60) == "expired"
    revoked = store.revoke("ci", now=T0 + 10)
    assert revoked.revoked_at == T0 + 10 and state(revoked, T0 + 11) == "revoked"
    assert store.revoke("ci", now=T0 + 20).revoked_at == T0 + 10  # once
    assert store.authenticate(forever, now=T0 + 11) is None
    assert not store.any_active(T0 + 60)
    with pytest.raises(UnknownToken):
        store.revoke("nope", now=T0)


@pytest.mark.parametrize("name", ["", "two words", "tab\there", "x" * 129])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(TokenError):
        InMemoryTokenStore().create(name, frozenset({"read"}), now=T0)


def test_the_audit_log_filters_by_time_actor_and_action_newest_first() -> None:
    log = InMemoryAuditLog()
    for i, (actor, action) in enumerate(
        [("ann", "token.create"), ("bob", "acknowledge"), ("ann", "token.revoke")]
    ):
        log.record(AuditEntry(T0 + i, actor, action, f"t{i}", "cli", detail={"i": i}))
    assert [e.target for e in log.query()] == ["t2", "t1", "t0"]
    assert [e.target for e in log.query(actor="ann")] == ["t2", "t0"]
    assert [e.target for e in log.query(action="acknowledge")] == ["t1"]
    assert [e.target for e in log.query(since=T0 + 1, until=T0 + 2)] == ["t1"]
    assert [e.id for e in log.query(limit=1)] == [3]


class Clocks:
    def __init__(self) -> None:
        self.wall = T0
        self.mono = 0.0


def _cache(store: InMemoryTokenStore, clocks: Clocks, ttl: float = 5.0) -> TokenCache:
    return TokenCache(store, ttl=ttl, clock=lambda: clocks.wall, monotonic=lambda: clocks.mono)


def test_the_cache_sees_a_revocation_within_its_ttl_and_an_expiry_at_once() -> None:
    store = InMemoryTokenStore()
    clocks = Clocks()
    _, secret = store.create("billing", frozenset({"ingest"}), now=T0, expires_at=T0 + 100)
    cache = _cache(store, clocks)
    assert cache.authenticate(secret) == Principal("billing", frozenset({"ingest"}))
    assert cache.authenticate("vt_unknown") is None
    assert cache.reloads == 1  # unknown secrets cost no reload
    store.revoke("billing", now=T0)
    clocks.mono = 4.9
    assert cache.authenticate(secret) is not None  # still within the ttl
    clocks.mono = 5.0
    assert cache.authenticate(secret) is None
    assert cache.reloads == 2
    _, other = store.create("lab", frozenset({"ingest"}), now=T0, expires_at=T0 + 100)
    clocks.mono = 10.0
    assert cache.authenticate(other) is not None
    clocks.wall = T0 + 100  # expiry needs no reload
    assert cache.authenticate(other) is None and not cache.any_active()


class Failing:
    def __init__(self, inner: InMemoryTokenStore) -> None:
        self.inner = inner
        self.fail = False

    def active_digests(self, now: float) -> dict[str, TokenInfo]:
        if self.fail:
            raise OSError("store unreachable")
        return self.inner.active_digests(now)

    def any_created(self) -> bool:
        if self.fail:
            raise OSError("store unreachable")
        return self.inner.any_created()

    def touch(self, name: str, now: float) -> None:
        self.inner.touch(name, now)


def test_a_failed_reload_keeps_the_tokens_loaded_last() -> None:
    store = InMemoryTokenStore()
    _, secret = store.create("billing", frozenset({"ingest"}), now=T0)
    source = Failing(store)
    clocks = Clocks()
    cache = TokenCache(source, clock=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    assert cache.authenticate(secret) is not None
    source.fail = True
    clocks.mono = 60.0
    assert cache.authenticate(secret) is not None


def test_the_collector_takes_yaml_tokens_and_ingest_store_tokens() -> None:
    store = InMemoryTokenStore()
    clocks = Clocks()
    cache = _cache(store, clocks)
    auth = TokenAuthenticator({"yaml-secret-123": "lab"}, cache)
    _, ingest = store.create("billing", frozenset({"ingest"}), now=T0)
    _, reader = store.create("grafana", frozenset({"admin"}), now=T0)
    assert auth.source("Bearer yaml-secret-123") == "lab"
    assert auth.source(f"Bearer {ingest}") == "billing"
    assert auth.source(f"bearer {reader}") is None  # admin does not imply ingest
    assert auth.source(None) is None


def test_revoking_the_last_token_keeps_authentication_on_loopback() -> None:
    store = InMemoryTokenStore()
    clocks = Clocks()
    loopback = TokenAuthenticator({}, _cache(store, clocks))
    _, secret = store.create("billing", frozenset({"ingest", "read"}), now=T0)
    store.create("brief", frozenset({"ingest"}), now=T0, expires_at=T0 + 1)
    store.revoke("billing", now=T0 + 1)
    clocks.mono = 60.0
    clocks.wall = T0 + 100  # billing revoked, brief expired: no active token, but some were made
    assert _required(loopback)
    assert loopback.source(None) is None and loopback.source(f"Bearer {secret}") is None
    assert loopback.reader_status(None) == 401  # /metrics too


def test_the_collector_notes_an_ingest_token_use_at_most_once_a_minute() -> None:
    store = InMemoryTokenStore()
    clocks = Clocks()
    auth = TokenAuthenticator({}, _cache(store, clocks))
    _, ingest = store.create("billing", frozenset({"ingest"}), now=T0)
    _, reader = store.create("grafana", frozenset({"read"}), now=T0)

    def last_used() -> dict[str, float | None]:
        return {i.name: i.last_used_at for i in store.list()}

    assert auth.source(f"Bearer {ingest}") == "billing"
    assert auth.source(f"Bearer {reader}") is None  # refused: no use
    assert last_used() == {"billing": None, "grafana": None}  # written at the next reload
    clocks.mono, clocks.wall = 5.0, T0 + 5
    auth.source(f"Bearer {ingest}")  # reloads: writes T0, notes T0 + 5
    assert last_used() == {"billing": T0, "grafana": None}
    clocks.mono, clocks.wall = 10.0, T0 + 10
    auth.source(f"Bearer {ingest}")  # within the minute: not written again
    assert last_used()["billing"] == T0
    clocks.mono, clocks.wall = 70.0, T0 + 70
    auth.source(f"Bearer {ingest}")
    clocks.mono, clocks.wall = 80.0, T0 + 80
    auth.source(None)
    assert last_used()["billing"] == T0 + 70
    assert auth.reader_status(f"Bearer {reader}") == 200  # /metrics read: a use of grafana


def _required(auth: TokenAuthenticator) -> bool:
    return auth.enabled


def test_with_no_token_anyone_may_send_on_loopback_only() -> None:
    store = InMemoryTokenStore()
    clocks = Clocks()
    loopback = TokenAuthenticator({}, _cache(store, clocks))
    exposed = TokenAuthenticator({}, _cache(store, clocks), anonymous_allowed=False)
    assert loopback.source(None) == ANONYMOUS and not _required(loopback)
    assert exposed.source(None) is None and _required(exposed)  # all revoked beyond loopback: closed
    _, secret = store.create("billing", frozenset({"ingest"}), now=T0)
    clocks.mono = 5.0
    assert _required(loopback) and loopback.source(None) is None  # a token exists now: required
    assert loopback.source(f"Bearer {secret}") == "billing"

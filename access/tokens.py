"""API tokens: created with a random secret shown once, kept as its SHA-256, scoped, revocable.

Why SHA-256 and not a password hash (bcrypt, scrypt, argon2): a secret is 32 random bytes (256
bits) from :mod:`secrets`, not something a person chose, so there is no dictionary to try and
nothing a slow hash would protect; a stolen hash is as hard to reverse as guessing the secret. A
fast hash lets every request be checked in microseconds, and a unique index on the hash finds the
token without comparing secrets one by one (so no timing of a comparison reveals anything either).

``SqlTokenStore`` keeps them in ``api_tokens``; ``InMemoryTokenStore`` is the same rules in a dict.
Callers pass ``now`` explicitly: the stores never read the clock.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

import access.audit
from access.model import SCOPES, AuditEntry, Principal, Scope, TokenInfo
from access.tables import api_tokens
from vitals.kernel.rowmap import unix_nano
from vitals.kernel.units import NS

#: Every secret starts with this, so a leaked one is recognisable (secret scanners, log filters).
SECRET_PREFIX = "vt_"
#: Characters of the secret kept in clear (``vt_`` and 6 more) so a listing can say which one it is.
DISPLAY_CHARS = 9
#: ``last_used_at`` is written at most this often per token, so requests do not each write a row.
LAST_USED_RESOLUTION_S = 60.0
#: Longest token name (the ``api_tokens.name`` column).
MAX_NAME = 128


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; the message says why."""


class DuplicateToken(TokenError):
    pass


class UnknownToken(TokenError):
    pass


def new_secret() -> str:
    """A fresh secret: ``vt_`` and 32 random bytes, URL-safe base64 (43 characters)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The hex SHA-256 stored for a secret (see the module docstring for why a fast hash)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """The scopes named, or ``TokenError`` naming an unknown one; at least one is needed."""
    out: set[Scope] = set()
    for value in values:
        name = value.strip().lower()
        match = [s for s in SCOPES if s == name]
        if not match:
            raise TokenError(f"unknown scope {value!r}: expected one of {', '.join(SCOPES)}")
        out.add(match[0])
    if not out:
        raise TokenError(f"a token needs at least one scope ({', '.join(SCOPES)})")
    return frozenset(out)


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise TokenError("a token needs a name")
    if len(name) > MAX_NAME:
        raise TokenError(f"a token name is at most {MAX_NAME} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise TokenError(f"a token name has no spaces or control characters: {name!r}")
    return name


def state(info: TokenInfo, now: float) -> str:
    """``active``, ``expired`` or ``revoked``, as ``vitals tokens list`` shows it."""
    if info.revoked_at is not None:
        return "revoked"
    if info.expires_at is not None and now >= info.expires_at:
        return "expired"
    return "active"


def _scope_list(scopes: frozenset[Scope]) -> list[str]:
    return [s for s in SCOPES if s in scopes]


def _scopes_of(stored: Any) -> frozenset[Scope]:
    return frozenset(s for s in SCOPES if s in set(stored or ()))


def _seconds(nanos: int | None) -> float | None:
    return None if nanos is None else int(nanos) / NS


@dataclass(frozen=True)
class _Token:
    info: TokenInfo
    digest: str
    prefix: str


class InMemoryTokenStore:
    """The token rules on a dict, for tests and for components without a store."""

    def __init__(self) -> None:
        self._tokens: dict[str, _Token] = {}

    def create(
        self, name: str, scopes: frozenset[Scope], *, now: float, expires_at: float | None = None
    ) -> tuple[TokenInfo, str]:
        name = check_name(name)
        scopes = parse_scopes(scopes)
        if name in self._tokens:
            raise DuplicateToken(
                f"a token named {name!r} exists already; names are kept for the audit log, revoked "
                "ones too, and cannot be reused: pick another name"
            )
        secret = new_secret()
        info = TokenInfo(len(self._tokens) + 1, name, scopes, now, expires_at, None, None)
        self._tokens[name] = _Token(info, hash_secret(secret), secret[:DISPLAY_CHARS])
        return info, secret

    def list(self) -> builtins.list[TokenInfo]:
        return sorted((t.info for t in self._tokens.values()), key=lambda i: i.id)

    def prefixes(self) -> dict[str, str]:
        return {name: t.prefix for name, t in self._tokens.items()}

    def revoke(self, name: str, *, now: float) -> TokenInfo:
        token = self._tokens.get(name)
        if token is None:
            raise UnknownToken(f"no token named {name!r}")
        if token.info.revoked_at is None:
            token = replace(token, info=replace(token.info, revoked_at=now))
            self._tokens[name] = token
        return token.info

    def any_active(self, now: float) -> bool:
        return any(t.info.active(now) for t in self._tokens.values())

    def any_created(self) -> bool:
        return bool(self._tokens)

    def touch(self, name: str, now: float) -> None:
        token = self._tokens.get(name)
        if token is not None:
            self._tokens[name] = replace(token, info=replace(token.info, last_used_at=now))

    def authenticate(self, secret: str, *, now: float) -> Principal | None:
        digest = hash_secret(secret)
        for name, token in self._tokens.items():
            if token.digest == digest and token.info.active(now):
                self._tokens[name] = replace(token, info=replace(token.info, last_used_at=now))
                return Principal(token.info.name, token.info.scopes)
        return None

    def active_digests(self, now: float) -> dict[str, TokenInfo]:
        return {t.digest: t.info for t in self._tokens.values() if t.info.active(now)}


_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.scopes,
    api_tokens.c.created_at_unix_nano,
    api_tokens.c.expires_at_unix_nano,
    api_tokens.c.revoked_at_unix_nano,
    api_tokens.c.last_used_at_unix_nano,
)


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        id=int(row.id),
        name=str(row.name),
        scopes=_scopes_of(row.scopes),
        created_at=int(row.created_at_unix_nano) / NS,
        expires_at=_seconds(row.expires_at_unix_nano),
        revoked_at=_seconds(row.revoked_at_unix_nano),
        last_used_at=_seconds(row.last_used_at_unix_nano),
    )


class SqlTokenStore:
    """Tokens in ``api_tokens`` (the store is migrated already: ``vitals.kernel.db.migrate``).

    ``create`` and ``revoke`` take an optional audit entry, recorded in the same transaction as
    the change, so a token that exists was audited.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        name: str,
        scopes: frozenset[Scope],
        *,
        now: float,
        expires_at: float | None = None,
        audit: AuditEntry | None = None,
    ) -> tuple[TokenInfo, str]:
        name = check_name(name)
        scopes = parse_scopes(scopes)
        secret = new_secret()
        values: Mapping[str, Any] = {
            "name": name,
            "secret_sha256": hash_secret(secret),
            "prefix": secret[:DISPLAY_CHARS],
            "scopes": _scope_list(scopes),
            "created_at_unix_nano": unix_nano(now),
            "expires_at_unix_nano": None if expires_at is None else unix_nano(expires_at),
        }
        try:
            with self.engine.begin() as conn:
                token_id = conn.execute(insert(api_tokens).returning(api_tokens.c.id), values).scalar_one()
                if audit is not None:
                    access.audit.append(conn, [audit])
        except IntegrityError as exc:
            raise DuplicateToken(
                f"a token named {name!r} exists already; names are kept for the audit log, revoked "
                "ones too, and cannot be reused: pick another name"
            ) from exc
        return TokenInfo(int(token_id), name, scopes, now, expires_at, None, None), secret

    def list(self) -> builtins.list[TokenInfo]:
        with self.engine.connect() as conn:
            return [_info(r) for r in conn.execute(select(*_COLUMNS).order_by(api_tokens.c.id))]

    def prefixes(self) -> dict[str, str]:
        """Name -> the secret's displayable start (``vt_`` and 6 characters)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens.c.name, api_tokens.c.prefix))
            return {str(r.name): str(r.prefix) for r in rows}

    def revoke(self, name: str, *, now: float, audit: AuditEntry | None = None) -> TokenInfo:
        """Revoke ``name`` (revoking a revoked token changes nothing, is not audited again, and is
        not an error: the answer's ``revoked_at`` says when it was)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(api_tokens)
                .where(api_tokens.c.name == name, api_tokens.c.revoked_at_unix_nano.is_(None))
                .values(revoked_at_unix_nano=unix_nano(now))
            ).rowcount
            row = conn.execute(select(*_COLUMNS).where(api_tokens.c.name == name)).first()
            if row is None:
                raise UnknownToken(f"no token named {name!r}")
            if changed and audit is not None:
                access.audit.append(conn, [audit])
        return _info(row)

    def any_active(self, now: float) -> bool:
        return bool(self.active_digests(now))

    def any_created(self) -> bool:
        """Whether ``api_tokens`` has a row at all (names are never deleted, so once true, true)."""
        with self.engine.connect() as conn:
            return conn.execute(select(api_tokens.c.id).limit(1)).first() is not None

    def active_digests(self, now: float) -> dict[str, TokenInfo]:
        """Hash -> token, for every active token: what a cache (``access.cache``) holds."""
        query = select(*_COLUMNS, api_tokens.c.secret_sha256).where(
            api_tokens.c.revoked_at_unix_nano.is_(None)
        )
        with self.engine.connect() as conn:
            infos = {str(r.secret_sha256): _info(r) for r in conn.execute(query)}
        return {digest: info for digest, info in infos.items() if info.active(now)}

    def authenticate(self, secret: str, *, now: float) -> Principal | None:
        """The token's principal, or None (unknown, revoked, expired). Notes ``last_used_at``
        at most once a minute per token (``LAST_USED_RESOLUTION_S``)."""
        digest = hash_secret(secret)
        with self.engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(api_tokens.c.secret_sha256 == digest)).first()
        if row is None:
            return None
        info = _info(row)
        if not info.active(now):
            return None
        if info.last_used_at is None or now - info.last_used_at >= LAST_USED_RESOLUTION_S:
            self.touch(info.name, now)
        return Principal(info.name, info.scopes)

    def touch(self, name: str, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.name == name)
                .values(last_used_at_unix_nano=unix_nano(now))
            )


__all__ = [
    "DISPLAY_CHARS",
    "SECRET_PREFIX",
    "DuplicateToken",
    "InMemoryTokenStore",
    "SqlTokenStore",
    "TokenError",
    "UnknownToken",
    "check_name",
    "hash_secret",
    "new_secret",
    "parse_scopes",
    "state",
]

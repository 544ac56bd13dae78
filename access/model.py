"""Who is asking and what they may do: principals, scopes and audit entries as plain values.

Free of SQLAlchemy and of any server, so the rules are tested with plain values and every edge
(the collector, the API, the dashboard, the CLI) applies the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

#: What a token may do. ``admin`` implies ``write`` implies ``read``; ``ingest`` (sending
#: telemetry to the collector) is separate, so an instrumented service's token reads nothing.
Scope = Literal["ingest", "read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "write", "admin")

_IMPLIED: dict[Scope, frozenset[Scope]] = {
    "ingest": frozenset({"ingest"}),
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "admin"}),
}

PrincipalKind = Literal["token", "user", "anonymous", "system"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a token's name, a dashboard user, or anonymous (no tokens exist)."""

    name: str
    scopes: frozenset[Scope]
    kind: PrincipalKind = "token"

    def allows(self, needed: Scope) -> bool:
        return any(needed in _IMPLIED[scope] for scope in self.scopes)


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never its secret, which is shown once at creation and stored as a hash."""

    id: int
    name: str
    scopes: frozenset[Scope]
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    def active(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class AuditEntry:
    """One recorded action: who (token name or user), what, on what, when and from where."""

    at: float
    actor: str
    action: str
    target: str
    source: str  # api, dashboard, cli, slack, system, collector
    remote: str = ""  # the client's address, where there is one
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # set when read back from a log; None for an entry not yet recorded


class TokenStore(Protocol):
    """Tokens kept as hashes. ``SqlTokenStore`` is the real one, ``InMemoryTokenStore`` for tests."""

    def create(
        self, name: str, scopes: frozenset[Scope], *, now: float, expires_at: float | None = None
    ) -> tuple[TokenInfo, str]: ...

    def list(self) -> list[TokenInfo]: ...

    def revoke(self, name: str, *, now: float) -> TokenInfo: ...

    def any_active(self, now: float) -> bool: ...

    def any_created(self) -> bool:
        """Whether a token was ever created (revoked and expired ones count): authentication is
        off only while none was, so revoking the last token never opens the door."""
        ...

    def authenticate(self, secret: str, *, now: float) -> Principal | None: ...


class AuditLog(Protocol):
    """Append-only: there is no update or delete, through the API or otherwise."""

    def record(self, entry: AuditEntry) -> None: ...

    def query(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]: ...

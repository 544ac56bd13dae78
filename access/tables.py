"""The access tables: API tokens and the audit log (a documented interface, see the store reference).

Times are Unix nanoseconds like every Vitals table. ``api_tokens`` holds one row per token: its
name, the SHA-256 of its secret (never the secret), a short prefix to recognise it by, its scopes
and its life (created, expires, revoked, last used). ``audit_log`` is the one record of who did
what, when and from where, for every component (alerting writes its acknowledgements here inside
its own transactions). It is append-only: nothing updates or deletes its rows.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from vitals.kernel.db import BigIntId, JsonDocument, metadata

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("secret_sha256", String(64), nullable=False, unique=True),  # hex
    Column("prefix", String(16), nullable=False),  # the secret's first characters, for display
    Column("scopes", JsonDocument, nullable=False),  # a list of ingest, read, write, admin
    Column("created_at_unix_nano", BigInteger, nullable=False),
    Column("expires_at_unix_nano", BigInteger),  # NULL: never
    Column("revoked_at_unix_nano", BigInteger),  # NULL: not revoked
    Column("last_used_at_unix_nano", BigInteger),  # NULL: never used
    sqlite_autoincrement=True,
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("at_unix_nano", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),  # token name, user, or "system"
    Column("action", String(64), nullable=False),  # e.g. token.create, acknowledge
    Column("target", Text, nullable=False),  # e.g. token:ci, alert:<fingerprint>
    Column("source", String(16), nullable=False),  # api, dashboard, cli, slack, system, collector
    Column("remote", String(64), nullable=False, default=""),  # the client's address, if any
    Column("detail", JsonDocument, nullable=False),
    Index(None, "at_unix_nano"),
    sqlite_autoincrement=True,
)

__all__ = ["api_tokens", "audit_log"]

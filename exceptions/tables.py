"""The exception work queue's tables: groups of failed transactions and their replay attempts.

Times are Unix nanoseconds like every Vitals table. ``exception_groups`` holds one row per error
signature (its id is the signature's key): the figures the last refresh computed from the stored
error spans, and the state people gave it. ``exception_replays`` holds one row per transaction
sent to a replay target, referenced by trace and span id and key hash, never by content; its
outcome is filled in when the replayed transaction's new spans arrive in the same trace.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from vitals.kernel.db import BigIntId, metadata

exception_groups = Table(
    "exception_groups",
    metadata,
    Column("id", String(16), primary_key=True),  # the signature's key
    Column("stage", Text, nullable=False),
    Column("system", Text, nullable=False),
    Column("message", Text, nullable=False),  # the normalised status message
    Column("workflow", Text, nullable=False),
    Column("facility", Text, nullable=False),
    Column("interface", Text, nullable=False),  # "" when no configured interface owns it
    Column("team", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("first_seen_unix_nano", BigInteger, nullable=False),
    Column("last_seen_unix_nano", BigInteger, nullable=False),
    Column("amount", Float, nullable=False),
    Column("state", String(12), nullable=False),
    Column("owner", Text, nullable=False),
    Column("state_by", Text, nullable=False),
    Column("state_at_unix_nano", BigInteger, nullable=False),
    Column("replayed", Integer, nullable=False),
    Column("succeeded", Integer, nullable=False),
    Column("failed_again", Integer, nullable=False),
    Index(None, "state", "last_seen_unix_nano"),
)

exception_replays = Table(
    "exception_replays",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("group_id", String(16), nullable=False),
    Column("interface", Text, nullable=False),
    Column("target", String(16), nullable=False),  # webhook, mirth
    Column("trace_id", String(32), nullable=False),  # hex
    Column("span_id", String(16), nullable=False),  # hex
    Column("key_hash", String(64), nullable=False),  # hex, "" without hc.key.*
    Column("status", String(16), nullable=False),  # sent, refused, error
    Column("actor", Text, nullable=False),
    Column("at_unix_nano", BigInteger, nullable=False),
    Column("result", Text, nullable=False),
    Column("traceparent", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),  # pending, succeeded, failed_again
    Column("outcome_at_unix_nano", BigInteger),
    Index(None, "group_id", "at_unix_nano"),
    Index(None, "interface", "at_unix_nano"),
    sqlite_autoincrement=True,
)

__all__ = ["exception_groups", "exception_replays"]

"""Day partitions of ``spans`` and ``metric_points`` on PostgreSQL.

Why: at millions of spans a day, retention by ``DELETE`` rewrites and vacuums as much as ingest
writes. Declarative RANGE partitions on the time column (Unix ns), one per UTC day, let retention
drop a whole day as one catalogue change, and keep each day's indexes small.

Partitions live in the schema ``vitals_partitions`` (``spans_20261204``, ``spans_default``), so
the public schema keeps the documented tables only. Every partitioned table has a DEFAULT
partition: an insert for a time no day partition covers (a span dated last year or in 2100) is
stored, never refused. Day partitions are created ahead (today and ``AHEAD_DAYS`` more) by the
migration and by the retention job; a day whose rows already sit in the default partition is
created by moving them out of it in the same transaction, so creating a partition never fails
on rows that arrived early.

The plan (which days to create, which partitions to drop) is pure over :class:`Partition`; the
rest is the SQL edge. SQLite has no partitions: there, everything here is a no-op.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

__all__ = [
    "AHEAD_DAYS",
    "DAY_NS",
    "PARTITIONED",
    "SCHEMA",
    "Partition",
    "create_day",
    "day_of",
    "days_to_create",
    "drop",
    "ensure_ahead",
    "expired",
    "partitions",
]

DAY_NS = 86_400 * 1_000_000_000
#: Days created ahead of today (today itself, then this many more).
AHEAD_DAYS = 2
SCHEMA = "vitals_partitions"
#: Partitioned table -> its partition key (the time column its retention is measured on).
PARTITIONED: dict[str, str] = {"spans": "event_time_unix_nano", "metric_points": "time_unix_nano"}
#: How long a partition change waits for the table's lock before giving up until the next run.
#: Detaching or creating a partition locks the parent briefly, and while it waits for a long
#: dashboard query to finish, new inserts queue behind it: this bounds that stall of ingest.
LOCK_TIMEOUT = "2s"

_BOUND = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True, order=True)
class Partition:
    """One partition: times in [lo, hi), or the default partition (lo = hi = None)."""

    lo: int | None
    hi: int | None
    name: str

    @property
    def is_default(self) -> bool:
        return self.lo is None

    @property
    def day(self) -> str | None:
        """The UTC day a day partition holds (YYYY-MM-DD), None for the default partition."""
        if self.lo is None:
            return None
        return datetime.fromtimestamp(self.lo // 1_000_000_000, UTC).strftime("%Y-%m-%d")


def day_of(ns: int) -> int:
    """Days since 1970-01-01 (UTC) of a Unix-nanosecond time."""
    return ns // DAY_NS


def day_name(table: str, day: int) -> str:
    return f"{table}_{datetime.fromtimestamp(day * 86_400, UTC).strftime('%Y%m%d')}"


def days_to_create(existing: Iterable[Partition], now_ns: int, ahead: int = AHEAD_DAYS) -> list[int]:
    """Days from today to ``ahead`` days on that no day partition covers yet (pure)."""
    covered = {day_of(p.lo) for p in existing if p.lo is not None}
    today = day_of(now_ns)
    return [day for day in range(today, today + ahead + 1) if day not in covered]


def expired(existing: Iterable[Partition], before_ns: int) -> list[Partition]:
    """Day partitions whose every row is older than ``before_ns``: dropped whole (pure)."""
    return sorted(p for p in existing if p.hi is not None and p.hi <= before_ns)


def _parse(name: str, bound: str) -> Partition:
    if bound.strip().upper() == "DEFAULT":
        return Partition(None, None, name)
    match = _BOUND.search(bound)
    if match is None:
        raise ValueError(f"partition {name}: unexpected bound {bound!r}")
    return Partition(int(match.group(1)), int(match.group(2)), name)


def is_partitioned(conn: Connection, table: str) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.exec_driver_sql(
        "SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(%s)", (f"public.{table}",)
    ).scalar()
    return kind == "p"


def partitions(conn: Connection, table: str) -> list[Partition]:
    """The partitions of ``table`` (empty when it is not partitioned), day partitions in order."""
    if not is_partitioned(conn, table):
        return []
    rows = conn.exec_driver_sql(
        "SELECT n.nspname || '.' || c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE i.inhparent = to_regclass(%s)",
        (f"public.{table}",),
    ).all()
    found = [_parse(str(name), str(bound)) for name, bound in rows]
    return sorted(found, key=lambda p: (p.lo is None, p.lo or 0))


def _default(table: str) -> str:
    return f"{SCHEMA}.{table}_default"


def create_default(conn: Connection, table: str) -> None:
    conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {_default(table)} PARTITION OF {table} DEFAULT")


def create_day(conn: Connection, table: str, day: int) -> str:
    """Create the partition of ``day``, moving that day's rows out of the default partition."""
    column = PARTITIONED[table]
    name = f"{SCHEMA}.{day_name(table, day)}"
    lo, hi = day * DAY_NS, (day + 1) * DAY_NS
    default = _default(table)
    early = conn.exec_driver_sql(
        f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {column} >= %s AND {column} < %s)", (lo, hi)
    ).scalar()
    if not early:
        conn.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({lo}) TO ({hi})")
        return name
    # Rows of that day arrived before its partition: PostgreSQL refuses a partition whose rows
    # sit in the default one, so take the default out, move them, and put it back.
    conn.exec_driver_sql(f"ALTER TABLE {table} DETACH PARTITION {default}")
    conn.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({lo}) TO ({hi})")
    conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {default} WHERE {column} >= %s AND {column} < %s RETURNING *) "
        f"INSERT INTO {name} SELECT * FROM moved",
        (lo, hi),
    )
    conn.exec_driver_sql(f"ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT")
    return name


def ensure_ahead(conn: Connection, now_ns: int, ahead: int = AHEAD_DAYS) -> list[str]:
    """Create the day partitions of today and ``ahead`` days on, for every partitioned table.

    Runs in the caller's transaction; each partition change waits at most ``LOCK_TIMEOUT``
    for the table (a timeout raises, and the next run tries again).
    """
    made: list[str] = []
    for table in PARTITIONED:
        existing = partitions(conn, table)
        if not existing:
            continue
        days = days_to_create(existing, now_ns, ahead)
        if days:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        made += [create_day(conn, table, day) for day in days]
    return made


def drop(conn: Connection, table: str, partition: Partition) -> int:
    """Drop one expired day partition; the number of rows it held."""
    if partition.is_default:
        raise ValueError("the default partition is never dropped")
    rows = int(conn.exec_driver_sql(f"SELECT count(*) FROM {partition.name}").scalar_one())
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    conn.exec_driver_sql(f"ALTER TABLE {table} DETACH PARTITION {partition.name}")
    conn.exec_driver_sql(f"DROP TABLE {partition.name}")
    return rows


def partition_days(days: Sequence[int], now_ns: int, ahead: int = AHEAD_DAYS) -> list[int]:
    """The days a new partitioned table starts with: those holding rows (``days``) within the
    400 days before today, and today to ``ahead`` days on; rows of other days go to the default."""
    today = day_of(now_ns)
    kept = {day for day in days if today - 400 <= day <= today + ahead}
    return sorted(kept | set(range(today, today + ahead + 1)))

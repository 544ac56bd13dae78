"""How big the store is, per table: rows, bytes of the table and of its indexes, time covered.

``vitals store stats`` prints it so an operator can see what retention keeps and size a disk
(issue #15). :func:`measure` is the SQL edge; the rest is pure over :class:`TableStats`.

Bytes come from the database's own accounting, not from estimates: on SQLite the ``dbstat``
virtual table (pages of each b-tree: a table, or one of its indexes, including the automatic
indexes of UNIQUE constraints), on PostgreSQL ``pg_table_size`` (heap, TOAST, free-space and
visibility maps) and ``pg_indexes_size``. Rows and times are ``COUNT(*)`` and ``MIN``/``MAX``,
so the command reads every table once: on a large store it takes a while, as those queries do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from vitals.kernel.units import NS

__all__ = ["SPAN_TABLES", "StoreStats", "TableStats", "bytes_per_span", "measure", "render", "to_json"]


@dataclass(frozen=True)
class TableStats:
    table: str
    rows: int
    table_bytes: int
    index_bytes: int
    #: The time column measured (None for tables without one) and its lowest and highest value.
    time_column: str | None = None
    oldest_ns: int | None = None
    newest_ns: int | None = None
    #: PostgreSQL range partitions (0: not partitioned): how many, the lowest bound of the first
    #: and the highest of the last (Unix ns), and the rows of the default partition (None: none).
    partitions: int = 0
    partitions_from_ns: int | None = None
    partitions_to_ns: int | None = None
    default_partition_rows: int | None = None

    @property
    def total_bytes(self) -> int:
        return self.table_bytes + self.index_bytes


@dataclass(frozen=True)
class StoreStats:
    dialect: str
    tables: tuple[TableStats, ...]
    #: The whole store: the SQLite file (pages in use and free) or the PostgreSQL database.
    store_bytes: int
    #: SQLite: bytes of free pages (deleted rows' pages, reused for new rows); 0 on PostgreSQL.
    free_bytes: int = 0

    def get(self, table: str) -> TableStats | None:
        return next((t for t in self.tables if t.table == table), None)


#: The tables whose bytes a stored span costs: the span, its business keys, and its resource
#: (stored once per distinct resource).
SPAN_TABLES = ("spans", "span_keys", "span_resources")


def bytes_per_span(stats: StoreStats) -> float | None:
    """Bytes of the span tables (``SPAN_TABLES``) with their indexes, per stored span; None without spans."""
    spans = stats.get("spans")
    if spans is None or not spans.rows:
        return None
    return sum(t.total_bytes for t in stats.tables if t.table in SPAN_TABLES) / spans.rows


def _quote(conn: Connection, name: str) -> str:
    return str(conn.dialect.identifier_preparer.quote(name))


def _sqlite_bytes(conn: Connection) -> tuple[dict[str, tuple[int, int]], int, int]:
    owner = {
        str(name): str(table)
        for name, table in conn.execute(
            text("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")
        )
    }
    sizes: dict[str, list[int]] = {}
    for name, size in conn.execute(text("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")):
        table = owner.get(str(name), str(name))
        slot = 0 if name == table else 1
        sizes.setdefault(table, [0, 0])[slot] += int(size or 0)
    page_size = int(conn.execute(text("PRAGMA page_size")).scalar_one())
    pages = int(conn.execute(text("PRAGMA page_count")).scalar_one())
    free = int(conn.execute(text("PRAGMA freelist_count")).scalar_one())
    return {t: (a, b) for t, (a, b) in sizes.items()}, pages * page_size, free * page_size


def _pg_bytes(conn: Connection, tables: Sequence[str]) -> tuple[dict[str, tuple[int, int]], int]:
    out = {}
    for table in tables:
        # A partitioned table holds nothing itself: its bytes are its partitions' (the leaves of
        # its tree); a plain table is counted as itself.
        row = conn.execute(
            text(
                "SELECT COALESCE(SUM(pg_table_size(relid)), 0), COALESCE(SUM(pg_indexes_size(relid)), 0) "
                "FROM (SELECT relid FROM pg_partition_tree(to_regclass(:t)) WHERE isleaf "
                "UNION SELECT to_regclass(:t) WHERE (SELECT relkind FROM pg_class "
                "WHERE oid = to_regclass(:t)) <> 'p') AS leaves"
            ),
            {"t": _quote(conn, table)},
        ).one()
        out[table] = (int(row[0] or 0), int(row[1] or 0))
    total = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    return out, total


_BOUND = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True)
class _Partitions:
    count: int = 0
    from_ns: int | None = None
    to_ns: int | None = None
    default_rows: int | None = None


def _pg_partitions(conn: Connection, table: str) -> _Partitions:
    rows = conn.execute(
        text(
            "SELECT n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": _quote(conn, table)},
    ).all()
    if not rows:
        return _Partitions()
    bounds: list[tuple[int, int]] = []
    default_rows = None
    for schema, name, bound in rows:
        match = _BOUND.search(str(bound or ""))
        if match:
            bounds.append((int(match.group(1)), int(match.group(2))))
        elif str(bound).strip().upper() == "DEFAULT":
            qualified = f"{_quote(conn, str(schema))}.{_quote(conn, str(name))}"
            default_rows = int(conn.execute(text(f"SELECT COUNT(*) FROM {qualified}")).scalar_one())
    return _Partitions(
        len(rows),
        min((lo for lo, _ in bounds), default=None),
        max((hi for _, hi in bounds), default=None),
        default_rows,
    )


def measure(conn: Connection, time_columns: Mapping[str, str]) -> StoreStats:
    """Every table of the store, with the time span of those named in ``time_columns``."""
    names = sorted(inspect(conn).get_table_names())
    free = 0
    if conn.dialect.name == "sqlite":
        sizes, total, free = _sqlite_bytes(conn)
    else:
        sizes, total = _pg_bytes(conn, names)
    out = []
    for name in names:
        # Names come from the store's own catalogue, quoted: nothing of the user's is spliced in.
        table = _quote(conn, name)
        column = time_columns.get(name)
        oldest = newest = None
        if column is not None:
            col = _quote(conn, column)
            rows, oldest, newest = conn.execute(
                text(f"SELECT COUNT(*), MIN({col}), MAX({col}) FROM {table}")
            ).one()
        else:
            rows = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
        table_bytes, index_bytes = sizes.get(name, (0, 0))
        split = _pg_partitions(conn, name) if conn.dialect.name == "postgresql" else _Partitions()
        out.append(
            TableStats(
                name,
                int(rows),
                table_bytes,
                index_bytes,
                column,
                None if oldest is None else int(oldest),
                None if newest is None else int(newest),
                split.count,
                split.from_ns,
                split.to_ns,
                split.default_rows,
            )
        )
    return StoreStats(conn.dialect.name, tuple(out), total, free)


def _when(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _day(ns: int | None, *, end: bool = False) -> str:
    """The UTC day of a partition bound (``end``: the last day before an exclusive upper bound)."""
    if ns is None:
        return "-"
    moment = (ns - (1 if end else 0)) // NS
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


def render(stats: StoreStats) -> str:
    """The table ``vitals store stats`` prints."""
    header = ("table", "rows", "table", "indexes", "oldest", "newest")
    lines: list[tuple[str, ...]] = [header]
    for t in stats.tables:
        lines.append(
            (
                t.table,
                f"{t.rows:,}",
                _size(t.table_bytes),
                _size(t.index_bytes),
                _when(t.oldest_ns),
                _when(t.newest_ns),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {1, 2, 3}
    text_lines = [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(line)
        ).rstrip()
        for line in lines
    ]
    split = [t for t in stats.tables if t.partitions]
    if split:
        text_lines += ["", "partitions (by UTC day; a default one takes rows dated outside them):"]
        width = max(len(t.table) for t in split)
        for t in split:
            days = t.partitions - (t.default_partition_rows is not None)
            span = f"{_day(t.partitions_from_ns)} to {_day(t.partitions_to_ns, end=True)}" if days else "-"
            default = (
                "" if t.default_partition_rows is None else f", default: {t.default_partition_rows:,} rows"
            )
            text_lines.append(f"  {t.table.ljust(width)}  {days} days, {span}{default}")
    store = f"store: {_size(stats.store_bytes)} ({stats.dialect})"
    if stats.dialect == "sqlite":
        store += f", of which {_size(stats.free_bytes)} free pages (reused for new rows)"
    text_lines += ["", store]
    per_span = bytes_per_span(stats)
    spans = stats.get("spans")
    if per_span is not None and spans is not None:
        text_lines.append(
            f"bytes per span: {per_span:,.0f} "
            f"(spans, span_keys and span_resources with their indexes, over {spans.rows:,} spans)"
        )
    else:
        text_lines.append("bytes per span: - (no spans stored)")
    return "\n".join(text_lines)


def to_json(stats: StoreStats) -> dict[str, Any]:
    """The same figures as JSON (times as Unix nanoseconds)."""
    return {
        "dialect": stats.dialect,
        "store_bytes": stats.store_bytes,
        "free_bytes": stats.free_bytes,
        "bytes_per_span": bytes_per_span(stats),
        "tables": [{**asdict(t), "total_bytes": t.total_bytes} for t in stats.tables],
    }

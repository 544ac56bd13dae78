"""``SqlSink``: the telemetry tables through SQLAlchemy, on SQLite and PostgreSQL alike.

One connection, owned by the writer thread. Rows arrive as tuples in the tables' column order
and go to the driver's ``executemany`` as they are (``INSERT ... ON CONFLICT DO NOTHING``, which
both databases speak): no per-row dicts or type processing, which would cost more than the
database itself at this rate. On PostgreSQL the rows are COPYed into a temp table first and
inserted from there in one statement.

Trace and span ids and key hashes arrive as hex text and are bound as their bytes (``raw``), as
``collector.tables.HexBytes`` stores them; a span's ``attributes``, ``events`` and ``links``
arrive as JSON text and are bound packed (``collector.packed``), as
``collector.tables.PackedJson`` stores them.

A span's resource attributes are stored once per distinct resource (``span_resources``, by a
hash id the sink computes itself) and the span keeps the id: see :class:`Resources`.

``span_keys`` rows are written only for spans this transaction newly stored, so an exporter
retry cannot duplicate them and the table needs no unique index over 64-digit hashes.

On SQLite the writer's connection never checkpoints the WAL itself: a ``Checkpointer`` thread
does it on its own connection (passive checkpoints copy pages while the writer keeps appending),
so commits do not stall behind copying the WAL into the database file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine

from collector.attributes import json_text
from collector.packed import pack
from collector.rows import (
    METRIC_COLUMNS,
    SPAN_COLUMNS,
    SPAN_INDEX,
    SPAN_KEY_COLUMNS,
    SPAN_KEY_INDEX,
    SPAN_RESOURCE,
    STORED_SPAN_KEY_COLUMNS,
    Row,
    WriteBatch,
    WriteResult,
    resource_id,
)

log = logging.getLogger(__name__)

_KEY_TRACE = SPAN_KEY_INDEX["trace_id"]
_SPAN_PARENT = SPAN_INDEX["parent_span_id"]
assert (SPAN_INDEX["trace_id"], SPAN_INDEX["span_id"], _SPAN_PARENT) == (0, 1, 2)
assert SPAN_KEY_COLUMNS[1:4] == ("key_hash", "trace_id", "span_id")
assert (*SPAN_KEY_COLUMNS[:4], *SPAN_KEY_COLUMNS[5:]) == STORED_SPAN_KEY_COLUMNS


def raw(value: Any) -> bytes | None:
    """An id or key hash as stored (``collector.tables.HexBytes``): hex text -> its bytes. Text
    that is not hex (not from this collector) is kept as its UTF-8 bytes rather than refused."""
    if value is None or value.__class__ is bytes:
        return value
    try:
        return bytes.fromhex(value)
    except ValueError:
        return str(value).encode("utf-8", "surrogatepass")


def _stored_keys(keys: list[Row]) -> list[Row]:
    """Key rows as stored: hash and ids as bytes, without the stage (``STORED_SPAN_KEY_COLUMNS``)."""
    return [(row[0], raw(row[1]), raw(row[2]), raw(row[3]), *row[5:]) for row in keys]


_ATTRIBUTES, _EVENTS, _LINKS = SPAN_INDEX["attributes"], SPAN_INDEX["events"], SPAN_INDEX["links"]
# Adjacent in a row: ``_stored_span`` rebuilds the four in place.
assert (SPAN_RESOURCE, _EVENTS, _LINKS) == (_ATTRIBUTES + 1, _ATTRIBUTES + 2, _ATTRIBUTES + 3)


def packed(value: Any) -> bytes | None:
    """A span's JSON column as stored (``collector.tables.PackedJson``): JSON text -> packed."""
    if value is None or value.__class__ is bytes:
        return value
    return pack(value if isinstance(value, str) else json_text(value))


def _stored_span(row: Row, resource: int | None) -> Row:
    """A span row as stored: ids as bytes, JSON columns packed, ``resource_attributes`` null
    when the resource is stored in ``span_resources`` (``resource``), which the row ends with."""
    return (
        raw(row[0]),
        raw(row[1]),
        raw(row[2]),
        *row[3:_ATTRIBUTES],
        packed(row[_ATTRIBUTES]),
        None if resource is not None else row[SPAN_RESOURCE],
        packed(row[_EVENTS]),
        packed(row[_LINKS]),
        *row[_LINKS + 1 :],
        resource,
    )


_KEY_SPAN = SPAN_KEY_INDEX["span_id"]
_KEY_NAME = SPAN_KEY_INDEX["key_name"]
_KEY_HASH = SPAN_KEY_INDEX["key_hash"]


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    #: Columns of the unique constraint whose duplicates are skipped (None: plain insert).
    conflict: str | None

    def insert_sql(self, placeholder: str) -> str:
        names = ", ".join(self.columns)
        values = ", ".join([placeholder] * len(self.columns))
        sql = f"INSERT INTO {self.name} ({names}) VALUES ({values})"
        return f"{sql} ON CONFLICT ({self.conflict}) DO NOTHING" if self.conflict else sql


#: A span row as stored: the row's columns with ``resource_attributes`` null, then ``resource_id``.
SPANS = _Table("spans", (*SPAN_COLUMNS, "resource_id"), "trace_id, span_id, event_time_unix_nano")
SPAN_RESOURCES = _Table("span_resources", ("resource_id", "attributes"), "resource_id")
SPAN_KEYS = _Table("span_keys", STORED_SPAN_KEY_COLUMNS, None)
METRIC_POINTS = _Table("metric_points", METRIC_COLUMNS, "series_id, time_unix_nano")
_TABLES = (SPANS, SPAN_RESOURCES, SPAN_KEYS, METRIC_POINTS)


class Resources:
    """Span rows as stored: each resource once in ``span_resources``, the span with its id.

    Remembers the ids of resources already committed (a store keeps them for ever), so a batch
    writes only resources it has not seen; the JSON text -> id cache makes the common case (every
    span of a request shares one resource string) a dict lookup.
    """

    def __init__(self, limit: int = 65536) -> None:
        self._ids: dict[str, int] = {}
        self._stored: set[int] = set()
        self._limit = limit

    def split(self, rows: list[Row]) -> tuple[list[Row], dict[int, str]]:
        """(span rows as stored: ``_stored_span``; resources to store: id -> JSON text)."""
        ids, stored = self._ids, self._stored
        new: dict[int, str] = {}
        out: list[Row] = []
        if len(ids) > self._limit:
            ids.clear()
        for row in rows:
            value = row[SPAN_RESOURCE]
            if value is None:
                out.append(_stored_span(row, None))
                continue
            text = value if isinstance(value, str) else json_text(value)
            rid = ids.get(text)
            if rid is None:
                rid = ids[text] = resource_id(text)
            if rid not in stored:
                new[rid] = text
            out.append(_stored_span(row, rid))
        return out, new

    def committed(self, ids: Iterable[int]) -> None:
        if len(self._stored) > self._limit:
            self._stored.clear()
        self._stored.update(ids)


class _ExecuteMany:
    """Any database: the driver's executemany of a prepared INSERT (SQLite's fastest way)."""

    def __init__(self, placeholder: str) -> None:
        self._sql = {table.name: table.insert_sql(placeholder) for table in _TABLES}

    def prepare(self, conn: Connection) -> None:
        pass

    def insert(self, conn: Connection, table: _Table, rows: list[Row]) -> int:
        result = conn.exec_driver_sql(self._sql[table.name], rows)
        return max(int(result.rowcount), 0)


class _PostgresCopy:
    """PostgreSQL: COPY the rows into a session temp table, then one INSERT ... SELECT with the
    conflict rule. A few times faster than executemany, which sends and plans row by row."""

    def prepare(self, conn: Connection) -> None:
        for table in (SPANS, SPAN_RESOURCES, METRIC_POINTS):
            conn.exec_driver_sql(
                f"CREATE TEMP TABLE IF NOT EXISTS incoming_{table.name} ON COMMIT DELETE ROWS AS "
                f"SELECT {', '.join(table.columns)} FROM {table.name} WITH NO DATA"
            )

    def insert(self, conn: Connection, table: _Table, rows: list[Row]) -> int:
        names = ", ".join(table.columns)
        target = f"incoming_{table.name}" if table.conflict else table.name
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            if not table.conflict:
                return len(rows)
            cursor.execute(
                f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {target} "
                f"ON CONFLICT ({table.conflict}) DO NOTHING"
            )
            # The temp table empties itself at commit (ON COMMIT DELETE ROWS).
            return max(int(cursor.rowcount), 0)


def keys_of_new_spans(keys: list[Row], new_spans: set[tuple[str, str]]) -> list[Row]:
    """The key rows that belong to newly stored spans, each (key, span) once."""
    seen: set[tuple[str, str, str, str]] = set()
    out: list[Row] = []
    for row in keys:
        span = (row[_KEY_TRACE], row[_KEY_SPAN])
        ident = (row[_KEY_NAME], row[_KEY_HASH], *span)
        if span in new_spans and ident not in seen:
            seen.add(ident)
            out.append(row)
    return out


class Checkpointer:
    """Copies SQLite's WAL into the database file in the background (passive checkpoints).

    If passive checkpoints cannot catch up because readers keep old snapshots, a larger WAL
    triggers a RESTART checkpoint, which briefly makes the writer wait, so the WAL stays bounded.
    """

    def __init__(self, engine: Engine, interval: float = 0.5, restart_pages: int = 262144) -> None:
        self._engine = engine
        self._interval = interval
        self._restart_pages = restart_pages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vitals-checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._engine.connect() as conn:
                while not self._stop.wait(self._interval):
                    _busy, frames, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
                    if frames - done > self._restart_pages:
                        conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)").one()
                    conn.commit()
        except Exception:
            log.exception("the WAL checkpointer stopped; SQLite will checkpoint on close")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class SqlSink:
    """A ``TelemetrySink`` over a SQLAlchemy engine (use from one thread at a time)."""

    def __init__(self, engine: Engine, *, cache_mib: int = 64) -> None:
        self.engine = engine
        self._cache_mib = cache_mib
        self._sqlite = engine.dialect.name == "sqlite"
        placeholder = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._bulk: _ExecuteMany | _PostgresCopy = (
            _PostgresCopy() if engine.dialect.name == "postgresql" else _ExecuteMany(placeholder)
        )
        self._resources = Resources()
        self._new_spans_sql = f"SELECT trace_id, span_id FROM spans WHERE id > {placeholder}"
        self._conn: Connection | None = self._connect()
        self._checkpointer = Checkpointer(engine) if self._sqlite else None

    def _connect(self) -> Connection:
        conn = self.engine.connect()
        if self._sqlite:
            # A page cache that holds the hot index pages; checkpoints are the Checkpointer's job.
            conn.exec_driver_sql(f"PRAGMA cache_size=-{self._cache_mib * 1024}")
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
        self._bulk.prepare(conn)
        conn.commit()
        return conn

    def _insert(self, conn: Connection, table: _Table, rows: list[Row]) -> int:
        return self._bulk.insert(conn, table, rows) if rows else 0

    def write(self, batch: WriteBatch) -> WriteResult:
        conn = self._conn or self._connect()
        self._conn = conn
        try:
            with conn.begin():
                keys = batch.span_keys
                stored, resources = self._resources.split(batch.spans)
                self._insert(conn, SPAN_RESOURCES, list(resources.items()))
                before = conn.exec_driver_sql("SELECT max(id) FROM spans").scalar() if keys else None
                spans = self._insert(conn, SPANS, stored)
                if keys and spans < len(batch.spans):
                    # Some spans were stored before: keep the keys of the new ones only. We are the
                    # only writer of spans, so the new ones are exactly those past the old max id.
                    rows = conn.exec_driver_sql(self._new_spans_sql, (before or 0,)).all()
                    keys = keys_of_new_spans(
                        keys, {(bytes(row[0]).hex(), bytes(row[1]).hex()) for row in rows}
                    )
                self._insert(conn, SPAN_KEYS, _stored_keys(keys))
                points = self._insert(conn, METRIC_POINTS, batch.metric_points)
        except BaseException:
            # A broken connection (database restarted) must not poison every later batch:
            # start the next one on a fresh connection.
            self._conn = None
            conn.invalidate()
            conn.close()
            raise
        self._resources.committed(resources)
        return WriteResult(
            spans_inserted=spans,
            spans_duplicate=len(batch.spans) - spans,
            points_inserted=points,
            points_duplicate=len(batch.metric_points) - points,
        )

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


__all__ = ["Checkpointer", "Resources", "SqlSink", "keys_of_new_spans", "packed", "raw"]

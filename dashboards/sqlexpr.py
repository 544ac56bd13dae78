"""SQL expressions shared by the rollup refresher and the page queries (SQLite and PostgreSQL).

Constants are inlined (``literal_column``) so an expression used in both SELECT and GROUP BY
renders identically; PostgreSQL refuses a GROUP BY whose bind parameters differ.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Float, case, func, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import KeyedColumnElement

from vitals.kernel.units import NS

#: Status codes as OTLP receivers write them (lower-cased enum names or numbers).
ERROR_STATUSES = ("error", "status_code_error", "2")


def lit(value: int | float | str) -> ColumnElement[Any]:
    """A constant inlined into the SQL text (only for values this module controls)."""
    if isinstance(value, bool):
        raise TypeError("no booleans")
    if isinstance(value, int):
        return literal_column(str(int(value)), BigInteger())
    if isinstance(value, float):
        return literal_column(repr(float(value)), Float())
    escaped = value.replace("'", "''")
    return literal_column(f"'{escaped}'")


def bucket(column: ColumnElement[int] | KeyedColumnElement[Any], seconds: int) -> ColumnElement[int]:
    size = lit(seconds * NS)
    return (column // size) * size


def is_error(status: ColumnElement[Any] | KeyedColumnElement[Any]) -> ColumnElement[bool]:
    return func.lower(status).in_([lit(s) for s in ERROR_STATUSES])


def error_flag(status: ColumnElement[Any] | KeyedColumnElement[Any]) -> ColumnElement[int]:
    return case((is_error(status), lit(1)), else_=lit(0))


def norm_kind(kind: ColumnElement[Any] | KeyedColumnElement[Any]) -> ColumnElement[str]:
    """``SPAN_KIND_SERVER``, ``SERVER`` and ``server`` all read as ``server``."""
    return func.replace(func.lower(kind), lit("span_kind_"), lit(""))


def blank(column: ColumnElement[Any] | KeyedColumnElement[Any]) -> ColumnElement[str]:
    """NULL as '' (the rollup key convention)."""
    return func.coalesce(column, lit(""))


def greatest(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)


def least(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    return func.least(a, b) if conn.dialect.name == "postgresql" else func.min(a, b)


def insert_for(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)

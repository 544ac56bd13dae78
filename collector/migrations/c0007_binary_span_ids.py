"""spans and span_keys: trace and span ids and key hashes stored as bytes (BLOB/BYTEA), not hex text

Revision ID: c0007
Revises: c0006
Create Date: 2026-12-04

Half the bytes in the rows and in the indexes over them (the spans' unique key, the key hash
index). Stored rows are converted in place: hex text becomes its bytes; text that is not hex
(written by other means) becomes its UTF-8 bytes, so nothing is refused or lost. On PostgreSQL
the partitioned ``spans`` is altered as one table (PostgreSQL alters every partition and
rebuilds the unique key); on SQLite the values are converted, then the tables are rebuilt with
the new column types. The downgrade turns the bytes back into lowercase hex.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0007"
down_revision = "c0006"
branch_labels = None
depends_on = None

#: table -> (column, its bytes)
_COLUMNS: dict[str, tuple[tuple[str, int], ...]] = {
    "spans": (("trace_id", 16), ("span_id", 8), ("parent_span_id", 8)),
    "span_keys": (("key_hash", 32), ("trace_id", 16), ("span_id", 8)),
}
_NULLABLE = {("spans", "parent_span_id")}
_HEX = "'^([0-9a-fA-F]{2})*$'"


def _unhex(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return bytes.fromhex(value)
    except ValueError:
        return value.encode("utf-8", "surrogatepass")


def _hex(value: object) -> object:
    return value.hex() if isinstance(value, bytes) else value


def _sqlite(to_bytes: bool) -> None:
    conn = op.get_bind()
    driver = conn.connection.driver_connection
    assert driver is not None
    name = "vitals_unhex" if to_bytes else "vitals_hex"
    driver.create_function(name, 1, _unhex if to_bytes else _hex, deterministic=True)
    for table, columns in _COLUMNS.items():
        sets = ", ".join(f"{column} = {name}({column})" for column, _ in columns)
        op.execute(f"UPDATE {table} SET {sets}")
        kwargs = {"sqlite_autoincrement": True}
        with op.batch_alter_table(table, schema=None, table_kwargs=kwargs) as batch_op:
            for column, length in columns:
                old, new = sa.String(length * 2), sa.LargeBinary()
                batch_op.alter_column(
                    column,
                    existing_type=old if to_bytes else new,
                    type_=new if to_bytes else old,
                    existing_nullable=(table, column) in _NULLABLE,
                )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _sqlite(to_bytes=True)
        return
    for table, columns in _COLUMNS.items():
        alters = ", ".join(
            f"ALTER COLUMN {c} TYPE bytea USING CASE WHEN {c} ~ {_HEX} THEN decode({c}, 'hex') "
            f"ELSE convert_to({c}, 'UTF8') END"
            for c, _ in columns
        )
        op.execute(f"ALTER TABLE {table} {alters}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _sqlite(to_bytes=False)
        return
    for table, columns in _COLUMNS.items():
        alters = ", ".join(
            f"ALTER COLUMN {c} TYPE varchar({n * 2}) USING encode({c}, 'hex')" for c, n in columns
        )
        op.execute(f"ALTER TABLE {table} {alters}")

"""spans: attributes, events and links stored packed (BLOB/BYTEA; a version byte and deflate with a preset dictionary)

Revision ID: c0008
Revises: c0007
Create Date: 2026-12-05

A span's attributes JSON was the widest part of its row (312 bytes of 621 on SQLite, 352 of 661
as JSONB on PostgreSQL); packed (``collector.packed``) it is under half (147 bytes in the ingest
benchmark). Nothing queried inside these columns in SQL; readers get Python objects through
``collector.tables.PackedJson`` as before.

Stored rows are converted in batches by primary key (on PostgreSQL the partitioned ``spans`` is
altered as one table first, JSONB becoming its JSON text's bytes, which ``collector.packed``
also reads, then each row is packed; on SQLite the rows are packed, then the table is rebuilt
with the new column types). The JSON is re-serialised compactly on the way, so the same
attributes read back. The downgrade unpacks every row back into JSON (JSONB, TEXT).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

import vitals.kernel.db
from collector.attributes import json_text
from collector.packed import pack, unpack

revision = "c0008"
down_revision = "c0007"
branch_labels = None
depends_on = None

_COLUMNS = ("attributes", "events", "links")
_NULLABLE = {"events", "links"}
_BATCH = 2_000


def _text(value: Any) -> str | None:
    """A stored value's JSON text, whichever form it has (JSON text, JSONB, bytes, packed)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return unpack(value)
    if isinstance(value, str):
        return value
    return json_text(value)


def _packed(value: Any) -> Any:
    text = _text(value)
    return None if text is None else pack(json_text(orjson.loads(text)))


def _convert(convert: Callable[[Any], Any]) -> None:
    """Every span row's JSON columns through ``convert``, a batch of rows at a time by id."""
    conn = op.get_bind()
    names = ", ".join(_COLUMNS)
    read = sa.text(
        f"SELECT id, event_time_unix_nano, {names} FROM spans WHERE id > :after ORDER BY id LIMIT {_BATCH}"
    )
    sets = ", ".join(f"{c} = :{c}" for c in _COLUMNS)
    write = sa.text(f"UPDATE spans SET {sets} WHERE id = :id AND event_time_unix_nano = :time")
    after = -(2**63)
    while True:
        rows = conn.execute(read, {"after": after}).all()
        if not rows:
            return
        conn.execute(
            write,
            [
                {
                    "id": row[0],
                    "time": row[1],
                    **{c: convert(v) for c, v in zip(_COLUMNS, row[2:], strict=True)},
                }
                for row in rows
            ],
        )
        after = rows[-1][0]


def _sqlite_types(to_packed: bool) -> None:
    with op.batch_alter_table("spans", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        for column in _COLUMNS:
            old, new = vitals.kernel.db.JsonDocument(), sa.LargeBinary()
            batch_op.alter_column(
                column,
                existing_type=old if to_packed else new,
                type_=new if to_packed else old,
                existing_nullable=column in _NULLABLE,
            )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        alters = ", ".join(
            f"ALTER COLUMN {c} TYPE bytea USING convert_to({c}::text, 'UTF8')" for c in _COLUMNS
        )
        op.execute(f"ALTER TABLE spans {alters}")
        _convert(_packed)
        return
    _convert(_packed)
    _sqlite_types(to_packed=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":

        def to_json_bytes(value: Any) -> bytes | None:
            text = _text(value)
            return None if text is None else text.encode("utf-8", "surrogatepass")

        _convert(to_json_bytes)
        alters = ", ".join(
            f"ALTER COLUMN {c} TYPE jsonb USING convert_from({c}, 'UTF8')::jsonb" for c in _COLUMNS
        )
        op.execute(f"ALTER TABLE spans {alters}")
        return
    _convert(_text)
    _sqlite_types(to_packed=False)

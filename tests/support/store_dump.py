"""Every cell of a store as text, packed columns decoded: what "no PHI is stored" tests scan.

``spans.attributes``, ``events`` and ``links`` are stored packed (``collector.packed``: deflate),
so a scan of the raw bytes or of ``SELECT *`` would find nothing there whatever they held and
pass for nothing. These helpers decode every column the telemetry tables declare as
``collector.tables.PackedJson`` (and any other value that reads as a packed value), and give
other bytes as their UTF-8 text, so a planted identifier is found wherever it is stored.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine

from collector.packed import PackedError, unpack
from collector.tables import PackedJson
from vitals.kernel.db import metadata

#: ``table.column`` of every packed column the store declares.
PACKED_COLUMNS: frozenset[str] = frozenset(
    f"{table.name}.{column.name}"
    for table in metadata.sorted_tables
    for column in table.columns
    if isinstance(column.type, PackedJson)
)


def cell_text(value: object, where: str = "") -> object:
    """A stored value as a scan should see it: a packed column's bytes as their JSON text (a
    value that does not unpack fails the scan); other bytes as their UTF-8 text, followed by
    their unpacked text if they happen to unpack (a column this list does not know yet); anything
    else as it is."""
    if not isinstance(value, bytes | bytearray | memoryview):
        return value
    data = bytes(value)
    if where in PACKED_COLUMNS:
        return unpack(data)
    text = data.decode("utf-8", "replace")
    if data[:1] == b"\x01":
        try:
            return f"{text}\n{unpack(data)}"
        except PackedError:
            pass
    return text


def table_cells(engine: Engine) -> Iterator[tuple[str, object]]:
    """(``table.column``, value as :func:`cell_text` gives it) for every cell of every table in
    the store (reflected, so tables of every package are included), packed columns decoded."""
    reflected = MetaData()
    reflected.reflect(engine)
    with engine.connect() as conn:
        for table in reflected.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in zip(table.columns, row, strict=True):
                    where = f"{table.name}.{column.name}"
                    yield where, cell_text(value, where)


def store_text(engine: Engine) -> str:
    """Every cell of every table as one text, packed columns decoded, one cell a line."""
    return "\n".join(str(value) for _where, value in table_cells(engine))


__all__ = ["PACKED_COLUMNS", "cell_text", "store_text", "table_cells"]

"""The PHI scans' store dump (``tests.support.store_dump``) sees inside packed columns: an
identifier planted in a span's attributes, events or links is found, where a scan of the raw
rows or the database file finds nothing (so the scans would pass vacuously without it)."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.factories import insert_spans, span_row
from tests.support.store_dump import PACKED_COLUMNS, cell_text, store_text, table_cells

PLANTED = "MRN00424242"


def test_every_packed_column_is_known() -> None:
    assert {"spans.attributes", "spans.events", "spans.links"} <= PACKED_COLUMNS


def test_a_planted_identifier_in_packed_columns_is_found(engine: Engine) -> None:
    row = span_row(name="op", attributes={"note": f"patient {PLANTED}"})
    row["events"] = orjson.dumps([{"name": "e", "attributes": {"x": f"{PLANTED}-event"}}]).decode()
    row["links"] = orjson.dumps([{"attributes": {"y": f"{PLANTED}-link"}}]).decode()
    insert_spans(engine, [row])

    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            raw = "\n".join(str(r[0]) for r in conn.execute(text("SELECT row_to_json(t)::text FROM spans t")))
        else:
            raw = "\n".join(str(v) for r in conn.execute(text("SELECT * FROM spans")) for v in r)
    assert PLANTED not in raw  # packed: invisible to a plain scan
    if engine.dialect.name == "sqlite":
        database = Path(engine.url.database or "")
        files = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
        assert PLANTED.encode() not in files

    dump = store_text(engine)
    for suffix in ("", "-event", "-link"):
        assert f"{PLANTED}{suffix}" in dump
    cells = dict((where, value) for where, value in table_cells(engine) if where.startswith("spans."))
    assert PLANTED in str(cells["spans.attributes"])


def test_an_id_that_starts_like_a_packed_value_is_dumped_as_its_text() -> None:
    id_bytes = b"\x01Cc\xce\x13\x87\x98\n\xe0\xe2u\x89\x14\x84\xd5\xb3"
    assert cell_text(id_bytes, "spans.trace_id") == id_bytes.decode("utf-8", "replace")

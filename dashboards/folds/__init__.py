"""How each rollup family folds a batch of new rows: read an aggregate, return its writer.

A folder is ``fold(conn, lo, hi)``: it reads source rows with ids in (lo, hi] (aggregated by the
database where it can) and returns a function that writes the result in the caller's
transaction, the one that also moves the family's watermark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from dashboards.sqlexpr import greatest, insert_for, least

#: Rollup resolutions in seconds: per minute (ranges up to 36 h) and per hour.
RESOLUTIONS: tuple[int, ...] = (60, 3600)

Writer = Callable[[Connection], None]
Folder = Callable[[Connection, int, int], Writer]


def upsert(
    conn: Connection,
    table: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    add: Iterable[str] = (),
    high: Iterable[str] = (),
    low: Iterable[str] = (),
) -> None:
    """Insert rows, or fold them into existing ones: ``add`` sums, ``high``/``low`` keep extremes."""
    if not rows:
        return
    stmt = insert_for(conn, table)
    excluded = stmt.excluded
    set_: dict[str, Any] = {}
    for name in add:
        set_[name] = table.c[name] + excluded[name]
    for name in high:
        set_[name] = greatest(conn, table.c[name], excluded[name])
    for name in low:
        set_[name] = least(conn, table.c[name], excluded[name])
    keys = [c.name for c in table.primary_key.columns]
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=set_), list(rows))


__all__ = ["RESOLUTIONS", "Folder", "Writer", "upsert"]

"""Following a table by its ids: every row once, whatever order PostgreSQL commits them in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, ColumnElement, Integer, MetaData, String, Table, insert, select
from sqlalchemy.engine import Engine

from vitals.kernel.db import BigIntId, create_engine
from vitals.kernel.follow import (
    Cursor,
    SeenRange,
    default_horizon_s,
    first_id_since,
    gap_clause,
    read_new,
)

S = 1_000_000_000  # ns
HORIZON = 120 * S

# --------------------------------------------------------------------------- the pure core


def test_ids_read_in_order_with_no_horizon_collapse_into_the_watermark() -> None:
    cursor = Cursor().marked([1, 2, 3, 5], now_ns=100)
    assert cursor.gaps() == ((3, 5), (5, None))  # id 4 is unread
    cursor = cursor.settled(now_ns=100, horizon_ns=0)
    assert cursor == Cursor(5)
    assert cursor.gaps() == ((5, None),)


def test_an_id_committed_late_is_read_once_when_it_fills_its_gap() -> None:
    cursor = Cursor().after_read([1, 2, 4], now_ns=100, horizon_ns=50)  # 3 is not committed yet
    assert cursor.watermark == 0
    assert cursor.gaps() == ((2, 4), (4, None))
    assert cursor.is_new(3) and not cursor.is_new(4) and cursor.is_new(5)
    cursor = cursor.after_read([3], now_ns=120, horizon_ns=50)
    assert cursor == Cursor(0, (SeenRange(1, 4, 100),))
    assert not cursor.is_new(3)
    assert cursor.settled(now_ns=149, horizon_ns=50) == cursor
    assert cursor.settled(now_ns=150, horizon_ns=50) == Cursor(4)


def test_a_gap_is_given_up_a_horizon_after_the_ids_above_it_were_first_seen() -> None:
    cursor = Cursor(10, (SeenRange(11, 20, 100), SeenRange(25, 30, 200)))
    cursor = cursor.settled(now_ns=160, horizon_ns=50)
    assert cursor == Cursor(20, (SeenRange(25, 30, 200),))
    assert cursor.gaps() == ((20, 25), (30, None))
    assert cursor.passed() == [(1, 20), (25, 30)]
    assert cursor.settled(now_ns=250, horizon_ns=50) == Cursor(30)


def test_steady_ingest_above_a_rolled_back_id_does_not_keep_its_gap_open() -> None:
    """Id 3 was rolled back. New ids keep arriving above it every 30 s, so the range above the gap
    keeps growing; its grace still runs from when the range was first seen."""
    cursor = Cursor().after_read([1, 2, 4, 5], now_ns=0, horizon_ns=HORIZON)
    for tick in range(1, 5):
        new = range(5 * tick + 1, 5 * tick + 6)
        cursor = cursor.after_read(new, now_ns=tick * 30 * S, horizon_ns=HORIZON)
    assert cursor == Cursor(25)  # at 120 s: the range above id 3 was first seen at 0 s


def test_settling_can_stop_at_a_bound() -> None:
    cursor = Cursor().marked(range(1, 101), now_ns=0)
    assert cursor.settled(now_ns=0, horizon_ns=0, at_most=40) == Cursor(40, (SeenRange(41, 100, 0),))
    assert cursor.settled(now_ns=0, horizon_ns=0, at_most=400) == Cursor(100)


def test_ids_at_or_below_the_watermark_are_ignored_and_repeats_are_harmless() -> None:
    cursor = Cursor(10).marked([3, 10, 12, 12, 11], now_ns=5)
    assert cursor == Cursor(10, (SeenRange(11, 12, 5),))
    assert cursor.marked([], now_ns=9) is cursor


def test_json_round_trip() -> None:
    cursor = Cursor(7, (SeenRange(9, 12, 5), SeenRange(20, 20, 6)))
    assert Cursor.from_json(cursor.watermark, cursor.seen_json()) == cursor
    assert Cursor.from_json(0, None) == Cursor()


# --------------------------------------------------------------------------- the SQL edge

_meta = MetaData()
rows = Table(
    "follow_rows",
    _meta,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("n", Integer, nullable=False),
)


@pytest.fixture
def table_engine(store_url: str) -> Iterator[Engine]:
    eng = create_engine(store_url)
    _meta.create_all(eng)
    yield eng
    eng.dispose()


def _add(eng: Engine, *items: tuple[str, int]) -> None:
    with eng.begin() as conn:
        conn.execute(insert(rows), [{"kind": k, "n": n} for k, n in items])


def _read(
    eng: Engine, cursor: Cursor, limit: int, where: ColumnElement[bool] | None = None
) -> tuple[list[int], list[int]]:
    with eng.connect() as conn:
        got = read_new(conn, select(rows.c.id, rows.c.n), rows.c.id, cursor, limit, where=where)
    return list(got.ids), [row.n for row in got.rows]


def test_reading_in_batches_delivers_each_row_once(table_engine: Engine) -> None:
    _add(table_engine, *[("a", n) for n in range(7)])
    cursor, delivered = Cursor(), []
    while True:
        with table_engine.connect() as conn:
            got = read_new(conn, select(rows.c.id, rows.c.n), rows.c.id, cursor, 3)
        delivered += [row.n for row in got.rows]
        cursor = cursor.after_read(got.ids, now_ns=0, horizon_ns=0)
        if got.caught_up:
            break
    assert delivered == list(range(7))
    assert cursor == Cursor(7)


def test_a_filtered_read_marks_every_id_so_unwanted_rows_leave_no_gaps(table_engine: Engine) -> None:
    _add(table_engine, ("a", 1), ("b", 2), ("a", 3), ("b", 4), ("b", 5))
    ids, ns = _read(table_engine, Cursor(), 10, where=rows.c.kind == "a")
    assert (ids, ns) == ([1, 2, 3, 4, 5], [1, 3])
    cursor = Cursor().after_read(ids, now_ns=0, horizon_ns=HORIZON)
    assert cursor.seen == (SeenRange(1, 5, 0),)  # one range, not one per wanted row
    ids, ns = _read(table_engine, Cursor(), 2, where=rows.c.kind == "b")
    assert (ids, ns) == ([1, 2], [2])


def test_first_id_since_starts_just_below_the_first_match(table_engine: Engine) -> None:
    _add(table_engine, ("a", 10), ("a", 20), ("a", 30))
    with table_engine.connect() as conn:
        assert first_id_since(conn, rows.c.id, rows.c.n >= 20) == 1
        assert first_id_since(conn, rows.c.id, rows.c.n >= 99) == 3  # none: start at the newest
        assert conn.execute(select(rows.c.id).where(gap_clause(rows.c.id, ((0, 2), (2, None))))).all() == [
            (1,),
            (3,),
        ]


def test_the_default_horizon_depends_on_the_store(table_engine: Engine) -> None:
    expected = 0.0 if table_engine.dialect.name == "sqlite" else 120.0
    assert default_horizon_s(table_engine) == expected


@pytest.mark.postgres
def test_postgresql_row_committed_after_a_higher_id_is_still_delivered_once(pg_url: str) -> None:
    """Transaction A takes id 1 and stays open; B takes id 2 and commits; the reader reads; then A
    commits. A reader that moved past the highest id it saw would never deliver A's row."""
    eng = create_engine(pg_url)
    _meta.create_all(eng)
    try:
        cursor, delivered, now = Cursor(), [], 0
        horizon = int(default_horizon_s(eng) * S)
        with eng.connect() as a:
            tx = a.begin()
            a.execute(insert(rows), {"kind": "a", "n": 100})
            _add(eng, ("b", 200))
            ids, ns = _read(eng, cursor, 10)
            assert ns == [200]
            delivered += ns
            cursor = cursor.after_read(ids, now, horizon)
            assert cursor.gaps() == ((0, 2), (2, None))  # A's id is still awaited
            tx.commit()
        for step in range(1, 4):
            now = step * S
            ids, ns = _read(eng, cursor, 10)
            delivered += ns
            cursor = cursor.after_read(ids, now, horizon)
        assert sorted(delivered) == [100, 200]
        assert cursor.gaps() == ((2, None),)
        assert cursor.settled(now + horizon, horizon) == Cursor(2)
    finally:
        eng.dispose()


@pytest.mark.postgres
def test_postgresql_rolled_back_id_is_given_up_after_the_horizon(pg_url: str) -> None:
    eng = create_engine(pg_url)
    _meta.create_all(eng)
    try:
        with eng.connect() as a:
            tx = a.begin()
            a.execute(insert(rows), {"kind": "a", "n": 1})
            _add(eng, ("b", 2))
            tx.rollback()
        ids, _ = _read(eng, Cursor(), 10)
        cursor = Cursor().after_read(ids, now_ns=0, horizon_ns=HORIZON)
        assert cursor.gaps() == ((0, 2), (2, None))
        ids, _ = _read(eng, cursor, 10)
        assert ids == []
        assert cursor.after_read(ids, now_ns=HORIZON, horizon_ns=HORIZON) == Cursor(2)
    finally:
        eng.dispose()

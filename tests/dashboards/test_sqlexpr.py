"""Plain driver tuples for the long numeric reads, on both stores."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, Table, func, select

from dashboards.sqlexpr import fetch_tuples
from vitals.kernel.db import create_engine


def test_fetch_tuples_binds_parameters_and_returns_the_rows(store_url: str) -> None:
    metadata = MetaData()
    minutes = Table("minutes", metadata, Column("minute", Integer), Column("value", Float))
    engine = create_engine(store_url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(minutes.insert(), [{"minute": m % 5, "value": m / 2} for m in range(10)])
        query = (
            select(minutes.c.minute, func.sum(minutes.c.value))
            .where(minutes.c.minute.between(2, 3), minutes.c.value > 0.5)
            .group_by(minutes.c.minute)
            .order_by(minutes.c.minute)
        )
        expanding = select(minutes.c.minute).where(minutes.c.minute.in_([1, 4])).order_by(minutes.c.value)
        with engine.connect() as conn:
            rows = fetch_tuples(conn, query)
            listed = fetch_tuples(conn, expanding)
        assert rows == [(2, 1.0 + 3.5), (3, 1.5 + 4.0)]
        assert all(type(row) is tuple for row in rows)
        assert listed == [(1,), (4,), (1,), (4,)]  # an IN list (an expanding parameter) binds too
    finally:
        engine.dispose()

"""Plain driver tuples for the long numeric reads, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, Table, func, select

from dashboards.sqlexpr import fetch_tuples
from tests.support.services import postgres_database
from vitals.db import create_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        with postgres_database() as found:
            yield found


def test_fetch_tuples_binds_parameters_and_returns_the_rows(url: str) -> None:
    metadata = MetaData()
    minutes = Table("minutes", metadata, Column("minute", Integer), Column("value", Float))
    engine = create_engine(url)
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
        with engine.connect() as conn:
            rows = fetch_tuples(conn, query)
        assert rows == [(2, 1.0 + 3.5), (3, 1.5 + 4.0)]
        assert all(type(row) is tuple for row in rows)
    finally:
        engine.dispose()

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, Table, func, inspect, select
from sqlalchemy.engine import Engine

from vitals.kernel.db import (
    create_engine,
    current_heads,
    fetch_tuples,
    load_all_tables,
    migrate,
    normalize_url,
)


def test_migrate_creates_every_declared_table_and_is_idempotent(engine: Engine) -> None:
    migrate(engine)  # a second start must be a no-op
    declared = set(load_all_tables().tables)
    assert declared <= set(inspect(engine).get_table_names())
    assert current_heads(engine)


def test_schema_matches_the_migrations(engine: Engine) -> None:
    """Tables declared in code and tables the migrations create must not drift apart."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), load_all_tables())
    assert diff == []


def test_sqlite_store_uses_wal(sqlite_url: str) -> None:
    eng = create_engine(sqlite_url)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    eng.dispose()


def test_pasted_urls_get_the_installed_drivers() -> None:
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("mysql://u@h/mirthdb") == "mysql+pymysql://u@h/mirthdb"
    assert normalize_url("mariadb://u@h/mirthdb") == "mysql+pymysql://u@h/mirthdb"
    assert normalize_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"  # explicit: kept
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


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

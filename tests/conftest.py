"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.support.services import postgres_database
from vitals.kernel.db import create_engine, migrate

# Every `vitals serve` a test starts (subprocesses inherit this) puts its JSON API on a free port,
# never the default 8502; a test that wants a given port passes --api-port.
os.environ.setdefault("VITALS_API_PORT", "0")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'vitals.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test against the embedded SQLite store and against PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vitals.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A migrated store on both databases."""
    eng = create_engine(store_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    eng = create_engine(sqlite_url)
    migrate(eng)
    yield eng
    eng.dispose()

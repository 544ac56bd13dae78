"""One contract for a store's in-memory and SQL implementations: the same tests run on both.

A contract fixture takes ``CONTRACT_STORES`` as its params and builds, in ``contract_engine``,
the in-memory store (no engine) or the SQL one over a migrated store on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.support.services import postgres_database
from vitals.kernel.db import create_engine, migrate

#: The stores every contract test runs on: in memory, and SQL on SQLite and on PostgreSQL.
CONTRACT_STORES = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def contract_engine(kind: str, folder: Path) -> Iterator[Engine | None]:
    """None for ``"memory"`` (the test builds the in-memory store); else an engine on a migrated
    store, a SQLite file in ``folder`` or a fresh PostgreSQL database, disposed (and dropped) after."""
    if kind == "memory":
        yield None
        return
    with ExitStack() as stack:
        url = (
            f"sqlite:///{folder / 'vitals.db'}"
            if kind == "sqlite"
            else stack.enter_context(postgres_database())
        )
        engine = create_engine(url)
        stack.callback(engine.dispose)
        migrate(engine)
        yield engine

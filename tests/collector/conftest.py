"""Fixtures shared by the receiver tests: a running collector and an engine on its store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from collector.service import Collector
from tests.collector.harness import running_collector
from vitals.kernel.db import create_engine


@pytest.fixture
def collector(store_url: str, tmp_path: Path) -> Iterator[Collector]:
    """A collector serving OTLP/HTTP and OTLP/gRPC into ``store_url`` (SQLite and PostgreSQL)."""
    with running_collector(store_url, tmp_path) as running:
        yield running


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    """An engine of its own on the collector's store, for reading back what it wrote."""
    engine = create_engine(store_url)
    yield engine
    engine.dispose()

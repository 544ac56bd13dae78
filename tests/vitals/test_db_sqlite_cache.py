"""Each SQLite connection's page cache is bounded (``VITALS_SQLITE_CACHE_MIB``, 2 MiB by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vitals.kernel.db import SQLITE_CACHE_ENV, create_engine


def cache_size(tmp_path: Path) -> int:
    engine = create_engine(f"sqlite:///{tmp_path / 'vitals.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    finally:
        engine.dispose()


def test_the_default_bound_is_two_mib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SQLITE_CACHE_ENV, raising=False)
    assert cache_size(tmp_path) == -2048  # negative: KiB


def test_the_bound_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SQLITE_CACHE_ENV, "8")
    assert cache_size(tmp_path) == -8192
    monkeypatch.setenv(SQLITE_CACHE_ENV, "lots")
    assert cache_size(tmp_path) == -2048

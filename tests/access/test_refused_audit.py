"""Refused API requests (401, 403) are recorded in the audit log as ``access.refused``, and an
audit log that fails never turns the refusal into a 5xx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from access.audit import InMemoryAuditLog
from access.model import AuditEntry, AuditLog
from access.tokens import InMemoryTokenStore
from alerts.config import AlertsConfig, load_for
from api import ApiDeps, create_app
from api.server import ApiServer, bind
from vitals.kernel.db import create_engine, migrate

T0 = 1_780_000_000.0


class BrokenAuditLog(InMemoryAuditLog):
    def record(self, entry: AuditEntry) -> None:
        raise OSError("audit store unreachable")


@contextmanager
def serving(sqlite_url: str, tmp_path: Path, tokens: InMemoryTokenStore, audit: AuditLog) -> Iterator[str]:
    engine = create_engine(sqlite_url)
    migrate(engine)
    config = load_for(tmp_path, {})

    def alerts_config() -> AlertsConfig:
        return config

    deps = ApiDeps(engine, tokens, audit, tmp_path, alerts_config, lambda: T0 + 10)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = ApiServer(create_app(deps), bind("127.0.0.1", 0), shutdown_timeout=5)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
        yield f"http://127.0.0.1:{server.port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(10), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        engine.dispose()


@pytest.mark.e2e
def test_refused_requests_are_audited(sqlite_url: str, tmp_path: Path) -> None:
    tokens = InMemoryTokenStore()
    _, reader = tokens.create("grafana", frozenset({"read"}), now=T0)
    audit = InMemoryAuditLog()
    with (
        serving(sqlite_url, tmp_path, tokens, audit) as url,
        httpx.Client(base_url=url, trust_env=False) as client,
    ):
        assert client.get("/api/v1/config").status_code == 401
        assert client.get("/api/v1/slas", headers={"Authorization": "Bearer vt_guess"}).status_code == 401
        assert client.get("/api/v1/config", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
        assert client.get("/api/v1/slas", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    got = sorted(
        (e.actor, e.target, e.detail["status"], e.remote) for e in audit.query(action="access.refused")
    )
    assert got == [
        ("anonymous", "GET /api/v1/config", 401, "127.0.0.1"),
        ("grafana", "GET /api/v1/config", 403, "127.0.0.1"),
        ("unknown token", "GET /api/v1/slas", 401, "127.0.0.1"),
    ]


@pytest.mark.e2e
def test_a_failing_audit_log_keeps_the_refusal(sqlite_url: str, tmp_path: Path) -> None:
    tokens = InMemoryTokenStore()
    _, reader = tokens.create("grafana", frozenset({"read"}), now=T0)
    with (
        serving(sqlite_url, tmp_path, tokens, BrokenAuditLog()) as url,
        httpx.Client(base_url=url, trust_env=False) as client,
    ):
        assert client.get("/api/v1/config").status_code == 401
        assert client.get("/api/v1/config", headers={"Authorization": f"Bearer {reader}"}).status_code == 403

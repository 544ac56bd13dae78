"""The API app served for real: uvicorn on a free port of 127.0.0.1, its own loop in a thread."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from access.audit import InMemoryAuditLog, SqlAuditLog
from access.model import AuditLog, Scope, TokenStore
from access.tokens import InMemoryTokenStore, SqlTokenStore
from alerts.config import AlertsConfig, load_for
from api import ApiDeps, create_app
from api.deps import ConfigDocument
from api.server import ApiServer, bind


@dataclass
class ServedApi:
    base_url: str
    deps: ApiDeps
    server: ApiServer

    @property
    def tokens(self) -> TokenStore:
        return self.deps.tokens

    @property
    def audit(self) -> AuditLog:
        return self.deps.audit

    def token(self, name: str, *scopes: Scope) -> str:
        _, secret = self.tokens.create(name, frozenset(scopes), now=self.deps.clock())
        return secret

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Plain HTTP on loopback: no certificate store to load (it costs 0.1 s per client).
        return httpx.Client(
            base_url=self.base_url, headers=headers, timeout=30, verify=False, trust_env=False
        )

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request; the status and the decoded JSON body."""
        sent = {"Content-Type": "application/json", **(headers or {})} if body is not None else headers
        with self.client() as client:
            response = client.request(method, path, content=body, headers=sent)
        return response.status_code, json.loads(response.content or b"null")


@contextmanager
def serve_api(
    engine: Engine,
    config_dir: Path,
    clock: Callable[[], float],
    *,
    sql: bool = False,
    alerts_config: Callable[[], AlertsConfig] | None = None,
    environ: dict[str, str] | None = None,
    config_documents: Mapping[str, ConfigDocument] | None = None,
) -> Iterator[ServedApi]:
    """``create_app`` on uvicorn; tokens and audit log in memory, or in the store with ``sql``."""
    tokens: TokenStore = SqlTokenStore(engine) if sql else InMemoryTokenStore()
    audit: AuditLog = SqlAuditLog(engine) if sql else InMemoryAuditLog()
    if alerts_config is None:
        loaded = load_for(config_dir, environ or {})

        def alerts_config() -> AlertsConfig:
            return loaded

    deps = ApiDeps(
        engine, tokens, audit, config_dir, alerts_config, clock, config_documents=config_documents or {}
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="api-test-loop", daemon=True)
    thread.start()
    server = ApiServer(create_app(deps), bind("127.0.0.1", 0), shutdown_timeout=5)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
        yield ServedApi(f"http://127.0.0.1:{server.port}", deps, server)
    finally:
        try:
            asyncio.run_coroutine_threadsafe(server.stop(10), loop).result(30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()

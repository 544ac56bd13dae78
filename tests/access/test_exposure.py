"""The loopback rule with mutual TLS and for the API (issue 16).

A collector that requires client certificates authenticates its senders by them, so it may listen
beyond loopback without tokens; the API never asks for client certificates, so beyond loopback it
needs an API token (or ``--insecure-no-auth``) whatever collector.yaml says, and a server started
there whose tokens are all revoked later refuses every request rather than open up. On loopback
too: authentication is off only while no token was ever created, so revoking (or the expiry of)
the last token never turns it off.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from access.audit import InMemoryAuditLog
from access.tokens import InMemoryTokenStore, SqlTokenStore
from alerts.config import AlertsConfig, load_for
from api import ApiDeps, create_app
from api.server import ApiServer, bind
from api.service import ApiComponent
from collector.config import load_collector_config
from collector.service import ServeOptions, check_exposure
from tests.collector.harness import SECRET
from tests.support.tls import Certs, make_certs
from vitals.kernel.db import create_engine, migrate

pytestmark = pytest.mark.e2e

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def tls_yaml(certs: Certs, *, mutual: bool = False) -> str:
    text = f"tls:\n  cert_file: {certs.cert}\n  key_file: {certs.key}\n"
    if mutual:
        text += f"  client_ca_file: {certs.client_ca}\n  require_client_cert: true\n"
    return text


def config_with(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "config"
    directory.mkdir(exist_ok=True)
    (directory / "collector.yaml").write_text(text)
    return directory


def test_required_client_certificates_let_the_collector_listen_beyond_loopback(
    tmp_path: Path, certs: Certs
) -> None:
    exposed = ServeOptions(host="0.0.0.0")
    mutual = load_collector_config(config_with(tmp_path, tls_yaml(certs, mutual=True)), {})
    check_exposure(exposed, mutual)  # the certificate authenticates the sender
    server_only = load_collector_config(config_with(tmp_path, tls_yaml(certs)), {})
    with pytest.raises(Exception, match="require_client_cert"):
        check_exposure(exposed, server_only)  # encrypted, but anyone may send


def test_the_api_start_line_says_when_it_is_anonymous() -> None:
    from api.service import _authentication

    tokens = InMemoryTokenStore()
    assert _authentication(tokens, True, True).startswith("off: no token was ever created")
    assert _authentication(tokens, True, False).startswith("OFF (insecure")
    tokens.create("grafana", frozenset({"read"}), now=T0)
    tokens.revoke("grafana", now=T0 + 1)
    assert _authentication(tokens, True, True).startswith("on (a token is required")


def test_the_api_is_anonymous_only_on_loopback_or_when_told() -> None:
    assert ApiComponent("127.0.0.1").anonymous_allowed
    assert ApiComponent("localhost").anonymous_allowed
    assert not ApiComponent("0.0.0.0").anonymous_allowed
    assert ApiComponent("0.0.0.0", insecure_no_auth=True).anonymous_allowed


@pytest.mark.parametrize("kind", ["mutual TLS", "collector.yaml tokens", "an ingest store token"])
def test_serve_beyond_loopback_needs_an_api_token_for_the_api(
    tmp_path: Path, certs: Certs, kind: str
) -> None:
    """The collector's own check passes (certificates or its tokens authenticate senders); the API
    refuses to start, before any port is bound: those do not authenticate its callers."""
    from vitals.shell.serve import serve

    text = (
        tls_yaml(certs, mutual=True)
        if kind == "mutual TLS"
        else "tokens:\n  - {name: lab, token: lab-token-0123456789abcdef}\n"
    )
    if kind == "an ingest store token":
        text = ""
    directory = config_with(tmp_path, text)
    db = f"sqlite:///{tmp_path / 'v.db'}"
    if kind == "an ingest store token":  # lets the collector listen; reads nothing on the API
        engine = create_engine(db)
        migrate(engine)
        SqlTokenStore(engine).create("billing", frozenset({"ingest"}), now=T0)
        engine.dispose()
    args = ["--db", db, "--config", str(directory), "--host", "0.0.0.0", "--components", "none"]
    args += ["--http-port", "0", "--grpc-port", "0", "--api-port", "0"]
    result = CliRunner().invoke(serve, args, env={"VITALS_HASH_SECRET": SECRET})
    assert result.exit_code == 2, result.output
    assert "refusing to serve the API on 0.0.0.0 without authentication: no active API token" in result.output
    assert "with the read, write or admin scope" in result.output
    assert "--insecure-no-auth" in result.output


@pytest.fixture(params=[False, True], ids=["beyond-loopback", "loopback"])
def closed_api(
    sqlite_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, InMemoryTokenStore]]:
    """The API as served beyond loopback (anonymous not allowed) and on loopback (allowed while no
    token was ever created), on 127.0.0.1 for the test."""
    anonymous_allowed: bool = request.param
    engine = create_engine(sqlite_url)
    migrate(engine)
    tokens = InMemoryTokenStore()
    config = load_for(tmp_path, {})

    def alerts_config() -> AlertsConfig:
        return config

    deps = ApiDeps(
        engine,
        tokens,
        InMemoryAuditLog(),
        tmp_path,
        alerts_config,
        lambda: T0 + 10,
        anonymous_allowed=anonymous_allowed,
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = ApiServer(create_app(deps), bind("127.0.0.1", 0), shutdown_timeout=5)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
        yield f"http://127.0.0.1:{server.port}", tokens
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(10), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        engine.dispose()


def test_an_api_beyond_loopback_stays_closed_when_its_tokens_are_revoked(
    closed_api: tuple[str, InMemoryTokenStore],
) -> None:
    url, tokens = closed_api
    _, secret = tokens.create("grafana", frozenset({"read"}), now=T0)
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        assert client.get("/api/v1/slas", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        tokens.revoke("grafana", now=T0 + 1)
        assert client.get("/api/v1/slas").status_code == 401  # not anonymous with every scope
        assert client.get("/api/v1/config").status_code == 401
        assert client.get("/metrics").status_code in (401, 404)  # the API serves no /metrics


def test_an_api_stays_closed_when_its_only_token_expires(closed_api: tuple[str, InMemoryTokenStore]) -> None:
    """Expiry is no different from revocation: a token once created keeps authentication on."""
    url, tokens = closed_api
    tokens.create("grafana", frozenset({"admin"}), now=T0, expires_at=T0 + 5)  # the API's clock: T0 + 10
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        assert client.get("/api/v1/config").status_code == 401
        assert client.get("/api/v1/slas").status_code == 401

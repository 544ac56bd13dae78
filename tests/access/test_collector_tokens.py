"""Store tokens at the collector: the real OTLP exporters over real sockets, HTTP and gRPC.

An active ``ingest`` token is accepted; a revoked, expired or read-only one is refused (401 over
HTTP, UNAUTHENTICATED over gRPC); a revocation takes effect within the cache's time to live.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from access.cache import DEFAULT_TTL_S
from access.tokens import SqlTokenStore
from collector.config import CollectorConfig
from collector.service import Collector, ServeOptions, StartupError, check_exposure
from tests.collector.harness import post, running_collector, span_count, wait_until
from tests.collector.otlp import span, trace_request
from tests.collector.test_grpc_receiver import call
from tests.collector.test_http_receiver import CountingExporter
from vitals.kernel.db import create_engine, migrate

pytestmark = pytest.mark.e2e

#: Fixed times in the past: tokens are created then, and the old one expired a second later.
T0 = 1_700_000_000.0


@dataclass
class Secrets:
    billing: str  # ingest, active
    grafana: str  # read only
    old: str  # ingest, expired


@pytest.fixture
def secrets(store_url: str) -> Iterator[Secrets]:
    engine = create_engine(store_url)
    migrate(engine)
    store = SqlTokenStore(engine)
    out = Secrets(
        store.create("billing", frozenset({"ingest"}), now=T0)[1],
        store.create("grafana", frozenset({"read"}), now=T0)[1],
        store.create("old", frozenset({"ingest"}), now=T0, expires_at=T0 + 1)[1],
    )
    engine.dispose()
    yield out


def _send(exporter: SpanExporter) -> int:
    counting = CountingExporter(exporter)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(counting))
    provider.get_tracer("t").start_span("authenticated").end()
    provider.shutdown()
    return counting.acknowledged


def _http(collector: Collector, secret: str) -> HttpSpanExporter:
    return HttpSpanExporter(
        endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=10,
    )


def _grpc(collector: Collector, secret: str) -> GrpcSpanExporter:
    return GrpcSpanExporter(
        endpoint=f"127.0.0.1:{collector.grpc_port}",
        insecure=True,
        headers={"authorization": f"Bearer {secret}"},
        timeout=10,
    )


def _http_status(collector: Collector, secret: str | None) -> int:
    body = trace_request(span("probe")).SerializeToString()
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return post(f"http://127.0.0.1:{collector.http_port}/v1/traces", body, headers=headers)[0]


def _grpc_code(collector: Collector, secret: str | None) -> grpc.StatusCode:
    body = trace_request(span("probe")).SerializeToString()
    metadata = (("authorization", f"Bearer {secret}"),) if secret else ()
    try:
        call(collector.grpc_port, body, metadata)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _revoke_and_time(store_url: str, refused: Callable[[], bool]) -> float:
    """Revoke ``billing`` and return the seconds until ``refused()`` holds."""
    engine = create_engine(store_url)
    SqlTokenStore(engine).revoke("billing", now=T0 + 2)
    engine.dispose()
    started = time.monotonic()
    wait_until(refused, timeout=DEFAULT_TTL_S + 10, message="the revoked token refused")
    return time.monotonic() - started


def test_store_tokens_over_otlp_http(store_url: str, secrets: Secrets, tmp_path: Path) -> None:
    with running_collector(store_url, tmp_path) as running:
        assert _send(_http(running, secrets.billing)) == 1
        assert _http_status(running, secrets.billing) == 200
        for refused in (secrets.grafana, secrets.old, "vt_not-a-token", None):
            assert _http_status(running, refused) == 401, refused
        assert _send(_http(running, secrets.grafana)) == 0
        took = _revoke_and_time(store_url, lambda: _http_status(running, secrets.billing) == 401)
        assert took <= DEFAULT_TTL_S + 1
        engine = create_engine(store_url)
        stored = span_count(engine)  # the exporter's span and the probes answered 200
        assert _send(_http(running, secrets.billing)) == 0
        assert span_count(engine) == stored
        engine.dispose()


def test_store_tokens_over_otlp_grpc(sqlite_url: str, tmp_path: Path) -> None:
    engine = create_engine(sqlite_url)
    migrate(engine)
    store = SqlTokenStore(engine)
    billing = store.create("billing", frozenset({"ingest"}), now=T0)[1]
    grafana = store.create("grafana", frozenset({"write"}), now=T0)[1]
    old = store.create("old", frozenset({"ingest"}), now=T0, expires_at=T0 + 1)[1]
    with running_collector(sqlite_url, tmp_path) as running:
        assert _send(_grpc(running, billing)) == 1
        assert _grpc_code(running, billing) is grpc.StatusCode.OK
        for refused in (grafana, old, "vt_not-a-token", None):
            assert _grpc_code(running, refused) is grpc.StatusCode.UNAUTHENTICATED, refused
        assert _send(_grpc(running, old)) == 0
        took = _revoke_and_time(
            sqlite_url, lambda: _grpc_code(running, billing) is grpc.StatusCode.UNAUTHENTICATED
        )
        assert took <= DEFAULT_TTL_S + 1
        stored = span_count(engine)
        assert _send(_grpc(running, billing)) == 0
        assert span_count(engine) == stored
    engine.dispose()


def test_yaml_tokens_keep_working_next_to_store_tokens(sqlite_url: str, tmp_path: Path) -> None:
    engine = create_engine(sqlite_url)
    migrate(engine)
    billing = SqlTokenStore(engine).create("billing", frozenset({"ingest"}), now=T0)[1]
    engine.dispose()
    config = "tokens:\n  - name: lab\n    token: lab-token-0123456789abcdef\n"
    with running_collector(sqlite_url, tmp_path, config) as running:
        assert _http_status(running, "lab-token-0123456789abcdef") == 200
        assert _http_status(running, billing) == 200
        assert _http_status(running, None) == 401


def test_with_no_token_the_collector_says_it_listens_on_loopback_only(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="vitals.serve"),
        running_collector(sqlite_url, tmp_path) as running,
    ):
        assert _http_status(running, None) == 200  # anyone on this machine may send
    assert "no token exists, so listening on loopback only" in caplog.text


def test_a_store_token_turns_authentication_on(
    store_url: str, secrets: Secrets, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="vitals.serve"), running_collector(store_url, tmp_path):
        pass
    assert (
        "authentication on (a token is required; the collector refuses a revoked API token "
        f"within {DEFAULT_TTL_S:g}s, the API at once)" in caplog.text
    )


def test_beyond_loopback_needs_a_token_of_either_kind() -> None:
    exposed = ServeOptions(host="0.0.0.0")
    with pytest.raises(StartupError, match="vitals tokens create SOURCE --scope ingest"):
        check_exposure(exposed, CollectorConfig())
    check_exposure(exposed, CollectorConfig(), store_tokens=True)
    check_exposure(ServeOptions(host="0.0.0.0", insecure_no_auth=True), CollectorConfig())
    check_exposure(ServeOptions(host="127.0.0.1"), CollectorConfig())


def test_vitals_serve_refuses_a_public_address_while_the_store_has_no_active_token(tmp_path: Path) -> None:
    from vitals.shell.serve import serve

    db = f"sqlite:///{tmp_path / 'v.db'}"
    engine = create_engine(db)
    migrate(engine)
    store = SqlTokenStore(engine)
    store.create("revoked", frozenset({"ingest"}), now=T0)
    store.revoke("revoked", now=T0 + 1)
    store.create("expired", frozenset({"ingest"}), now=T0, expires_at=T0 + 1)
    engine.dispose()
    result = CliRunner().invoke(serve, ["--db", db, "--config", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 2, result.output
    assert "refusing to listen on 0.0.0.0 without authentication: no token exists" in result.output

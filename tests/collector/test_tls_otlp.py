"""OTLP over TLS into a running collector, with the real OpenTelemetry exporters and certificates
made for the test: spans arrive over TLS; a plain-text client, a client trusting another CA and,
under mutual TLS, a sender without a certificate signed by the client CA get nothing stored."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from sqlalchemy.engine import Engine

from collector.service import Collector
from tests.collector.harness import running_collector, span_count
from tests.collector.test_http_receiver import CountingExporter
from tests.support.tls import Certs, make_certs
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

#: Seconds an exporter that cannot get through keeps retrying (the OTLP default is 10).
GIVE_UP_S = 2


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def tls_yaml(certs: Certs, *, mutual: bool = False) -> str:
    text = f"tls:\n  cert_file: {certs.cert}\n  key_file: {certs.key}\n"
    if mutual:
        text += f"  client_ca_file: {certs.client_ca}\n  require_client_cert: true\n"
    return text


@pytest.fixture(autouse=True)
def no_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE override the OTLP/HTTP exporter's
    ``certificate_file`` (psf/requests#3829); machines and CI images often set them."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store_file(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'vitals.db'}"


@pytest.fixture
def store(store_file: str) -> Iterator[Engine]:
    engine = create_engine(store_file)
    yield engine
    engine.dispose()


@pytest.fixture
def tls_collector(store_file: str, tmp_path: Path, certs: Certs) -> Iterator[Collector]:
    with running_collector(store_file, tmp_path, tls_yaml(certs)) as running:
        yield running


@pytest.fixture
def mtls_collector(store_file: str, tmp_path: Path, certs: Certs) -> Iterator[Collector]:
    with running_collector(store_file, tmp_path, tls_yaml(certs, mutual=True)) as running:
        yield running


def send_span(exporter: SpanExporter) -> CountingExporter:
    """One span through ``exporter``; the counting wrapper says whether it was acknowledged."""
    counting = CountingExporter(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": "integration-engine"}))
    provider.add_span_processor(SimpleSpanProcessor(counting))
    with provider.get_tracer("tests.tls").start_as_current_span("HL7 ADT^A01 process"):
        pass
    provider.shutdown()
    return counting


def http_exporter(
    collector: Collector, ca: Path, client: tuple[Path, Path] | None = None, token: str | None = None
) -> HttpSpanExporter:
    cert, key = client if client is not None else (None, None)
    return HttpSpanExporter(
        headers={"Authorization": f"Bearer {token}"} if token else None,
        endpoint=f"https://127.0.0.1:{collector.http_port}/v1/traces",
        certificate_file=str(ca),
        client_certificate_file=str(cert) if cert else None,
        client_key_file=str(key) if key else None,
        timeout=GIVE_UP_S,
    )


def grpc_exporter(
    collector: Collector, ca: Path, client: tuple[Path, Path] | None = None
) -> GrpcSpanExporter:
    cert, key = client if client is not None else (None, None)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return GrpcSpanExporter(
        endpoint=f"127.0.0.1:{collector.grpc_port}",
        insecure=False,
        credentials=credentials,
        timeout=GIVE_UP_S,
    )


# -- TLS ----------------------------------------------------------------------------------------


def test_otlp_http_over_tls_is_stored(tls_collector: Collector, store: Engine, certs: Certs) -> None:
    sent = send_span(http_exporter(tls_collector, certs.ca))
    assert (sent.acknowledged, sent.failed) == (1, 0)
    assert span_count(store) == 1
    # The process's own endpoints are on the same port, so over TLS too.
    response = httpx.get(f"https://127.0.0.1:{tls_collector.http_port}/readyz", verify=ssl_client(certs.ca))
    assert response.status_code == 200


def test_plain_http_to_the_tls_port_gets_no_answer(tls_collector: Collector) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.post(
            f"http://127.0.0.1:{tls_collector.http_port}/v1/traces",
            content=b"",
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )


def test_a_client_trusting_another_ca_refuses_the_collector(
    tls_collector: Collector, store: Engine, certs: Certs
) -> None:
    sent = send_span(http_exporter(tls_collector, certs.other_ca))
    assert (sent.acknowledged, sent.failed) == (0, 1)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"https://127.0.0.1:{tls_collector.http_port}/healthz", verify=ssl_client(certs.other_ca))
    sent = send_span(grpc_exporter(tls_collector, certs.other_ca))
    assert (sent.acknowledged, sent.failed) == (0, 1)
    assert span_count(store) == 0


def test_otlp_grpc_over_tls_is_stored(tls_collector: Collector, store: Engine, certs: Certs) -> None:
    sent = send_span(grpc_exporter(tls_collector, certs.ca))
    assert (sent.acknowledged, sent.failed) == (1, 0)
    assert span_count(store) == 1


def test_a_plain_grpc_channel_to_the_tls_port_fails(tls_collector: Collector, store: Engine) -> None:
    sent = send_span(
        GrpcSpanExporter(endpoint=f"127.0.0.1:{tls_collector.grpc_port}", insecure=True, timeout=GIVE_UP_S)
    )
    assert (sent.acknowledged, sent.failed) == (0, 1)
    assert span_count(store) == 0


# -- mutual TLS ---------------------------------------------------------------------------------


def test_mutual_tls_over_http(mtls_collector: Collector, store: Engine, certs: Certs) -> None:
    without = send_span(http_exporter(mtls_collector, certs.ca))
    stranger = send_span(http_exporter(mtls_collector, certs.ca, (certs.stranger_cert, certs.stranger_key)))
    assert (without.acknowledged, stranger.acknowledged) == (0, 0)
    assert span_count(store) == 0
    signed = send_span(http_exporter(mtls_collector, certs.ca, (certs.client_cert, certs.client_key)))
    assert (signed.acknowledged, signed.failed) == (1, 0)
    assert span_count(store) == 1


def test_mutual_tls_over_grpc(mtls_collector: Collector, store: Engine, certs: Certs) -> None:
    without = send_span(grpc_exporter(mtls_collector, certs.ca))
    stranger = send_span(grpc_exporter(mtls_collector, certs.ca, (certs.stranger_cert, certs.stranger_key)))
    assert (without.acknowledged, stranger.acknowledged) == (0, 0)
    assert span_count(store) == 0
    signed = send_span(grpc_exporter(mtls_collector, certs.ca, (certs.client_cert, certs.client_key)))
    assert (signed.acknowledged, signed.failed) == (1, 0)
    assert span_count(store) == 1


def test_mutual_tls_refuses_at_the_handshake(mtls_collector: Collector, certs: Certs) -> None:
    """No request reaches the collector's handlers without a client certificate: the connection
    ends after the handshake, before any HTTP answer; with one, the same request is answered."""
    assert raw_get(mtls_collector.http_port, ssl_client(certs.ca)) == b""
    with_cert = ssl_client(certs.ca)
    with_cert.load_cert_chain(certs.client_cert, certs.client_key)
    assert raw_get(mtls_collector.http_port, with_cert).startswith(b"HTTP/1.1 200")


def raw_get(port: int, context: ssl.SSLContext) -> bytes:
    """GET /healthz over ``context``: the start of the answer, or b"" when the server ends the
    connection (TLS 1.3 finishes the client's handshake before the server checks its certificate;
    asyncio's TLS closes the connection, sometimes before the alert is sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return tls.recv(1024)
        except (ssl.SSLError, ConnectionResetError):
            return b""


def ssl_client(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def test_mutual_tls_is_on_top_of_tokens(store_file: str, tmp_path: Path, store: Engine, certs: Certs) -> None:
    """A sender's certificate does not stand in for its token: with tokens configured, both are needed."""
    token = "engine-token-0123456789abcdef"
    yaml = tls_yaml(certs, mutual=True) + f"tokens:\n  - name: engine\n    token: {token}\n"
    client = (certs.client_cert, certs.client_key)
    with running_collector(store_file, tmp_path, yaml) as collector:
        certificate_only = send_span(http_exporter(collector, certs.ca, client))
        assert (certificate_only.acknowledged, span_count(store)) == (0, 0)
        both = send_span(http_exporter(collector, certs.ca, client, token))
        assert (both.acknowledged, span_count(store)) == (1, 1)

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from simulator.otlp import CollectorUnavailable, Endpoint, preflight
from simulator.otlp import Protocol as OtlpProtocol
from tests.support.services import free_port


@pytest.mark.parametrize(
    ("url", "protocol", "base"),
    [
        (None, "http", "http://127.0.0.1:4318"),
        (None, "grpc", "http://127.0.0.1:4317"),
        ("localhost:9000", "http", "http://localhost:9000"),
        ("http://127.0.0.1:4318/v1/traces", "http", "http://127.0.0.1:4318"),
        ("https://collector.example", "http", "https://collector.example:4318"),
        ("http://[::1]:4317", "grpc", "http://[::1]:4317"),
    ],
)
def test_endpoints(url: str | None, protocol: OtlpProtocol, base: str) -> None:
    endpoint = Endpoint.parse(url, protocol, None)
    assert endpoint.base == base
    assert endpoint.traces_url == base + "/v1/traces"


@pytest.mark.parametrize("url", ["ftp://x:1", "http://127.0.0.1:4318/otlp", "http://:99", "http://h:port"])
def test_bad_endpoints(url: str) -> None:
    with pytest.raises(ValueError):
        Endpoint.parse(url)


def test_unreachable_collector_is_explained() -> None:
    port = free_port()
    with pytest.raises(
        CollectorUnavailable, match=rf"cannot reach the collector at http://127.0.0.1:{port}.*vitals serve"
    ):
        preflight(Endpoint.parse(f"http://127.0.0.1:{port}"), timeout_s=2)
    with pytest.raises(CollectorUnavailable, match="cannot reach the collector"):
        preflight(Endpoint.parse(f"127.0.0.1:{port}", "grpc"), timeout_s=2)


@pytest.fixture
def answering() -> Iterator[tuple[str, list[int], list[dict[str, str]]]]:
    """A real HTTP server on a free port that answers every POST with the next status code."""
    statuses: list[int] = []
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append(dict(self.headers))
            self.send_response(statuses.pop(0))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", statuses, seen
    server.shutdown()
    server.server_close()


def test_missing_token_wrong_port_and_success(answering: tuple[str, list[int], list[dict[str, str]]]) -> None:
    url, statuses, seen = answering
    statuses.extend([401, 401, 404, 200])
    with pytest.raises(
        CollectorUnavailable, match=r"requires authentication \(401\): pass its token with --token"
    ):
        preflight(Endpoint.parse(url))
    with pytest.raises(CollectorUnavailable, match="token given with --token was refused"):
        preflight(Endpoint.parse(url, "http", "s3cret"))
    assert seen[-1]["Authorization"] == "Bearer s3cret"
    with pytest.raises(CollectorUnavailable, match="not an OTLP/HTTP receiver"):
        preflight(Endpoint.parse(url))
    preflight(Endpoint.parse(url))
    assert seen[-1]["Content-Type"] == "application/x-protobuf"

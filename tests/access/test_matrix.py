"""The access-control matrix (issue 16): every endpoint of ``vitals serve`` against every kind of
credential, over real sockets, with tokens made through the real store.

The matrix below is the specification: one row per endpoint (every API operation, OTLP/HTTP and
OTLP/gRPC exports, the process's probes and /metrics, Slack interactivity), one column per
credential (none, a wrong token, a revoked one, an expired one, one token of each scope). A
served endpoint with no row fails the test, so a new endpoint cannot slip in unchecked; a row
whose "no credentials" cell is not 401 must be in ``OPEN`` with its reason, and an open
endpoint's answer must reveal none of the secrets or token names.

Tokens are created at fixed instants in the past (``T0``); the one that expires does so a second
later, so it is expired whatever the hour the test runs at.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)

import alerts.service
from access.tokens import SqlTokenStore
from api.service import ApiComponent
from collector.config import load_collector_config
from collector.grpc_receiver import METRICS_SERVICE, TRACE_SERVICE
from collector.service import Collector, CollectorThread, ServeOptions
from tests.collector.otlp import span, trace_request
from tests.support.sla_files import GL
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.settings import Settings

pytestmark = pytest.mark.e2e

T0 = 1_700_000_000.0
HASH_SECRET = "matrix-hash-secret-0123456789abcdef"
SIGNING_SECRET = "matrix-slack-signing-secret"

Outcome = Literal["allowed", "401", "403"]
A: Outcome = "allowed"
U: Outcome = "401"  # gRPC: UNAUTHENTICATED
F: Outcome = "403"  # gRPC: PERMISSION_DENIED

COLUMNS = ("none", "wrong", "revoked", "expired", "ingest", "read", "write", "admin")

#                    none wrong revoked expired ingest read write admin
READ = (U, U, U, U, F, A, A, A)
WRITE = (U, U, U, U, F, F, A, A)
ADMIN = (U, U, U, U, F, F, F, A)
#: The collector takes a token without the ingest scope as no sender's credential at all: 401,
#: so an export does not learn that the token is good for something else.
INGEST = (U, U, U, U, A, U, U, U)
OPEN_TO_ALL = (A, A, A, A, A, A, A, A)
#: Not bearer tokens: Slack signs its requests with the signing secret; no token opens it.
SIGNED_ONLY = (U, U, U, U, U, U, U, U)


@dataclass(frozen=True)
class Row:
    #: ``api`` (--api-port), ``http`` (the OTLP/HTTP port), ``grpc`` (the OTLP/gRPC port).
    port: Literal["api", "http", "grpc"]
    #: ``METHOD /path/{template}`` as served, or the gRPC ``Service/Method``.
    operation: str
    expected: tuple[Outcome, ...]
    #: The status an allowed request answers (its request is valid, or names nothing that exists).
    ok: int = 200
    #: The concrete path (templates filled) and JSON body, where they differ from ``operation``.
    path: str | None = None
    body: Any = None


SILENCE = {"matchers": ['sla="gl-posting-errors"'], "duration": "2h", "comment": "matrix"}
HISTORY = "/api/v1/slas/gl-posting-errors/history?from=2026-05-28T00:00:00Z&to=2026-05-28T12:00:00Z"

MATRIX: tuple[Row, ...] = (
    # The API (--api-port): read < write < admin; ingest reads nothing.
    Row("api", "GET /api/v1/openapi.json", OPEN_TO_ALL),
    Row("api", "GET /api/v1/slas", READ),
    Row("api", "GET /api/v1/slas/{name}", READ, path="/api/v1/slas/gl-posting-errors"),
    Row("api", "GET /api/v1/slas/{name}/history", READ, path=HISTORY),
    Row("api", "GET /api/v1/incidents", READ),
    Row("api", "GET /api/v1/incidents/{ref}", READ, 404, "/api/v1/incidents/no-such-incident"),
    Row("api", "POST /api/v1/incidents/{ref}/ack", WRITE, 404, "/api/v1/incidents/nope/ack", {}),
    Row("api", "GET /api/v1/alerts", READ),
    Row("api", "GET /api/v1/alerts/{ref}", READ, 404, "/api/v1/alerts/no-such-alert"),
    Row("api", "POST /api/v1/alerts/{ref}/ack", WRITE, 404, "/api/v1/alerts/nope/ack", {}),
    Row("api", "GET /api/v1/silences", READ),
    Row("api", "POST /api/v1/silences", WRITE, 201, body=SILENCE),
    Row("api", "DELETE /api/v1/silences/{silence_id}", WRITE, 404, "/api/v1/silences/999999"),
    Row("api", "GET /api/v1/outbox", READ),
    Row("api", "GET /api/v1/audit", ADMIN),
    Row("api", "GET /api/v1/config", ADMIN),
    Row("api", "GET /api/v1/exceptions", READ),
    Row("api", "GET /api/v1/exceptions/{group_id}", READ, 404, "/api/v1/exceptions/no-such-group"),
    Row(
        "api",
        "POST /api/v1/exceptions/{group_id}/assign",
        WRITE,
        404,
        "/api/v1/exceptions/nope/assign",
        {"owner": "m"},
    ),
    Row("api", "POST /api/v1/exceptions/{group_id}/replay", WRITE, 404, "/api/v1/exceptions/nope/replay", {}),
    Row(
        "api", "POST /api/v1/exceptions/{group_id}/resolve", WRITE, 404, "/api/v1/exceptions/nope/resolve", {}
    ),
    Row("api", "GET /api/v1/apis", READ),
    # The OTLP/HTTP port: exports, the process's probes and figures, Slack.
    Row("http", "POST /v1/traces", INGEST),
    Row("http", "POST /v1/metrics", INGEST),
    Row("http", "GET /healthz", OPEN_TO_ALL),
    Row("http", "GET /readyz", OPEN_TO_ALL),
    Row("http", "GET /metrics", READ),
    Row("http", "POST /slack/interactivity", SIGNED_ONLY),
    # The OTLP/gRPC port.
    Row("grpc", f"{TRACE_SERVICE}/Export", INGEST),
    Row("grpc", f"{METRICS_SERVICE}/Export", INGEST),
)

#: Endpoints that answer without a credential while tokens exist, and why that is safe.
OPEN = {
    "GET /api/v1/openapi.json": "the API's description, no data: a tool reads it before it holds a token",
    "GET /healthz": "liveness for an orchestrator's probe (which carries no token): 'ok' or "
    "'writer stopped', nothing else",
    "GET /readyz": "readiness for load balancers' probes (which carry no token): the components' "
    "status lines, queue depths, job leases and lags, no telemetry, source or token",
    "POST /slack/interactivity": "authenticated by Slack's request signature (the signing secret), "
    "not by tokens: an unsigned request is a 401 whatever token it carries",
}


@dataclass
class Served:
    collector: Collector
    api: ApiComponent
    secrets: dict[str, str | None]
    #: One client for every request (a client's set-up costs a tenth of a second).
    client: httpx.Client

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.collector.http_port}"


def _create_tokens(engine_url: str) -> dict[str, str | None]:
    engine = create_engine(engine_url)
    migrate(engine)
    store = SqlTokenStore(engine)
    secrets: dict[str, str | None] = {"none": None, "wrong": "vt_not-a-token-of-this-store"}
    secrets["revoked"] = store.create("m-revoked", frozenset({"admin"}), now=T0)[1]
    store.revoke("m-revoked", now=T0 + 1)
    secrets["expired"] = store.create("m-expired", frozenset({"admin"}), now=T0, expires_at=T0 + 1)[1]
    for scope in ("ingest", "read", "write", "admin"):
        secrets[scope] = store.create(f"m-{scope}", frozenset({scope}), now=T0)[1]
    engine.dispose()
    return secrets


def _config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    (directory / "slas").mkdir(parents=True)
    (directory / "slas" / "gl.yaml").write_text(GL)
    (directory / "collector.yaml").write_text(f"redaction:\n  hash_secret: {{value: {HASH_SECRET}}}\n")
    (directory / "alerts.yaml").write_text(
        "route:\n  receiver: console\nreceivers:\n  - name: console\n    console_configs: [{}]\n"
        f"slack:\n  signing_secret: {{value: {SIGNING_SECRET}}}\n"
    )
    return directory


@pytest.fixture
def served(sqlite_url: str, tmp_path: Path) -> Iterator[Served]:
    secrets = _create_tokens(sqlite_url)
    directory = _config_dir(tmp_path)
    api = ApiComponent("127.0.0.1", 0, shutdown_timeout=5)
    options = ServeOptions(http_port=0, grpc_port=0, components=(alerts.service, api), shutdown_timeout=10)
    thread = CollectorThread(
        Collector(Settings(sqlite_url, directory), load_collector_config(directory, {}), options)
    )
    collector = thread.start()
    try:
        with httpx.Client(timeout=30, trust_env=False) as client:
            yield Served(collector, api, secrets, client)
    finally:
        thread.stop()


def _headers(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"} if secret is not None else {}


def _gauge_request() -> bytes:
    point = NumberDataPoint(time_unix_nano=int(T0 * 1e9), as_double=1.0)
    metric = Metric(name="matrix.probe", gauge=Gauge(data_points=[point]))
    request = ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[metric])])]
    )
    return request.SerializeToString()


def _http_status(served: Served, row: Row, secret: str | None) -> tuple[int, bytes]:
    method, path = row.operation.split(" ", 1)
    base = served.api_url if row.port == "api" else served.http_url
    headers = _headers(secret)
    content: bytes | None = None
    if row.body is not None:
        content, headers["Content-Type"] = json.dumps(row.body).encode(), "application/json"
    elif path in ("/v1/traces", "/v1/metrics"):
        traces = trace_request(span("matrix")).SerializeToString()
        content = traces if path == "/v1/traces" else _gauge_request()
        headers["Content-Type"] = "application/x-protobuf"
    elif path == "/slack/interactivity":
        content, headers["Content-Type"] = b"payload=%7B%7D", "application/x-www-form-urlencoded"
    answer = served.client.request(method, base + (row.path or path), content=content, headers=headers)
    return answer.status_code, answer.content


GRPC_CODES = {grpc.StatusCode.UNAUTHENTICATED: U, grpc.StatusCode.PERMISSION_DENIED: F}


def _grpc_outcome(served: Served, row: Row, secret: str | None) -> str:
    body = (
        trace_request(span("matrix")).SerializeToString()
        if row.operation.startswith(TRACE_SERVICE)
        else _gauge_request()
    )
    metadata = (("authorization", f"Bearer {secret}"),) if secret is not None else ()
    with grpc.insecure_channel(f"127.0.0.1:{served.collector.grpc_port}") as channel:
        try:
            channel.unary_unary(f"/{row.operation}")(body, metadata=metadata, timeout=30)
        except grpc.RpcError as exc:
            return GRPC_CODES.get(exc.code(), str(exc.code()))
    return A


def _outcome(status: int, ok: int) -> str:
    if status == ok:
        return A
    return {401: U, 403: F}.get(status, str(status))


def test_the_matrix_is_complete_and_only_declared_endpoints_are_open() -> None:
    assert all(len(row.expected) == len(COLUMNS) for row in MATRIX)
    operations = [row.operation for row in MATRIX]
    assert len(operations) == len(set(operations)), "an endpoint has two rows"
    anonymous = {row.operation for row in MATRIX if row.expected[0] != U}
    assert anonymous == set(OPEN) - {"POST /slack/interactivity"}, (
        "an undeclared endpoint answers without a token"
    )
    assert set(OPEN) <= set(operations)
    # Credentials that are not (or no longer) valid never open anything an absent one does not.
    for row in MATRIX:
        assert row.expected[1] == row.expected[2] == row.expected[3] == row.expected[0], row.operation


def test_every_served_endpoint_has_a_row(served: Served) -> None:
    with httpx.Client(base_url=served.api_url, timeout=30, trust_env=False) as client:
        document = client.get("/api/v1/openapi.json", headers=_headers(served.secrets["read"])).json()
    api = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    api.add("GET /api/v1/openapi.json")
    http = {
        f"{route.method} {route.resource.canonical}"
        for route in served.collector.ctx.http_app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    grpc_methods = {
        name.lstrip("/")  # grpc keys a generic handler's methods by their full path
        for handler in served.collector.parts.grpc.handlers()
        for name in getattr(handler, "_method_handlers", {})
    }
    assert grpc_methods  # the enumeration itself works
    declared = {row.port: set() for row in MATRIX}  # type: dict[str, set[str]]
    for row in MATRIX:
        declared[row.port].add(row.operation)
    assert api == declared["api"], "API operations without a row (or rows without an operation)"
    assert http == declared["http"], "OTLP/HTTP port routes without a row (or rows without a route)"
    assert grpc_methods == declared["grpc"], "gRPC methods without a row (or rows without a method)"


def test_each_endpoint_answers_each_credential_as_the_matrix_says(served: Served) -> None:
    found: dict[tuple[str, str], str] = {}
    for row in MATRIX:
        for column, want in zip(COLUMNS, row.expected, strict=True):
            secret = served.secrets[column]
            if row.port == "grpc":
                got = _grpc_outcome(served, row, secret)
            else:
                got = _outcome(_http_status(served, row, secret)[0], row.ok)
            if got != want:
                found[(row.operation, column)] = f"{got} (matrix: {want})"
    assert not found, found


def test_open_endpoints_reveal_no_secret_and_no_token(served: Served) -> None:
    sensitive = [HASH_SECRET, SIGNING_SECRET, "m-ingest", "m-read", "m-write", "m-admin", "m-revoked"]
    sensitive += [s for s in served.secrets.values() if s is not None]
    for row in MATRIX:
        if row.operation not in OPEN or row.port == "grpc":
            continue
        status, body = _http_status(served, row, None)
        text = body.decode("utf-8", "replace")
        leaked = [s for s in sensitive if s in text]
        assert not leaked, (row.operation, status, leaked)


def test_a_signed_slack_request_is_let_in_without_a_token(served: Served) -> None:
    """The other side of ``SIGNED_ONLY``: Slack's signature, made with the signing secret."""
    body = b"payload=%7B%22type%22%3A%22view_closed%22%7D"
    timestamp = str(int(time.time()))  # the server checks the signature's age on its real clock
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }
    with httpx.Client(base_url=served.http_url, timeout=30, trust_env=False) as client:
        answer = client.post("/slack/interactivity", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"text": "nothing to do"}

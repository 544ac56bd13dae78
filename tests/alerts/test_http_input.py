"""The JSON API's alerting routes answer a 4xx with a message, never a 5xx, for what a client
sends wrong: 400 for a value that cannot be applied, 422 for one of the wrong type or range.

Out-of-range times and durations, wrong types in matchers and time intervals, ids and limits
beyond a 64-bit integer, and an ``Authorization`` header that is not UTF-8.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.alerts.test_http import CONFIG, Served, serving

pytestmark = pytest.mark.e2e


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "alerts.yaml").write_text(CONFIG)
    with serving(engine, tmp_path, {}) as running:
        yield running


GOOD: dict[str, Any] = {"matchers": ['sla="charge-lag"'], "created_by": "ivy", "comment": "vendor"}


def _silence(**fields: Any) -> bytes:
    return json.dumps({**GOOD, **fields}).encode()  # allows NaN / Infinity, as a client's JSON may


@pytest.mark.parametrize(
    "body",
    [
        _silence(ends_at=10**30),
        _silence(ends_at=10**400),
        _silence(ends_at=float("inf")),
        _silence(ends_at=float("nan")),
        _silence(starts_at=-(10**20), ends_at="2030-01-01T00:00:00Z"),
        _silence(duration="99999999999999999999d"),
        _silence(duration=1e308),
        _silence(duration=float("nan")),
        _silence(duration=[1]),
        _silence(duration="2h", matchers=[1, 2]),
        _silence(duration="2h", matchers=[{"sla": "x"}]),
        _silence(duration="2h", matchers=[None]),
        _silence(duration="2h", time_intervals="weekdays"),
        _silence(duration="2h", time_intervals=[5]),
        _silence(duration="2h", created_by=["ivy"]),
        _silence(duration="2h", expire_on_resolve="maybe"),
    ],
    ids=[
        "ends-1e30",
        "ends-10e400",
        "ends-inf",
        "ends-nan",
        "starts-negative",
        "duration-huge-text",
        "duration-1e308",
        "duration-nan",
        "duration-list",
        "matchers-ints",
        "matchers-objects",
        "matchers-null",
        "intervals-text",
        "intervals-ints",
        "author-list",
        "expire-text",
    ],
)
def test_bad_silences_are_4xx_with_a_message(served: Served, body: bytes) -> None:
    status, answer = served.server.request("POST", "/api/v1/silences", body)
    assert status in (400, 422), answer
    assert isinstance(answer["error"], str) and answer["error"]
    assert served.server.request("GET", "/api/v1/silences")[1]["silences"] == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("DELETE", f"/api/v1/silences/{2**63}", 422),
        ("DELETE", f"/api/v1/silences/{'9' * 5000}", 422),
        ("DELETE", "/api/v1/silences/-1", 422),
        ("DELETE", "/api/v1/silences/0", 422),
        ("DELETE", "/api/v1/silences/12", 404),
        # A reference is an id or a fingerprint: a number too large for an id is no alert.
        ("GET", f"/api/v1/alerts/{2**64}", 404),
        ("GET", f"/api/v1/alerts/{'9' * 5000}", 422),  # longer than any reference
        ("GET", "/api/v1/alerts/%00", 400),
        ("GET", "/api/v1/alerts?limit=-1", 422),
        ("GET", "/api/v1/alerts?limit=many", 422),
        ("GET", f"/api/v1/alerts?limit={10**30}", 422),
        ("GET", "/api/v1/alerts?state=burning", 400),
        ("GET", "/api/v1/audit?limit=-5", 422),
    ],
)
def test_out_of_range_ids_and_limits_are_answered(
    served: Served, method: str, path: str, status: int
) -> None:
    got, answer = served.server.request(method, path)
    assert got == status, answer
    if status >= 400:
        assert answer["error"]


def test_an_acknowledgement_by_a_non_string_is_422(served: Served) -> None:
    status, answer = served.server.request("POST", "/api/v1/alerts/x/ack", b'{"by": ["ivy"]}')
    assert status == 422 and answer["error"].startswith("by: ")


def _raw_status(port: int, authorization: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"GET /api/v1/alerts HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: "
            + authorization
            + b"\r\n\r\n"
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def test_the_token_check_survives_any_header(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(CONFIG)
    with serving(engine, tmp_path, {}) as running:
        token = running.api.token("reader", "read")
        port = running.api.server.port
        assert _raw_status(port, b"Bearer \xff\xfe\xfd") == 401
        assert _raw_status(port, b"\xc3\x28 " + token.encode()) == 401
        assert _raw_status(port, b"Bearer " + token.encode() + b"\x7f") == 401
        for scheme in (b"Bearer", b"bearer", b"BEARER"):
            assert _raw_status(port, scheme + b" " + token.encode()) == 200

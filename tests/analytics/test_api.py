"""GET /api/v1/apis over the real API server and store: the rollups' figures and covering SLAs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from analytics.rollup import refresh
from tests.api.support import serve_api
from tests.support.factories import insert_spans, span_row

NS = 1_000_000_000
T0 = 1_780_000_000.0

SLAS = """\
slas:
  - id: eligibility-latency
    title: Eligibility answers within 2 s
    domain: revenue-cycle
    owner: rcm
    priority: P2
    objective: 99%
    window: 1d
    sli:
      latency:
        select: {service: payer-gateway, attributes: {http.route: /eligibility/270}}
        under: 2s
"""


def test_apis_endpoint(sqlite_engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "slas").mkdir()
    (tmp_path / "slas" / "eligibility.yaml").write_text(SLAS)
    attrs = {"http.route": "/eligibility/270", "http.request.method": "POST", "client.id": "billing"}
    rows = [
        span_row(
            service="payer-gateway",
            kind="server",
            start_s=T0 + i,
            duration_s=0.2,
            attributes={**attrs, "http.response.status_code": 502 if i % 10 == 0 else 200},
            status="error" if i % 10 == 0 else "unset",
        )
        for i in range(100)
    ]
    insert_spans(sqlite_engine, rows)
    refresh(sqlite_engine, clock=lambda: int((T0 + 3600) * NS), horizon_s=0)
    with serve_api(sqlite_engine, tmp_path, lambda: T0 + 600) as api:
        token = api.token("reader", "read")
        with api.client(token) as client:
            answer = client.get("/api/v1/apis", params={"from": "2026-05-28T20:00:00Z"})
            default = client.get("/api/v1/apis")
            consumers = client.get("/api/v1/apis", params={"by": "consumer"})
            bad = client.get(
                "/api/v1/apis", params={"from": "2026-05-29T20:00:00Z", "to": "2026-05-28T20:00:00Z"}
            )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["precision_s"] == 60
    (one,) = body["apis"]
    assert (one["service"], one["route"], one["method"], one["consumer"]) == (
        "payer-gateway",
        "/eligibility/270",
        "POST",
        "*",
    )
    assert one["requests"] == 100
    assert one["error_rate_5xx"] == 0.1
    assert one["slas"] == ["eligibility-latency"]
    assert one["top_errors"][0]["signature"] == "502"
    assert 0.19 < one["p50_s"] < 0.21
    # The default range is the hour before now (T0 + 600 s): every span is in it.
    assert default.status_code == 200 and default.json()["apis"][0]["requests"] == 100
    assert [c["consumer"] for c in consumers.json()["apis"]] == ["billing"]
    assert bad.status_code == 400

"""The dashboard's APIs page over a real store: the table, its CSV, the latency figure, top errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from analytics.rollup import refresh
from dashboards.rollup import refresh as refresh_dashboard
from tests.analytics.test_api import SLAS
from tests.dashboards import estate
from tests.dashboards.conftest import no_exceptions, open_page, texts
from tests.support.factories import insert_spans, span_row

NS = 1_000_000_000


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("VITALS_DASHBOARD_ROLLUPS", "off")
    return monkeypatch


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M")


def test_apis_page(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path, app_env: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    (config / "slas").mkdir(parents=True)
    (config / "slas" / "eligibility.yaml").write_text(SLAS)
    start = estate.NOW_S - 1800
    rows = [
        span_row(
            service="payer-gateway",
            kind="server",
            start_s=start + i * 10,
            duration_s=0.3,
            status="error" if i % 20 == 0 else "unset",
            attributes={
                "http.route": "/eligibility/270",
                "http.request.method": "POST",
                "http.response.status_code": 503 if i % 20 == 0 else 200,
                "client.id": "patient-access" if i % 2 else "billing",
            },
        )
        for i in range(120)
    ]
    for row in rows:
        if row["status_code"] == "error":
            row["status_message"] = "payer endpoint unavailable: upstream timed out after 30000 ms"
    insert_spans(sqlite_engine, rows)
    now_ns = int(estate.NOW_S * NS)
    refresh(sqlite_engine, clock=lambda: now_ns, horizon_s=0)
    refresh_dashboard(sqlite_engine, clock=lambda: now_ns, horizon_s=0)
    params = {
        "range": "custom",
        "from": _iso(estate.NOW_S - 3600),
        "to": _iso(estate.NOW_S + 60),
        "tz": "UTC",
    }
    at = open_page(app_env, sqlite_url, config, "apis", params)
    no_exceptions(at)
    block: Any = at.get_by_key("table-apis")
    frame = block.dataframe[0].value
    (row,) = frame.to_dict("records")
    assert (row["service"], row["method"], row["route"], row["requests"]) == (
        "payer-gateway",
        "POST",
        "/eligibility/270",
        120,
    )
    assert row["5xx"] == pytest.approx(6 / 120)
    assert row["SLAs"] == "eligibility-latency"
    assert 0.28 < row["p50 (s)"] < 0.32
    errors: Any = at.get_by_key("table-api-errors")
    assert errors.dataframe[0].value["signature"].tolist() == [
        "503 payer endpoint unavailable: upstream timed out after # ms"
    ]
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    assert any("Latency" in str(s["layout"].get("title")) for s in specs)


def _two_services(engine: Engine) -> None:
    """payer-gateway: 30 calls (20 billing, 10 patient-access); fhir-server: 12 (portal)."""
    start = estate.NOW_S - 1800
    route = {"http.route": "/eligibility/270", "http.request.method": "POST"}
    fhir = {"http.route": "/fhir/r4/Patient/{id}", "http.request.method": "GET", "client.id": "portal"}
    rows = [
        span_row(
            service="payer-gateway",
            kind="server",
            start_s=start + i * 10,
            attributes={**route, "client.id": "billing" if i < 20 else "patient-access"},
        )
        for i in range(30)
    ] + [
        span_row(service="fhir-server", kind="server", start_s=start + i * 10, attributes=fhir)
        for i in range(12)
    ]
    insert_spans(engine, rows)
    now_ns = int(estate.NOW_S * NS)
    refresh(engine, clock=lambda: now_ns, horizon_s=0)
    refresh_dashboard(engine, clock=lambda: now_ns, horizon_s=0)


def _range() -> dict[str, str]:
    return {"range": "custom", "from": _iso(estate.NOW_S - 3600), "to": _iso(estate.NOW_S + 60), "tz": "UTC"}


def test_a_link_with_rows_and_service_opens_that_view(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path, app_env: pytest.MonkeyPatch
) -> None:
    _two_services(sqlite_engine)
    params = _range() | {"rows": "per consumer", "service": "payer-gateway"}
    at = open_page(app_env, sqlite_url, tmp_path, "apis", params)
    no_exceptions(at)
    assert at.selectbox(key="service").value == "payer-gateway"
    assert at.button_group(key="rows").value == "per consumer"
    frame = at.get_by_key("table-apis").dataframe[0].value
    assert "service" not in frame.columns
    assert dict(zip(frame["consumer"], frame["requests"], strict=True)) == {
        "billing": 20,
        "patient-access": 10,
    }
    # Opened without them, the page shows every service's APIs, one row each.
    at = open_page(app_env, sqlite_url, tmp_path, "apis", _range())
    no_exceptions(at)
    assert at.selectbox(key="service").value == "any"
    frame = at.get_by_key("table-apis").dataframe[0].value
    assert sorted(frame["service"]) == ["fhir-server", "payer-gateway"]
    assert "consumer" not in frame.columns


def test_a_linked_service_without_calls_stays_chosen(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path, app_env: pytest.MonkeyPatch
) -> None:
    _two_services(sqlite_engine)
    (tmp_path / "analytics.yaml").write_text("consumer_attributes: [app.client_id, client.id]\n")
    params = _range() | {"rows": "per API and consumer", "service": "scheduling-api"}
    at = open_page(app_env, sqlite_url, tmp_path, "apis", params)
    no_exceptions(at)
    assert at.selectbox(key="service").value == "scheduling-api"
    shown = texts(at)
    assert "No API calls for scheduling-api" in shown
    assert "consumers from app.client_id, client.id" in shown

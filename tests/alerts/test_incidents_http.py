"""``GET /api/v1/incidents`` and ``POST /api/v1/incidents/{ref}/ack`` on a real server."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import Engine

from tests.alerts.test_http import CONFIG, SECRET, fire, serving


def test_incidents_are_listed_and_acknowledged_by_ref(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(CONFIG)
    with serving(engine, tmp_path, {"VITALS_SLACK_SIGNING_SECRET": SECRET}) as served:
        server = served.server
        fp = fire(engine, served)
        status, listed = server.request("GET", "/api/v1/incidents")
        assert status == 200
        (incident,) = listed["incidents"]
        assert incident["state"] == "firing" and incident["grouped"]
        assert [a["fingerprint"] for a in incident["alerts"]] == [fp]
        ref = incident["ref"]
        status, missing = server.request("POST", f"/api/v1/incidents/{ref}/ack", b"{}")
        assert status == 400 and "say who" in missing["error"]
        assert server.request("POST", "/api/v1/incidents/nope/ack", b'{"by": "ivy"}')[0] == 404
        status, acked = server.request(
            "POST", f"/api/v1/incidents/{ref}/ack", json.dumps({"by": "ivy", "comment": "eta 10m"}).encode()
        )
        assert status == 200
        assert acked["incident"]["state"] == "acknowledged" and acked["incident"]["acknowledged_by"] == "ivy"
        status, audit = server.request("GET", "/api/v1/alerting/audit")
        assert any(a["action"].startswith("acknowledge") and a["source"] == "api" for a in audit["audit"])
        status, listed = server.request("GET", "/api/v1/incidents?resolved=true")
        assert [i["state"] for i in listed["incidents"]] == ["acknowledged"]

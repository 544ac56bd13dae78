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
        status, one = server.request("GET", f"/api/v1/incidents/{ref}")
        assert status == 200 and one["incident"]["ref"] == ref
        assert server.request("GET", "/api/v1/incidents/nope")[0] == 404
        assert server.request("POST", "/api/v1/incidents/nope/ack", b"{}")[0] == 404
        secret = served.api.token("ivy", "write")
        status, acked = server.request(
            "POST",
            f"/api/v1/incidents/{ref}/ack",
            json.dumps({"comment": "eta 10m", "by": "not read with a token"}).encode(),
            {"Authorization": f"Bearer {secret}"},
        )
        assert status == 200
        assert acked["incident"]["state"] == "acknowledged" and acked["incident"]["acknowledged_by"] == "ivy"
        status, _ = server.request(
            "POST", f"/api/v1/incidents/{ref}/ack", b"{}", {"Authorization": f"Bearer {secret}"}
        )
        assert status == 200  # acknowledging an acknowledged incident again is no error
        admin = served.api.token("auditor", "admin")
        status, audit = server.request("GET", "/api/v1/audit", headers={"Authorization": f"Bearer {admin}"})
        acks = [a for a in audit["audit"] if a["action"] == "acknowledge" and a["actor"] == "ivy"]
        assert {(a["source"], a["remote"]) for a in acks} == {("api", "127.0.0.1")}
        assert {a["target"] for a in acks} >= {f"incident:{ref}", f"alert:{fp}"}
        status, listed = server.request(
            "GET", "/api/v1/incidents?resolved=true", headers={"Authorization": f"Bearer {secret}"}
        )
        assert [i["state"] for i in listed["incidents"]] == ["acknowledged"]

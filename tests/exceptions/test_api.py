"""``/api/v1/exceptions`` on uvicorn over SQLite: reads with ``read``, acts with ``write``, audited
with the token's name and the caller's address; replay through the stand-in webhook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exceptions.standin import StandIn
from tests.api.support import ServedApi, serve_api
from tests.exceptions.support import ALERTS_YAML, T0, failed_charge
from tests.support.factories import insert_spans
from vitals.kernel.db import create_engine, migrate

pytestmark = pytest.mark.e2e


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServedApi, StandIn]]:
    standin = StandIn()
    url = standin.start()
    (tmp_path / "alerts.yaml").write_text(ALERTS_YAML)
    (tmp_path / "exceptions.yaml").write_text(
        "interfaces:\n"
        "  - name: charges-to-erp\n"
        "    stage: charge.post\n"
        "    labels: {owner: finance-systems}\n"
        f"    target: {{kind: webhook, url: '{url}/webhook'}}\n"
    )
    engine = create_engine(f"sqlite:///{tmp_path / 'vitals.db'}")
    migrate(engine)
    insert_spans(engine, [failed_charge(i, at=T0 + i) for i in range(3)])
    try:
        with serve_api(engine, tmp_path, lambda: T0 + 3600, sql=True) as api:
            yield api, standin
    finally:
        standin.stop()
        engine.dispose()


def test_list_show_assign_replay_resolve(served: tuple[ServedApi, StandIn]) -> None:
    api, standin = served
    reader, writer = api.token("reader", "read"), api.token("ops-bot", "write")
    with api.client(reader) as client:
        listed = client.get("/api/v1/exceptions").json()["groups"]
        assert [(g["count"], g["amount"], g["team"], g["state"]) for g in listed] == [
            (3, 300.0, "finance-systems", "new")
        ]
        gid = listed[0]["id"]
        assert client.get(f"/api/v1/exceptions/{gid}").json()["attempts"] == []
        assert client.get("/api/v1/exceptions/nope").status_code == 404
        assert client.get("/api/v1/exceptions", params={"state": "closed"}).status_code == 400
        refused = client.post(f"/api/v1/exceptions/{gid}/replay", json={})
        assert refused.status_code == 403 and "lacks the write scope" in refused.json()["error"]
    assert standin.received == []
    with api.client(writer) as client:
        assigned = client.post(f"/api/v1/exceptions/{gid}/assign", json={"owner": "bob"}).json()["group"]
        assert (assigned["state"], assigned["owner"], assigned["state_by"]) == ("assigned", "bob", "ops-bot")
        answer = client.post(f"/api/v1/exceptions/{gid}/replay", json={"limit": 2})
        assert answer.status_code == 200, answer.text
        replayed = answer.json()
        assert [a["status"] for a in replayed["attempts"]] == ["sent", "sent"]
        assert replayed["group"]["state"] == "replaying" and replayed["group"]["replayed"] == 2
        bad = client.post(f"/api/v1/exceptions/{gid}/assign", json={"owner": ""})
        assert bad.status_code == 422
        resolved = client.post(f"/api/v1/exceptions/{gid}/resolve", json={"comment": "done"}).json()["group"]
        assert resolved["state"] == "resolved"
        again = client.post(f"/api/v1/exceptions/{gid}/replay", json={})
        assert again.status_code == 400 and "is resolved" in again.json()["error"]
    assert len(standin.received) == 2
    assert {r.body["trace_id"] for r in standin.received} == {f"{0:032x}", f"{1:032x}"}
    entries = api.audit.query(actor="ops-bot")
    assert [e.action for e in entries] == ["exception.resolve", "exception.replay", "exception.assign"]
    assert {e.remote for e in entries} == {"127.0.0.1"} and {e.source for e in entries} == {"api"}

"""install(ctx) on a real aiohttp server: Slack interactivity (signed/unsigned) and the JSON API."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import Engine

from alerts import service
from alerts.engine import route_groups
from alerts.sqlstore import SqlStore
from tests.alerts.factories import evaluation as make_evaluation
from tests.alerts.factories import insert_evaluations
from tests.support.fake_slack import interactive_body
from tests.support.services import free_port
from vitals.kernel.runtime import ServiceContext
from vitals.kernel.settings import Settings

pytestmark = pytest.mark.e2e

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "api-token-for-tests"
CONFIG = """
route:
  receiver: console
  group_by: [sla, slice]
  group_wait: 0s
receivers:
  - name: console
    console_configs: [{}]
alerting:
  objective_alerts: false
"""


class Server:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner = web.AppRunner(app, access_log=None)

    def __enter__(self) -> Server:
        self.thread.start()

        async def start() -> None:
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def served(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Server, ServiceContext]]:
    monkeypatch.setenv("VITALS_SLACK_SIGNING_SECRET", SECRET)
    (tmp_path / "alerts.yaml").write_text(CONFIG)
    ctx = ServiceContext(
        settings=Settings(db_url=str(engine.url), config_dir=tmp_path),
        engine=engine,
        scheduler=BackgroundScheduler(),
        http_app=web.Application(),
        registry=CollectorRegistry(),
        write_metric_points=lambda rows: None,
    )
    service.install(ctx)
    with Server(ctx.http_app) as server:
        yield server, ctx


def fire(engine: Engine, ctx: ServiceContext) -> str:
    insert_evaluations(engine, [make_evaluation(at=time.time())])
    ctx.scheduler.get_job("alerts.cycle").func()  # one evaluate + plan, as the scheduler would
    (alert,) = SqlStore(engine).open_alerts()
    return alert.fingerprint


def signed(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def test_install_adds_jobs_routes_and_status(served: tuple[Server, ServiceContext]) -> None:
    _, ctx = served
    assert {j.id for j in ctx.scheduler.get_jobs()} == {"alerts.cycle", "alerts.deliver"}
    assert "receivers (console)" in ctx.status["alerts"]
    paths = {r.resource.canonical for r in ctx.http_app.router.routes() if r.resource is not None}
    assert {"/api/v1/alerts", "/api/v1/silences", "/slack/interactivity"} <= paths


def test_signed_button_click_acknowledges(served: tuple[Server, ServiceContext], engine: Engine) -> None:
    server, ctx = served
    fp = fire(engine, ctx)
    body = interactive_body(f"vitals_ack_alert:{fp}", f"alert:{fp}")
    status, answer = server.request("POST", "/slack/interactivity", body, signed(body))
    assert status == 200 and answer["text"] == f"acknowledged alert {fp}"
    alert = SqlStore(engine).get_alert(fp)
    assert (
        alert is not None
        and alert.state == "acknowledged"
        and alert.acknowledged_by == "alice (slack:U0ALICE)"
    )
    (entry,) = [e for e in SqlStore(engine).audit_entries(10) if e.action == "acknowledge"]
    assert entry.source == "slack" and entry.actor == "alice (slack:U0ALICE)"


def test_group_buttons_acknowledge_all_and_silence(
    served: tuple[Server, ServiceContext], engine: Engine
) -> None:
    server, ctx = served
    fp = fire(engine, ctx)
    store = SqlStore(engine)
    (ref,) = route_groups(
        service.AlertsService(engine, ctx.settings.config_dir).config.current, store.open_alerts()
    )
    body = interactive_body("vitals_silence_group", f"group:{ref}", "U0BOB", "bob")
    status, answer = server.request("POST", "/slack/interactivity", body, signed(body))
    assert status == 200 and answer["text"].startswith("created silence(s)")
    (silence,) = store.silences(time.time())
    assert [str(m) for m in silence.matchers] == ['sla="gl-posting-errors"'] and silence.expire_on_resolve
    assert 7190 <= silence.ends_at - silence.starts_at <= 7210 and silence.created_by == "bob (slack:U0BOB)"
    ctx.scheduler.get_job("alerts.cycle").func()
    alert = store.get_alert(fp)
    assert alert is not None and alert.state == "suppressed"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Slack-Request-Timestamp"),
        ({"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": "v0=" + "0" * 64}, "does not match"),
        ("stale", "refused as a replay"),
        ("other-secret", "does not match"),
    ],
)
def test_unsigned_forged_or_stale_requests_are_refused(
    served: tuple[Server, ServiceContext], engine: Engine, headers: Any, reason: str
) -> None:
    server, ctx = served
    fp = fire(engine, ctx)
    body = interactive_body(f"vitals_ack_alert:{fp}", f"alert:{fp}")
    if headers == "stale":
        headers = signed(body, int(time.time()) - 301)
    elif headers == "other-secret":
        ts = str(int(time.time()))
        headers = {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier("not-the-secret").generate_signature(
                timestamp=ts, body=body
            ),
        }
    else:
        headers = {k: v.replace("{now}", str(int(time.time()))) for k, v in headers.items()}
    status, answer = server.request("POST", "/slack/interactivity", body, headers)
    assert status == 401 and reason in answer["error"]
    alert = SqlStore(engine).get_alert(fp)
    assert alert is not None and alert.state == "firing"  # nothing happened
    assert SqlStore(engine).audit_entries(10)[0].action == "config.load"


def test_tampered_body_is_refused(served: tuple[Server, ServiceContext], engine: Engine) -> None:
    server, ctx = served
    fp = fire(engine, ctx)
    body = interactive_body(f"vitals_ack_alert:{fp}", f"alert:{fp}")
    headers = signed(body)
    tampered = body.replace(b"alice", b"mallory")
    status, _ = server.request("POST", "/slack/interactivity", tampered, headers)
    assert status == 401


def test_json_api(
    served: tuple[Server, ServiceContext], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ctx = served
    fp = fire(engine, ctx)
    status, listed = server.request("GET", "/api/v1/alerts")
    assert status == 200 and [a["fingerprint"] for a in listed["alerts"]] == [fp]
    assert listed["alerts"][0]["state"] == "firing" and listed["alerts"][0]["priority"] == "P1"
    status, missing = server.request(
        "POST", f"/api/v1/alerts/{fp}/ack", b"{}", {"Content-Type": "application/json"}
    )
    assert status == 400 and "say who" in missing["error"]
    status, acked = server.request(
        "POST", f"/api/v1/alerts/{fp}/ack", json.dumps({"by": "ivy", "comment": "eta 10m"}).encode()
    )
    assert status == 200 and acked["alert"]["acknowledged_by"] == "ivy"
    assert server.request("POST", "/api/v1/alerts/nope/ack", b'{"by": "ivy"}')[0] == 404
    status, detail = server.request("GET", f"/api/v1/alerts/{fp}")
    assert status == 200 and [h["kind"] for h in detail["history"]] == ["acknowledged", "fired"]

    status, created = server.request(
        "POST",
        "/api/v1/silences",
        json.dumps(
            {"matchers": ['sla="charge-lag"'], "duration": "2h", "created_by": "ivy", "comment": "vendor"}
        ).encode(),
    )
    assert status == 201
    bad = json.dumps(
        {"matchers": ['sla=~".*"'], "duration": "2h", "created_by": "ivy", "comment": "all"}
    ).encode()
    status, refused = server.request("POST", "/api/v1/silences", bad)
    assert status == 400 and "empty string" in refused["error"]
    status, silences = server.request("GET", "/api/v1/silences")
    assert [s["id"] for s in silences["silences"]] == [created["id"]]
    status, expired = server.request("DELETE", f"/api/v1/silences/{created['id']}?by=ivy")
    assert status == 200 and expired["silence"]["status"] == "expired"
    status, audit = server.request("GET", "/api/v1/alerting/audit")
    assert [a["action"] for a in audit["audit"]][:3] == ["silence.expire", "silence.create", "acknowledge"]
    status, outbox = server.request("GET", "/api/v1/alerting/outbox")
    assert status == 200 and outbox["outbox"] == {"pending": 1}  # the first notification (not delivered here)

    monkeypatch.setenv("VITALS_ALERTS_API_TOKEN", TOKEN)
    assert server.request("GET", "/api/v1/alerts")[0] == 401
    assert server.request("GET", "/api/v1/alerts", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert server.request("GET", "/api/v1/alerts", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200


def test_reload_is_audited_and_a_broken_file_keeps_the_running_config(
    served: tuple[Server, ServiceContext], engine: Engine
) -> None:
    server, ctx = served
    path = ctx.settings.config_dir / "alerts.yaml"
    path.write_text(CONFIG.replace("group_by: [sla, slice]", "group_by: [sla]"))
    status, answer = server.request("POST", "/api/v1/alerting/reload?by=judy")
    assert status == 200 and answer["applied"] and answer["message"].startswith("reloaded")
    path.write_text("route:\n  receiver: nobody\nreceivers: [{name: console}]\n")
    status, answer = server.request("POST", "/api/v1/alerting/reload?by=judy")
    assert status == 400 and "alerts.yaml:2: route.receiver" in answer["message"]
    audit = SqlStore(engine).audit_entries(10)
    assert [(a.action, a.actor) for a in audit[:2]] == [
        ("config.reload_failed", "judy"),
        ("config.reload", "judy"),
    ]
    assert audit[0].detail["errors"][0].endswith("receiver 'nobody' is not defined under receivers")

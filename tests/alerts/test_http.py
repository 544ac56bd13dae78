"""Alerting over HTTP for real: Slack interactivity (signed/unsigned) on the aiohttp app, and the
alerting part of the JSON API (``api``, on uvicorn) over the same store and alerts config.

The servers' clock is fixed (T0), so signatures and their 5-minute window never depend on the
wall clock; secrets come from the environment mapping each test passes.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from aiohttp import web
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import Engine

from alerts import service
from alerts.applied_actions import IN_PROGRESS
from alerts.engine import route_groups
from alerts.http import AlertsHttp
from alerts.sqlstore import SqlStore
from tests.alerts.factories import T0, insert_evaluations
from tests.alerts.factories import evaluation as make_evaluation
from tests.alerts.harness import FakeClock
from tests.api.support import ServedApi, serve_api
from tests.support.fake_slack import interactive_body
from tests.support.services import free_port
from vitals.kernel.runtime import ServiceContext
from vitals.kernel.settings import Settings

pytestmark = pytest.mark.e2e

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
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


@dataclass
class Both:
    """Requests to ``/api/`` go to the API server, the others to the aiohttp app (Slack)."""

    slack: Server
    api: ServedApi

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        target = self.api if path.startswith("/api/") else self.slack
        return target.request(method, path, body, headers)


@contextmanager
def serving(engine: Engine, config_dir: Path, environ: dict[str, str]) -> Iterator[Served]:
    """One AlertsService's Slack route and the API over its store and config; secrets from ``environ``."""
    clock = FakeClock(T0)
    alerts = service.AlertsService(engine, config_dir, clock=clock, environ=environ)
    app = web.Application()
    AlertsHttp(alerts.store, alerts.config, clock).register(app)
    with (
        Server(app) as server,
        serve_api(engine, config_dir, clock, sql=True, alerts_config=alerts.config) as api,
    ):
        yield Served(Both(server, api), alerts, clock, api)


@dataclass
class Served:
    server: Both
    alerts: service.AlertsService
    clock: FakeClock
    api: ServedApi


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "alerts.yaml").write_text(CONFIG)
    with serving(engine, tmp_path, {"VITALS_SLACK_SIGNING_SECRET": SECRET}) as running:
        yield running


def fire(engine: Engine, served: Served) -> str:
    insert_evaluations(engine, [make_evaluation(at=served.clock.now)])
    served.alerts.cycle()  # one evaluate + plan, as the scheduler would
    (alert,) = SqlStore(engine).open_alerts()
    return alert.fingerprint


def signed(body: bytes, timestamp: float = T0, secret: str = SECRET) -> dict[str, str]:
    """The headers Slack sends, signed the real way (slack_sdk)."""
    ts = str(int(timestamp))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def test_install_adds_jobs_routes_and_status(engine: Engine, tmp_path: Path) -> None:
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
    assert {j.id for j in ctx.scheduler.get_jobs()} == {
        "alerts.cycle",
        "alerts.deliver",
        "alerts.guarantees",
        "alerts.lease",  # the heartbeat of the cycle's lease (vitals.kernel.lease.Keeper)
        "alerts.retention",  # finished rows deleted after their age (alerts.retention)
    }
    assert ctx.status["alerts.retention"].startswith("deletes resolved alerts")
    assert "receivers (console)" in ctx.status["alerts"]
    paths = {r.resource.canonical for r in ctx.http_app.router.routes() if r.resource is not None}
    assert paths == {"/slack/interactivity"}  # the JSON API is the api package's, on its own port


def test_signed_button_click_acknowledges(served: Served, engine: Engine) -> None:
    fp = fire(engine, served)
    body = interactive_body(f"vitals_ack_alert:{fp}", f"alert:{fp}")
    served.clock.advance(299)  # Slack's request arrives within its 5 minutes
    status, answer = served.server.request("POST", "/slack/interactivity", body, signed(body))
    assert status == 200 and answer["text"] == f"acknowledged alert {fp}"
    alert = SqlStore(engine).get_alert(fp)
    assert (
        alert is not None
        and alert.state == "acknowledged"
        and alert.acknowledged_by == "alice (slack:U0ALICE)"
    )
    (entry,) = [e for e in SqlStore(engine).audit_entries(10) if e.action == "acknowledge"]
    assert entry.source == "slack" and entry.actor == "alice (slack:U0ALICE)" and entry.at == T0 + 299


def test_group_buttons_acknowledge_all_and_silence(served: Served, engine: Engine) -> None:
    fp = fire(engine, served)
    store = SqlStore(engine)
    (ref,) = route_groups(served.alerts.config.current, store.open_alerts())
    body = interactive_body("vitals_silence_group", f"group:{ref}", "U0BOB", "bob")
    status, answer = served.server.request("POST", "/slack/interactivity", body, signed(body))
    assert status == 200 and answer["text"].startswith("created silence(s)")
    (silence,) = store.silences(T0)
    # the group of the SLA as a whole: no slice label, so only alerts without one
    assert [str(m) for m in silence.matchers] == ['sla="gl-posting-errors"', 'slice=""']
    assert silence.expire_on_resolve
    assert (
        silence.starts_at == T0 and silence.ends_at == T0 + 7200 and silence.created_by == "bob (slack:U0BOB)"
    )
    served.alerts.cycle()
    alert = store.get_alert(fp)
    assert alert is not None and alert.state == "suppressed"


def test_silencing_an_sla_wide_message_leaves_the_slices_notifying(served: Served, engine: Engine) -> None:
    """Issue #13: "Silence 2h" on the SLA's own message silenced every slice of the SLA."""
    store = SqlStore(engine)

    def sliced(facility: str) -> Any:
        return make_evaluation(
            at=served.clock.now, slice=f"hc.facility={facility}", labels={"hc.facility": facility}
        )

    insert_evaluations(engine, [make_evaluation(at=served.clock.now), sliced("north-campus")])
    served.alerts.cycle()
    routed = route_groups(served.alerts.config.current, store.open_alerts())
    by_slice = {members[0].slice: ref for ref, (_r, _k, _l, members) in routed.items()}
    assert set(by_slice) == {"", "hc.facility=north-campus"}
    body = interactive_body("vitals_silence_group", f"group:{by_slice['']}", "U0BOB", "bob")
    status, answer = served.server.request("POST", "/slack/interactivity", body, signed(body))
    assert status == 200 and answer["text"] == "created silence(s) 1"

    served.clock.advance(60)
    insert_evaluations(
        engine, [make_evaluation(at=served.clock.now), sliced("north-campus"), sliced("south-campus")]
    )
    served.alerts.cycle()
    states = {a.slice: a.state for a in store.open_alerts()}
    assert states == {
        "": "suppressed",
        "hc.facility=north-campus": "firing",
        "hc.facility=south-campus": "firing",  # a slice that started after the silence
    }
    routed = route_groups(served.alerts.config.current, store.open_alerts())
    south = next(ref for ref, (_r, _k, _l, m) in routed.items() if m[0].slice == "hc.facility=south-campus")
    posts = [r for r in store.outbox_rows(None, 100) if r.group_ref == south and r.action == "post"]
    assert len(posts) == 1 and posts[0].notification.kind == "firing"  # the other slice still notifies
    (audit,) = [e for e in store.audit_entries(20) if e.action == "silence.create"]
    assert audit.detail["ends_at"] == "2026-05-28T22:26:40.000Z"  # a time, not epoch seconds


def click(action_id: str, value: str, action_ts: str, trigger_id: str, user: str = "U0BOB") -> bytes:
    """A button click's form body with its own ``action_ts`` and ``trigger_id`` (each click has its own)."""
    form = parse_qs(interactive_body(action_id, value, user, "bob").decode())
    payload = json.loads(form["payload"][0])
    payload["trigger_id"] = trigger_id
    payload["actions"][0]["action_ts"] = action_ts
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_a_replayed_signed_action_is_answered_again_not_applied_again(served: Served, engine: Engine) -> None:
    """Issue #13: a signed request sent again within its 5 minutes made a second silence."""
    fire(engine, served)
    store = SqlStore(engine)
    (ref,) = route_groups(served.alerts.config.current, store.open_alerts())
    body = click("vitals_silence_group", f"group:{ref}", "1780000000.000100", "111.222.aaa")
    headers = signed(body)
    first = served.server.request("POST", "/slack/interactivity", body, headers)
    assert first == (200, {"text": "created silence(s) 1"})
    served.clock.advance(240)  # still inside the signature's window
    assert served.server.request("POST", "/slack/interactivity", body, headers) == first
    # another process behind the same URL (or this one after a restart) knows it too
    other = AlertsHttp(SqlStore(engine), served.alerts.config, served.clock)
    app = web.Application()
    other.register(app)
    with Server(app) as second:
        assert second.request("POST", "/slack/interactivity", body, headers) == first
    assert [s.id for s in store.silences(served.clock.now)] == [1]
    audit = store.audit_entries(20)
    assert [e.action for e in audit if e.action.startswith(("silence", "slack"))] == [
        "slack.replay",
        "slack.replay",
        "silence.create",
    ]
    replay = audit[0]
    assert replay.actor == "bob (slack:U0BOB)" and replay.source == "slack"
    assert replay.target == f"slack:silence_group:{ref}"
    assert replay.detail == {
        "action_id": "vitals_silence_group",
        "action_ts": "1780000000.000100",
        "trigger_id": "111.222.aaa",
        "first_received_at": "2026-05-28T20:26:40.000Z",
        "replays": 2,
        "answer": "created silence(s) 1",
    }
    # a new click on the same button is a new action, applied
    again = click("vitals_silence_group", f"group:{ref}", "1780000240.000200", "333.444.bbb")
    assert served.server.request("POST", "/slack/interactivity", again, signed(again, T0 + 240)) == (
        200,
        {"text": "created silence(s) 2"},
    )


def test_a_replayed_acknowledgement_gives_the_first_answer(served: Served, engine: Engine) -> None:
    fp = fire(engine, served)
    body = click(f"vitals_ack_alert:{fp}", f"alert:{fp}", "1780000001.000300", "555.666.ccc")
    answers = [served.server.request("POST", "/slack/interactivity", body, signed(body)) for _ in range(3)]
    assert answers == [(200, {"text": f"acknowledged alert {fp}"})] * 3  # not "already acknowledged"
    actions = [e.action for e in SqlStore(engine).audit_entries(20)]
    assert actions.count("acknowledge") == 1 and actions.count("slack.replay") == 2


def test_copies_of_one_request_at_once_apply_it_once(served: Served, engine: Engine) -> None:
    fire(engine, served)
    store = SqlStore(engine)
    (ref,) = route_groups(served.alerts.config.current, store.open_alerts())
    body = click("vitals_silence_group", f"group:{ref}", "1780000002.000400", "777.888.ddd")
    headers = signed(body)
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda _: served.server.request("POST", "/slack/interactivity", body, headers), range(4))
        )
    assert {status for status, _ in answers} == {200}
    assert {a["text"] for _, a in answers} <= {"created silence(s) 1", IN_PROGRESS}
    assert len(store.silences(T0)) == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Slack-Request-Timestamp"),
        (
            {"X-Slack-Request-Timestamp": str(int(T0)), "X-Slack-Signature": "v0=" + "0" * 64},
            "does not match",
        ),
        ("stale", "refused as a replay); its timestamp is 301s old"),
        ("future", "refused as a replay); its timestamp is 301s in the future"),
        ("other-secret", "does not match"),
        ("tampered", "does not match"),
    ],
)
def test_unsigned_forged_stale_or_tampered_requests_are_refused(
    served: Served, engine: Engine, headers: Any, reason: str
) -> None:
    fp = fire(engine, served)
    body = interactive_body(f"vitals_ack_alert:{fp}", f"alert:{fp}")
    sent = body
    if headers == "stale":
        headers = signed(body, T0 - 301)
    elif headers == "future":
        headers = signed(body, T0 + 301)
    elif headers == "other-secret":
        headers = signed(body, secret="not-the-secret")
    elif headers == "tampered":
        headers, sent = signed(body), body.replace(b"alice", b"mallory")
    status, answer = served.server.request("POST", "/slack/interactivity", sent, headers)
    assert status == 401 and reason in answer["error"]
    alert = SqlStore(engine).get_alert(fp)
    assert alert is not None and alert.state == "firing"  # nothing happened
    assert SqlStore(engine).audit_entries(10)[0].action == "config.load"


def test_without_a_signing_secret_interactivity_is_off(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(CONFIG)
    with serving(engine, tmp_path, {}) as running:
        body = interactive_body("vitals_ack_alert:abc", "alert:abc")
        status, answer = running.server.request("POST", "/slack/interactivity", body, signed(body))
    assert status == 503 and "VITALS_SLACK_SIGNING_SECRET" in answer["error"]


def test_the_signing_secret_can_come_from_a_file(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "slack-signing-secret").write_text(SECRET + "\n")
    (tmp_path / "alerts.yaml").write_text(CONFIG + "slack:\n  signing_secret: {file: slack-signing-secret}\n")
    with serving(engine, tmp_path, {"VITALS_SLACK_SIGNING_SECRET": "ignored-the-file-wins"}) as running:
        fp = fire(engine, running)
        body = interactive_body(f"vitals_ack_alert:{fp}", f"alert:{fp}")
        status, _ = running.server.request("POST", "/slack/interactivity", body, signed(body))
    assert status == 200


def test_a_token_is_required_once_one_exists(served: Served) -> None:
    request = served.server.request
    assert request("GET", "/api/v1/alerts")[0] == 200  # no token at all: anonymous (loopback only)
    secret = served.api.token("oncall", "write")
    assert request("GET", "/api/v1/alerts")[0] == 401
    assert request("GET", "/api/v1/alerts", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert request("GET", "/api/v1/alerts", headers={"Authorization": f"Bearer {secret}"})[0] == 200


def test_json_api(served: Served, engine: Engine) -> None:
    server = served.server
    fp = fire(engine, served)
    status, listed = server.request("GET", "/api/v1/alerts")
    assert status == 200 and [a["fingerprint"] for a in listed["alerts"]] == [fp]
    assert listed["alerts"][0]["state"] == "firing" and listed["alerts"][0]["priority"] == "P1"
    status, refused = server.request("POST", f"/api/v1/alerts/{fp}/ack", b'{"who": "ivy"}')
    assert status == 422 and "who" in refused["error"]
    status, acked = server.request(
        "POST", f"/api/v1/alerts/{fp}/ack", json.dumps({"by": "ivy", "comment": "eta 10m"}).encode()
    )
    assert status == 200 and acked["alert"]["acknowledged_by"] == "ivy"  # anonymous callers name themselves
    assert server.request("POST", "/api/v1/alerts/nope/ack", b"{}")[0] == 404
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
    assert expired["silence"]["expired_by"] == "ivy"
    status, audit = server.request("GET", "/api/v1/audit")
    entries = audit["audit"]
    assert [a["action"] for a in entries][:3] == ["silence.expire", "silence.create", "acknowledge"]
    assert {(a["source"], a["remote"]) for a in entries[:3]} == {("api", "127.0.0.1")}
    status, outbox = server.request("GET", "/api/v1/outbox")
    assert status == 200 and outbox["outbox"] == {"pending": 1}  # the first notification (not delivered here)


def test_the_api_acknowledges_with_the_config_in_force(served: Served, engine: Engine) -> None:
    """An edited alerts.yaml that fails to load keeps the running config, and the API keeps using it."""
    server = served.server
    path = served.alerts.config.path
    path.write_text(CONFIG.replace("group_by: [sla, slice]", "group_by: [sla]"))
    applied, message = served.alerts.config.reload("judy", "cli")
    assert applied and message.startswith("reloaded")
    path.write_text("route:\n  receiver: nobody\nreceivers: [{name: console}]\n")
    applied, message = served.alerts.config.reload("judy", "cli")
    assert not applied and "alerts.yaml:2: route.receiver" in message
    audit = SqlStore(engine).audit_entries(10)
    assert [(a.action, a.actor) for a in audit[:2]] == [
        ("config.reload_failed", "judy"),
        ("config.reload", "judy"),
    ]
    fire(engine, served)
    status, listed = server.request("GET", "/api/v1/incidents")
    (incident,) = listed["incidents"]
    assert incident["group_labels"] == {"sla": "gl-posting-errors"}  # grouped by the reloaded config
    status, acked = server.request("POST", f"/api/v1/incidents/{incident['ref']}/ack", b"{}")
    assert status == 200 and acked["incident"]["state"] == "acknowledged"

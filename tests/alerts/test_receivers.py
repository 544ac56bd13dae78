"""Generic webhook, Alertmanager and console receivers over real HTTP, and the PHI guard end to end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from alerts import config
from alerts.dispatcher import Dispatcher
from alerts.engine import AlertEngine
from alerts.senders import SenderFactory
from alerts.sqlstore import SqlStore
from alerts.tables import alert_events, alert_outbox, alerts
from tests.alerts.factories import T0, burn, evaluation, insert_evaluations
from tests.alerts.harness import FakeClock
from tests.alerts.recorder import Recorder
from tests.support.factories import insert_spans, span_row
from tests.support.fake_slack import FakeSlack

pytestmark = pytest.mark.e2e


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


def pipeline(engine: Engine, text: str, environ: dict[str, str]) -> tuple[AlertEngine, Dispatcher, FakeClock]:
    cfg = config.parse(text, environ=environ)
    clock = FakeClock(T0)
    store = SqlStore(engine)
    alerting = AlertEngine(store, lambda: cfg, clock)
    return alerting, Dispatcher(store, lambda: cfg, SenderFactory(), clock=time.time), clock


WEBHOOKS = """
route:
  receiver: hooks
  group_by: [sla]
  group_wait: 0s
  group_interval: 1m
receivers:
  - name: hooks
    webhook_configs:
      - url: {url}/hook
        http_config: {{authorization: {{credentials: {{env: HOOK_TOKEN}}}}}}
    alertmanager_configs:
      - url: {url}/am
delivery: {{retry_initial: 100ms, retry_max: 500ms, pace: 0s}}
alerting: {{objective_alerts: false, stale_after: null, resolve_after: 1m}}
dashboard: {{url: 'https://vitals.example.org'}}
"""


def test_webhook_and_alertmanager_receivers(engine: Engine, recorder: Recorder) -> None:
    alerting, dispatcher, clock = pipeline(
        engine, WEBHOOKS.format(url=recorder.url), {"HOOK_TOKEN": "s3cret"}
    )
    recorder.statuses = [503, 500]  # the first two requests fail; retries carry the same key
    insert_evaluations(engine, [evaluation(at=T0, burn_rates=[burn(firing=True)])])
    alerting.evaluate()
    alerting.plan()
    stats = dispatcher.drain(30)
    assert stats.sent == 2 and stats.retried == 2
    hooks = [r for r in recorder.requests if r.path == "/hook"]
    assert [r.status for r in hooks][-1] == 200
    keys = {r.headers["Idempotency-Key"] for r in hooks}
    assert len(keys) == 1  # a retry is recognisably the same notification
    ok = hooks[-1]
    assert ok.headers["Authorization"] == "Bearer s3cret" and ok.headers["Content-Type"] == "application/json"
    body = ok.json()
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hooks"
    assert (
        body["groupLabels"] == {"sla": "gl-posting-errors"}
        and body["externalURL"] == "https://vitals.example.org"
    )
    (alert,) = body["alerts"]
    assert alert["status"] == "firing" and alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["labels"]["severity"] == "page" and alert["annotations"]["objective"] == "99.50%"
    assert alert["generatorURL"].startswith("https://vitals.example.org/sla?sla=gl-posting-errors")
    assert body["vitals"]["notificationKey"] == ok.headers["Idempotency-Key"]
    assert body["vitals"]["alerts"][alert["fingerprint"]]["state"] == "firing"
    am = [r for r in recorder.requests if r.path == "/am/api/v2/alerts" and r.status == 200]
    (posted,) = am[-1].json()
    assert (
        posted["labels"]["alertname"] == "gl-posting-errors"
        and posted["annotations"]["vitals_state"] == "firing"
    )
    assert posted["endsAt"] > posted["startsAt"]  # expires unless re-sent

    # resolution: the webhook gets "resolved", Alertmanager an endsAt at the resolution time
    insert_evaluations(engine, [evaluation(at=T0 + 10, burn_rates=[burn(firing=False)])])
    clock.now = T0 + 80
    alerting.evaluate()
    alerting.plan()
    clock.now = T0 + 120
    alerting.plan()
    dispatcher.drain(30)
    resolved = [r.json() for r in recorder.requests if r.path == "/hook"][-1]
    assert resolved["status"] == "resolved" and resolved["alerts"][0]["endsAt"].startswith("2026-05-28T20:28")
    (ended,) = [r.json() for r in recorder.requests if r.path == "/am/api/v2/alerts"][-1]
    assert (
        ended["annotations"]["vitals_state"] == "resolved"
        and ended["endsAt"] == resolved["alerts"][0]["endsAt"]
    )


PLANTED = ("MRN7734219", "Jane Q Public", "1957-03-14", "555-867-5309")

EVERYWHERE = """
route:
  receiver: bot
  group_by: ['...']
  group_wait: 0s
  routes:
    - receiver: bot
      continue: true
    - receiver: hook
      continue: true
    - receiver: rest
receivers:
  - name: bot
    slack_configs:
      - channel: '#integration-oncall'
        api_url: {api}chat.postMessage
        http_config: {{authorization: {{credentials: {{env: TEST_SLACK_TOKEN}}}}}}
  - name: hook
    slack_configs:
      - api_url: {{file: '{webhook_file}'}}
  - name: rest
    webhook_configs: [{{url: '{url}/hook'}}]
    alertmanager_configs: [{{url: '{url}/am'}}]
    console_configs:
      - {{format: json, path: '{console}'}}
      - {{format: text, path: '{console}'}}
delivery: {{pace: 0s}}
alerting: {{stale_after: null, objective_alerts: false}}
"""


def test_a_planted_identifier_never_reaches_a_notification_or_the_alert_tables(
    engine: Engine, recorder: Recorder, tmp_path: Path
) -> None:
    with FakeSlack() as fake:
        console = tmp_path / "console.log"
        webhook_file = tmp_path / "slack-webhook-url"
        webhook_file.write_text(fake.webhook_url("alerts-fallback") + "\n")
        text = EVERYWHERE.format(
            api=fake.api_url, url=recorder.url, console=console, webhook_file=webhook_file
        )
        environ = {"TEST_SLACK_TOKEN": fake.token}
        alerting, dispatcher, _ = pipeline(engine, text, environ)
        # in telemetry, as a careless integration might send it...
        insert_spans(
            engine,
            [
                span_row(
                    name="erp.gl.post", attributes={"patient.name": PLANTED[1], "hc.facility": "north-campus"}
                )
            ],
        )
        # ...and in the slice labels of an SLA evaluation, under names both unknown and allowed
        labels = {
            "hc.facility": "north-campus",
            "patient.mrn": PLANTED[0],
            "patient.name": PLANTED[1],
            "hc.service_line": f"DOB {PLANTED[2]}",
            "queue": f"callback {PLANTED[3]}",
        }
        slice_ = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        insert_evaluations(
            engine, [evaluation(at=T0, slice=slice_, labels=labels, burn_rates=[burn(firing=True)])]
        )
        alerting.evaluate()
        alerting.plan()
        stats = dispatcher.drain(60)
        assert stats.sent == 6 and stats.dead == 0
        payloads = [json.dumps(c.args) for c in fake.calls]
        payloads += [r.body.decode() + json.dumps(r.headers) for r in recorder.requests]
        payloads.append(console.read_text())
        with engine.connect() as conn:
            for table in (alerts, alert_events, alert_outbox):
                payloads += [json.dumps([str(v) for v in row]) for row in conn.execute(select(table))]
        assert (
            len(fake.calls) == 2
            and len(recorder.requests) == 2
            and console.read_text().count("vitals alert") == 1
        )
        everything = "\n".join(payloads)
        for secret in PLANTED:
            assert secret not in everything
            assert secret.split()[-1] not in everything
        # what is shown instead: the allowed facility, and hashes for what looked like identifiers
        assert "north-campus" in everything and "h:" in everything
        (alert,) = SqlStore(engine).open_alerts()
        assert alert.labels["facility"] == "north-campus" and alert.slice.startswith("slice-")
        assert "patient_mrn" not in alert.labels and alert.labels["hc_service_line"].startswith("h:")

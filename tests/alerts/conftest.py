"""Fixtures for alert tests: a fake Slack, and a pipeline that delivers to it for real."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy.engine import Engine

from alerts import config
from alerts.dispatcher import Dispatcher
from alerts.engine import AlertEngine
from alerts.senders import SenderFactory
from alerts.sqlstore import SqlStore
from tests.alerts.factories import T0, burn, evaluation, insert_evaluations
from tests.alerts.harness import FakeClock
from tests.support.fake_slack import FakeSlack

SLACK_CONFIG = """
route:
  receiver: oncall
  group_by: [sla, slice]
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: oncall
    fallback: fallback
    slack_configs:
      - channel: '#integration-oncall'
        api_url: {api}chat.postMessage
        send_resolved: true
        http_config:
          authorization:
            credentials: {{env: TEST_SLACK_TOKEN}}
  - name: fallback
    slack_configs:
      - api_url: {{env: TEST_FALLBACK_WEBHOOK}}
        send_resolved: true
alerting:
  objective_alerts: false
  stale_after: null
delivery:
  pace: 1s
  retry_initial: 200ms
  retry_max: 1s
  fallback_after: {fallback_after}
  give_up_after: 1h
  lease: 30s
dashboard:
  url: https://vitals.example.org
"""


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@dataclass
class SlackPipeline:
    """Planning on a fake clock (so timers are exact), delivery in real time to the fake Slack."""

    engine: Engine
    fake: FakeSlack
    fallback_after: str = "60s"
    clock: FakeClock = field(default_factory=lambda: FakeClock(T0))

    def __post_init__(self) -> None:
        environ = {
            "TEST_SLACK_TOKEN": self.fake.token,
            "TEST_FALLBACK_WEBHOOK": self.fake.webhook_url("alerts-fallback"),
        }
        self.config = config.parse(
            SLACK_CONFIG.format(api=self.fake.api_url, fallback_after=self.fallback_after), environ=environ
        )
        self.store = SqlStore(self.engine)
        self.alerting = AlertEngine(self.store, lambda: self.config, self.clock)
        self.dispatcher = Dispatcher(self.store, lambda: self.config, SenderFactory(), clock=time.time)

    def fire(self, *sla_ids: str, firing: bool = True, offset: float = 0.0) -> None:
        self.clock.now = T0 + offset
        insert_evaluations(
            self.engine,
            [evaluation(at=self.clock.now, sla_id=sla, burn_rates=[burn(firing=firing)]) for sla in sla_ids],
        )
        self.alerting.evaluate()
        self.alerting.plan()

    def keys(self) -> list[str]:
        return [r.key for r in self.store.outbox_rows(None, 1000)]


@pytest.fixture
def pipeline(engine: Engine, fake_slack: FakeSlack) -> SlackPipeline:
    return SlackPipeline(engine, fake_slack)

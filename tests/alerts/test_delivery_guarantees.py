"""A bot token that cannot look up an earlier attempt is reported as at-least-once, not hidden.

Against the fake Slack, which reports the token's scopes (``X-OAuth-Scopes``) and refuses the
look-up methods without them (``missing_scope``), as Slack does.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from alerts import config, service
from alerts.cli import alerts as alerts_cli
from alerts.config import AlertsConfig
from alerts.dispatcher import Dispatcher
from alerts.senders import SenderFactory, guarantees
from tests.alerts.conftest import SLACK_CONFIG, SlackPipeline
from tests.alerts.factories import burn, evaluation, insert_evaluations
from tests.alerts.scoped_slack import FULL_SCOPES, ScopedSlack
from vitals.kernel.runtime import ServiceContext
from vitals.kernel.settings import Settings

pytestmark = pytest.mark.e2e

DEGRADED = "at-least-once (duplicates possible after a crash): missing scope channels:history"


@pytest.fixture
def no_history() -> Iterator[ScopedSlack]:
    with ScopedSlack(scopes=("chat:write", "channels:read")) as fake:
        yield fake


def test_the_guarantee_follows_the_scopes() -> None:
    for scopes, expected in [
        (FULL_SCOPES, {}),
        (("chat:write", "channels:read", "groups:history"), {}),  # private channels are enough
        (("chat:write", "channels:read"), {"oncall/slack_configs[0]": DEGRADED}),
        (
            ("chat:write",),
            {
                "oncall/slack_configs[0]": "at-least-once (duplicates possible after a crash): "
                "missing scopes channels:history, channels:read"
            },
        ),
    ]:
        with ScopedSlack(scopes=scopes) as fake:
            assert guarantees(parse(fake), SenderFactory()) == expected, scopes


def parse(fake: ScopedSlack) -> AlertsConfig:
    return config.parse(SLACK_CONFIG.format(api=fake.api_url, fallback_after="60s"), environ=environ(fake))


def environ(fake: ScopedSlack) -> dict[str, str]:
    return {"TEST_SLACK_TOKEN": fake.token, "TEST_FALLBACK_WEBHOOK": fake.webhook_url("alerts-fallback")}


def test_vitals_alerts_check_shows_the_guarantee(no_history: ScopedSlack, tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(SLACK_CONFIG.format(api=no_history.api_url, fallback_after="60s"))
    env = {**environ(no_history), "VITALS_CONFIG": str(tmp_path)}
    result = CliRunner().invoke(alerts_cli, ["check"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f" - oncall/slack_configs[0]: {DEGRADED}" in result.output
    offline = CliRunner().invoke(alerts_cli, ["check", "--offline"], env=env, catch_exceptions=False)
    assert offline.exit_code == 0, offline.output
    assert " - oncall/slack_configs[0]: not asked (--offline)" in offline.output
    # A Slack incoming webhook cannot be asked: at-least-once, said without asking anything.
    webhook = [line for line in offline.output.splitlines() if "/slack_configs[0]: at-least-once" in line]
    assert len(webhook) == 1 and "incoming webhook" in webhook[0], offline.output
    with ScopedSlack() as full:
        (tmp_path / "alerts.yaml").write_text(SLACK_CONFIG.format(api=full.api_url, fallback_after="60s"))
        env = {**environ(full), "VITALS_CONFIG": str(tmp_path)}
        result = CliRunner().invoke(alerts_cli, ["check"], env=env, catch_exceptions=False)
    assert " - oncall/slack_configs[0]: no duplicates after a crash" in result.output


def test_readyz_status_line_shows_the_guarantee(
    no_history: ScopedSlack, engine: Engine, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environ(no_history).items():
        monkeypatch.setenv(name, value)
    (tmp_path / "alerts.yaml").write_text(SLACK_CONFIG.format(api=no_history.api_url, fallback_after="60s"))
    ctx = ServiceContext(
        settings=Settings.resolve(store_url, tmp_path),
        engine=engine,
        scheduler=BackgroundScheduler(),
        http_app=web.Application(),
        registry=CollectorRegistry(),
        write_metric_points=lambda rows: None,
    )
    service.install(ctx)
    assert "at-least-once" not in ctx.status["alerts"]  # not asked yet: serve does not wait on Slack
    job = ctx.scheduler.get_job("alerts.guarantees")
    assert job is not None and job.trigger.interval.total_seconds() == service.GUARANTEE_CHECK_S
    job.func()  # what the scheduler runs at start
    assert ctx.status["alerts"].endswith(f"; receiver oncall/slack_configs[0]: {DEGRADED}")


def test_after_a_crash_without_the_scope_the_message_is_sent_again_and_said_so(
    engine: Engine, no_history: ScopedSlack, caplog: pytest.LogCaptureFixture
) -> None:
    p = SlackPipeline(engine, no_history)
    senders = SenderFactory(clock=p.clock)
    dispatcher = Dispatcher(
        p.store,
        lambda: p.config,
        senders,
        clock=p.clock,
        sleep=p.clock.sleep,
        rng=random.Random(3),
    )
    insert_evaluations(engine, [evaluation(at=p.clock.now, burn_rates=[burn(firing=True)])])
    p.alerting.evaluate()
    p.alerting.plan()
    (row,) = p.store.outbox_rows(None, 10)
    assert dispatcher.drain(60).sent == 1
    # the same row again as if its dispatcher had crashed after Slack took it, before recording it
    p.store.outbox_retry(row, p.clock.now, "crash", None, uncertain=False)
    (again,) = p.store.outbox_rows(None, 10)
    claimed = p.store.outbox_claim(again, "elsewhere:1:dead", p.clock.now, 30)
    assert claimed is not None
    p.store.outbox_start_attempt(claimed, p.clock.now)
    p.clock.advance(31)
    with caplog.at_level(logging.WARNING, logger="alerts.senders"):
        stats = dispatcher.drain(60)
    assert stats.sent == 1 and stats.reconciled == 0
    assert len(no_history.channel_messages("integration-oncall")) == 2  # the duplicate it warned of
    assert no_history.channel_messages("alerts-fallback") == []  # not held back until fallback
    assert "missing scope channels:history" in caplog.text
    assert guarantees(p.config, senders) == {"oncall/slack_configs[0]": DEGRADED}

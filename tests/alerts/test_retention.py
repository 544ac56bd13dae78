"""Alerting retention's rules, over plain rows: what is finished and old goes, what is open stays.

The SQL edge is held to these rules in ``test_retention_store.py``.
"""

from __future__ import annotations

import pytest

from alerts import config
from alerts.config import RetentionSettings
from alerts.outbox import UNFINISHED
from alerts.retention import (
    FINISHED,
    AlertRow,
    Cutoffs,
    OutboxRow,
    alert_expired,
    event_expired,
    group_expired,
    outbox_expired,
    plan,
    silence_expired,
    slack_action_expired,
)
from vitals.kernel.configfile import ConfigError

NS = 1_000_000_000
DAY = 86_400 * NS
NOW = 1_796_083_200 * NS  # 2026-12-01T00:00:00Z
CUT = plan(RetentionSettings(), NOW)

BASE = """
route: {receiver: oncall}
receivers: [{name: oncall}]
"""


def test_the_defaults_keep_a_year_of_incidents_a_month_of_notifications_a_day_of_clicks() -> None:
    assert (
        Cutoffs(
            now_ns=NOW,
            history_ns=NOW - 400 * DAY,
            notifications_ns=NOW - 30 * DAY,
            silences_ns=NOW - 400 * DAY,
            slack_actions_ns=NOW - DAY,
        )
        == CUT
    )


def test_the_retention_block_reads_durations() -> None:
    parsed = config.parse(
        BASE
        + "retention: {history: 2y, notifications: 7d, silences: 90d, slack_actions: 1h, interval: 10m}\n"
    )
    assert parsed.retention == RetentionSettings(
        history=730 * 86400.0,
        notifications=7 * 86400.0,
        silences=90 * 86400.0,
        slack_actions=3600.0,
        interval=600.0,
        batch_rows=500,
    )
    assert config.parse(BASE).retention == RetentionSettings()


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("retention: {history: 1h}", "retention.history"),
        ("retention: {slack_actions: 1m}", "retention.slack_actions"),
        ("retention: {batch_rows: 0}", "retention.batch_rows"),
        ("retention: {keep: 1d}", "retention.keep"),
    ],
)
def test_a_bad_retention_names_its_line_and_field(line: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse(BASE + line + "\n")
    assert f"alerts.yaml:4: {field}" in str(caught.value)


def _alert(state: str = "resolved", resolved_days: float | None = 500, updated_days: float = 500) -> AlertRow:
    resolved = None if resolved_days is None else NOW - int(resolved_days * DAY)
    return AlertRow("fp", state, resolved, NOW - int(updated_days * DAY))


def test_a_resolved_alert_goes_after_the_history() -> None:
    assert alert_expired(_alert(), CUT, held=())
    assert not alert_expired(_alert(resolved_days=399, updated_days=399), CUT, held=())
    # Resolved long ago but changed since (it fired again a moment ago): kept.
    assert not alert_expired(_alert(updated_days=1), CUT, held=())


@pytest.mark.parametrize("state", ["firing", "acknowledged", "suppressed"])
def test_an_unresolved_alert_is_never_deleted_however_old(state: str) -> None:
    assert not alert_expired(_alert(state, resolved_days=None, updated_days=5000), CUT, held=())


def test_an_alert_of_an_open_incident_stays() -> None:
    assert not alert_expired(_alert(), CUT, held={"fp"})


def test_events_go_with_the_history_unless_their_alert_is_open() -> None:
    old, recent = NOW - 401 * DAY, NOW - 399 * DAY
    assert event_expired(old, "fp", CUT, unresolved=())
    assert not event_expired(recent, "fp", CUT, unresolved=())
    assert not event_expired(old, "fp", CUT, unresolved={"fp"})


def test_a_closed_incident_goes_once_its_notifications_are_gone() -> None:
    old = NOW - 401 * DAY
    assert group_expired(False, old, "g", CUT, notified=())
    assert not group_expired(False, old, "g", CUT, notified={"g"})
    assert not group_expired(True, old, "g", CUT, notified=())
    assert not group_expired(False, NOW - 399 * DAY, "g", CUT, notified=())


def _row(status: str = "sent", days: float = 31, key: str = "k", group: str = "g") -> OutboxRow:
    return OutboxRow(key, group, status, NOW - int(days * DAY))


@pytest.mark.parametrize("status", FINISHED)
def test_a_finished_notification_goes_after_its_retention(status: str) -> None:
    assert outbox_expired(_row(status), CUT, open_groups=(), waiting_parents=())
    assert not outbox_expired(_row(status, days=29), CUT, open_groups=(), waiting_parents=())


@pytest.mark.parametrize("status", UNFINISHED)
def test_a_pending_or_sending_notification_is_never_deleted(status: str) -> None:
    assert not outbox_expired(_row(status, days=5000), CUT, open_groups=(), waiting_parents=())


def test_the_notifications_of_an_open_incident_and_a_waiting_parent_stay() -> None:
    assert not outbox_expired(_row(), CUT, open_groups={"g"}, waiting_parents=())
    assert not outbox_expired(_row(key="post"), CUT, open_groups=(), waiting_parents={"post"})


def test_a_silence_goes_after_it_ended_and_its_retention_passed() -> None:
    assert silence_expired(NOW - 401 * DAY, CUT)
    assert not silence_expired(NOW - 399 * DAY, CUT)
    assert not silence_expired(NOW + DAY, CUT)  # active or future
    # However short a retention, a silence that has not ended stays.
    assert not silence_expired(NOW + DAY, Cutoffs(NOW, NOW, NOW, NOW + 2 * DAY, NOW))


def test_an_applied_slack_action_goes_after_a_day() -> None:
    assert slack_action_expired(NOW - DAY - 1, CUT)
    assert not slack_action_expired(NOW - DAY + 1, CUT)

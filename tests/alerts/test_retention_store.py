"""Alerting retention on the store (SQLite and PostgreSQL): rows planted at fixed times, one run,
exact counts of what went and what stayed, and the survivors what the pure rules keep."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import Engine

from alerts import config
from alerts.config import RetentionSettings
from alerts.dispatcher import Dispatcher
from alerts.engine import AlertEngine
from alerts.grouping import GroupState
from alerts.model import Figures
from alerts.retention import (
    LEASE,
    AlertRow,
    OutboxRow,
    RetentionJob,
    RunReport,
    alert_expired,
    event_expired,
    outbox_expired,
    plan,
    run,
)
from alerts.senders import SenderFactory
from alerts.sqlstore import SqlStore
from alerts.tables import (
    alert_events,
    alert_groups,
    alert_outbox,
    alert_silences,
    alert_slack_actions,
    alerts,
)
from tests.alerts.factories import T0, burn, evaluation, insert_evaluations
from tests.alerts.harness import FakeClock
from vitals.kernel.db import create_engine
from vitals.kernel.lease import take

NS = 1_000_000_000
DAY = 86_400 * NS
NOW = 1_796_083_200 * NS  # 2026-12-01T00:00:00Z
CUT = plan(RetentionSettings(), NOW)


def ago(days: float) -> int:
    return NOW - int(days * DAY)


def clock() -> int:
    return NOW


def _alert(fp: str, state: str, resolved: int | None, updated: int) -> dict[str, Any]:
    return {
        "fingerprint": fp,
        "sla_id": "gl-posting-errors",
        "slice": fp,
        "tier": "1h/5m",
        "state": state,
        "active": state != "resolved",
        "priority": "P2",
        "severity": "page",
        "domain": "finance",
        "owner": "integration",
        "title": f"alert {fp}",
        "labels": {"sla": "gl-posting-errors", "slice": fp},
        "figures": Figures(f"alert {fp}", "ratio", 0.99, 0.9, 9.0, 10.0, "30d", 0.1, None).to_json(),
        "started_at_unix_nano": updated - DAY,
        "last_evaluated_at_unix_nano": updated,
        "resolved_at_unix_nano": resolved,
        "suppressed_by": [],
        "transitions": [],
        "flapping": False,
        "hysteresis_holds": 0,
        "flap_holds": 0,
        "episode": 1,
        "version": 0,
        "updated_at_unix_nano": updated,
    }


def _group(ref: str, open_: bool, updated: int, alerts_: tuple[str, ...] = ()) -> dict[str, Any]:
    state = GroupState(
        route_key="{}",
        group_key=ref,
        group_ref=ref,
        receiver="oncall",
        group_labels={},
        open=open_,
        episode=1,
    )
    document = state.to_json() | {"alerts": sorted(alerts_), "members": sorted(alerts_)}
    return {
        "group_ref": ref,
        "group_key": ref,
        "route_key": "{}",
        "receiver": "oncall",
        "group_labels": {},
        "open": open_,
        "state": document,
        "version": 0,
        "updated_at_unix_nano": updated,
    }


def _outbox(key: str, status: str, created: int, group: str, parent: str | None = None) -> dict[str, Any]:
    return {
        "key": key,
        "receiver": "oncall",
        "integration": "slack_configs[0]",
        "kind": "slack_bot",
        "action": "post" if parent is None else "reply",
        "target": "C1",
        "parent_key": parent,
        "group_ref": group,
        "notification": {},
        "status": status,
        "attempts": 1,
        "not_before_unix_nano": created,
        "created_at_unix_nano": created,
        "sent_at_unix_nano": created if status == "sent" else None,
    }


def _silence(starts: int, ends: int) -> dict[str, Any]:
    return {
        "matchers": ['sla="gl-posting-errors"'],
        "starts_at_unix_nano": starts,
        "ends_at_unix_nano": ends,
        "created_by": "nurse.ratched",
        "comment": "maintenance",
        "created_at_unix_nano": starts,
        "expire_on_resolve": False,
        "matched_any": False,
        "source": "cli",
    }


def _click(key: str, received: int, outcome: str | None) -> dict[str, Any]:
    return {
        "key": key,
        "trigger_id": key,
        "action_ts": "1.0",
        "user_id": "U1",
        "action_id": "ack",
        "outcome": outcome,
        "received_at_unix_nano": received,
        "replays": 0,
    }


def plant(engine: Engine) -> None:
    """Every case of every table, at fixed times before NOW (see the expected counts below)."""
    with engine.begin() as conn:
        conn.execute(
            insert(alerts),
            [
                _alert("old-resolved", "resolved", ago(500), ago(500)),  # goes
                _alert("recent-resolved", "resolved", ago(100), ago(100)),
                _alert("old-firing", "firing", None, ago(600)),
                _alert("old-acknowledged", "acknowledged", None, ago(600)),
                _alert("old-suppressed", "suppressed", None, ago(600)),
                _alert("in-open-incident", "resolved", ago(500), ago(500)),  # held by open-group
                _alert("fired-again", "resolved", ago(500), ago(1)),
            ],
        )
        conn.execute(
            insert(alert_events),
            [
                {"fingerprint": fp, "at_unix_nano": at, "kind": "fired", "actor": "engine", "detail": {}}
                for fp, at in [
                    ("old-resolved", ago(510)),  # goes
                    ("old-resolved", ago(505)),  # goes
                    ("old-resolved", ago(500)),  # goes
                    ("old-firing", ago(600)),
                    ("old-firing", ago(550)),
                    ("recent-resolved", ago(450)),  # an earlier episode: goes
                    ("recent-resolved", ago(100)),
                    ("in-open-incident", ago(500)),
                    ("no-such-alert", ago(500)),  # goes
                ]
            ],
        )
        conn.execute(
            insert(alert_groups),
            [
                _group("closed-old", False, ago(500)),  # goes
                _group("closed-old-notified", False, ago(500)),  # an outbox row of it is left
                _group("open-group", True, ago(500), ("in-open-incident", "old-firing")),
                _group("closed-recent", False, ago(100)),
            ],
        )
        conn.execute(
            insert(alert_outbox),
            [
                _outbox("sent-old", "sent", ago(40), "closed-recent"),  # goes
                _outbox("dead-old", "dead", ago(40), "closed-recent"),  # goes
                _outbox("skipped-old", "skipped", ago(40), "watchdog"),  # goes
                _outbox("failed-over-old", "failed_over", ago(40), "closed-recent"),  # goes
                _outbox("pending-old", "pending", ago(40), "closed-recent"),
                _outbox("sending-old", "sending", ago(40), "closed-recent"),
                _outbox("open-incident-post", "sent", ago(400), "open-group"),
                _outbox("sent-recent", "sent", ago(10), "closed-recent"),
                _outbox("waited-parent", "sent", ago(40), "closed-recent"),
                _outbox("waiting-reply", "pending", ago(1), "closed-recent", parent="waited-parent"),
                _outbox("dead-recent", "dead", ago(10), "closed-old-notified"),
            ],
        )
        conn.execute(
            insert(alert_silences),
            [
                _silence(ago(501), ago(500)),  # goes
                _silence(ago(101), ago(100)),
                _silence(ago(600), NOW + DAY),  # active for 600 days
                _silence(NOW + DAY, NOW + 2 * DAY),  # pending
            ],
        )
        conn.execute(
            insert(alert_slack_actions),
            [
                _click("applied-two-days-ago", ago(2), "acknowledged"),  # goes
                _click("abandoned-claim", ago(3), None),  # goes
                _click("applied-an-hour-ago", NOW - 3600 * NS, "acknowledged"),
            ],
        )


EXPECTED_DELETED = {
    "alert_outbox": 4,
    "alert_groups": 1,
    "alerts": 1,
    "alert_events": 5,
    "alert_silences": 1,
    "alert_slack_actions": 2,
}
PLANTED = {
    "alerts": 7,
    "alert_events": 9,
    "alert_groups": 4,
    "alert_outbox": 11,
    "alert_silences": 4,
    "alert_slack_actions": 3,
}
TABLES: dict[str, Table] = {
    "alerts": alerts,
    "alert_events": alert_events,
    "alert_groups": alert_groups,
    "alert_outbox": alert_outbox,
    "alert_silences": alert_silences,
    "alert_slack_actions": alert_slack_actions,
}


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for name, t in TABLES.items()
        }


def column(engine: Engine, table: Table, name: str) -> set[Any]:
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(select(table.c[name]))}


def test_old_and_finished_rows_go_open_and_recent_ones_stay(engine: Engine) -> None:
    plant(engine)
    assert counts(engine) == PLANTED
    paused: list[float] = []
    report = run(engine, CUT, owner="test:1:a", batch_rows=500, clock=clock, pause=paused.append)
    assert report.claimed and report.finished and not report.lease_lost
    assert report.deleted == EXPECTED_DELETED
    assert counts(engine) == {name: PLANTED[name] - EXPECTED_DELETED[name] for name in PLANTED}
    assert column(engine, alerts, "fingerprint") == {
        "recent-resolved",
        "old-firing",
        "old-acknowledged",
        "old-suppressed",
        "in-open-incident",
        "fired-again",
    }
    assert column(engine, alert_groups, "group_ref") == {"closed-old-notified", "open-group", "closed-recent"}
    assert column(engine, alert_outbox, "key") == {
        "pending-old",
        "sending-old",
        "open-incident-post",
        "sent-recent",
        "waited-parent",
        "waiting-reply",
        "dead-recent",
    }
    assert column(engine, alert_silences, "ends_at_unix_nano") == {ago(100), NOW + DAY, NOW + 2 * DAY}
    assert column(engine, alert_slack_actions, "key") == {"applied-an-hour-ago"}
    # SQLite pauses after each write so the collector's writer gets in; PostgreSQL does not.
    assert len(paused) == (report.batches if engine.dialect.name == "sqlite" else 0)
    # What stays still loads, and the open incident still has its alerts.
    store = SqlStore(engine)
    assert {a.fingerprint for a in store.open_alerts()} == {
        "old-firing",
        "old-acknowledged",
        "old-suppressed",
    }
    assert store.groups()["open-group"].alerts == {"in-open-incident", "old-firing"}
    # A second run finds nothing more.
    again = run(engine, CUT, owner="test:1:a", clock=clock, pause=paused.append)
    assert sum(again.deleted.values()) == 0 and again.batches == 0


def test_the_sql_keeps_what_the_rules_keep(engine: Engine) -> None:
    """The pure rules, applied to the planted rows, predict the survivors exactly."""
    plant(engine)
    with engine.connect() as conn:
        alert_rows = [
            AlertRow(r.fingerprint, r.state, r.resolved_at_unix_nano, r.updated_at_unix_nano)
            for r in conn.execute(select(alerts))
        ]
        events = [(r.id, r.fingerprint, r.at_unix_nano) for r in conn.execute(select(alert_events))]
        outbox = list(conn.execute(select(alert_outbox)))
    held = {"in-open-incident", "old-firing"}
    unresolved = {a.fingerprint for a in alert_rows if a.resolved_at_ns is None} | held
    waiting = {r.parent_key for r in outbox if r.status in ("pending", "sending") and r.parent_key}
    keep_alerts = {a.fingerprint for a in alert_rows if not alert_expired(a, CUT, held)}
    keep_events = {i for i, fp, at in events if not event_expired(at, fp, CUT, unresolved)}
    keep_outbox = {
        r.key
        for r in outbox
        if not outbox_expired(
            OutboxRow(r.key, r.group_ref, r.status, r.created_at_unix_nano), CUT, {"open-group"}, waiting
        )
    }
    run(engine, CUT, owner="test:1:a", clock=clock, pause=lambda s: None)
    assert column(engine, alerts, "fingerprint") == keep_alerts
    assert column(engine, alert_events, "id") == keep_events
    assert column(engine, alert_outbox, "key") == keep_outbox


def test_small_batches_delete_the_same_rows(engine: Engine) -> None:
    plant(engine)
    with engine.begin() as conn:  # a backlog: 25 more sent notifications of a closed incident
        conn.execute(
            insert(alert_outbox), [_outbox(f"bulk-{i}", "sent", ago(60), "closed-recent") for i in range(25)]
        )
    report = run(engine, CUT, owner="test:1:a", batch_rows=2, clock=clock, pause=lambda s: None)
    assert report.finished
    assert report.deleted == {**EXPECTED_DELETED, "alert_outbox": 29}
    assert report.batches >= 15  # 29 outbox rows alone need 15 batches of 2


def test_a_run_stops_at_its_batch_budget_and_the_next_goes_on(engine: Engine) -> None:
    plant(engine)
    first = run(engine, CUT, owner="test:1:a", batch_rows=1, max_batches=3, clock=clock, pause=lambda s: None)
    assert not first.finished and first.batches == 3 and sum(first.deleted.values()) == 3
    second = run(engine, CUT, owner="test:1:a", batch_rows=500, clock=clock, pause=lambda s: None)
    assert second.finished
    assert sum(first.deleted.values()) + sum(second.deleted.values()) == sum(EXPECTED_DELETED.values())


def test_another_holder_of_the_lease_keeps_this_process_standing_by(engine: Engine) -> None:
    plant(engine)
    with engine.begin() as conn:
        assert take(conn, LEASE, "otherhost:1:b", NOW, 600 * NS) is not None
    report = run(engine, CUT, owner="test:1:a", clock=clock, pause=lambda s: None)
    assert not report.claimed and report.deleted == {}
    assert counts(engine) == PLANTED


def test_the_job_reads_its_settings_at_each_run_and_reports_a_status(engine: Engine) -> None:
    plant(engine)
    lines: list[str] = []
    settings: list[RetentionSettings] = [RetentionSettings(notifications=1000 * 86400.0)]
    job = RetentionJob(engine, lambda: settings[0], clock=clock, pause=lambda s: None, status=lines.append)
    report = job.run_once()
    assert report is not None and report.deleted["alert_outbox"] == 0  # nothing is 1000 days old
    settings[0] = RetentionSettings()  # alerts.yaml edited: the default month
    report = job.run_once()
    assert report is not None and report.deleted["alert_outbox"] == 4
    assert lines[-1] == "deleted 4 finished alerting rows"


def test_a_failing_store_is_reported_not_raised(sqlite_url: str) -> None:
    unmigrated = create_engine(sqlite_url)  # no tables: every statement fails
    lines: list[str] = []
    job = RetentionJob(unmigrated, RetentionSettings, clock=clock, status=lines.append)
    assert job.run_once() is None
    assert lines and lines[0].startswith("failing: ")
    unmigrated.dispose()


CONSOLE = """
route: {receiver: oncall, group_by: [sla, slice], group_wait: 0s, group_interval: 1m}
receivers: [{name: oncall, console_configs: [{send_resolved: true}]}]
alerting: {objective_alerts: false, stale_after: null, resolve_after: 1m}
"""


def test_an_incident_the_engine_wrote_goes_whole_and_can_come_back(sqlite_engine: Engine) -> None:
    """Rows written by the engine and dispatcher, not planted: a month on, the delivered
    notifications of the closed incident go; after the history, the incident; and when the same
    alert fires again its new incident starts over without meeting an old notification's key."""
    engine = sqlite_engine
    clock = FakeClock(T0)
    parsed = config.parse(CONSOLE)
    store = SqlStore(engine)
    alerting = AlertEngine(store, lambda: parsed, clock)
    dispatcher = Dispatcher(store, lambda: parsed, SenderFactory(), clock=clock, sleep=clock.sleep)

    def step(firing: bool, seconds: float = 0.0) -> None:
        clock.advance(seconds)
        insert_evaluations(engine, [evaluation(at=clock.now, burn_rates=[burn(firing=firing)])])
        alerting.evaluate()
        alerting.plan()
        dispatcher.run_once(5.0)

    def now_ns() -> int:
        return int(clock.now * NS)

    def prune() -> RunReport:
        return run(
            engine, plan(RetentionSettings(), now_ns()), owner="test:1:a", clock=now_ns, pause=lambda s: None
        )

    step(True)
    for _ in range(3):
        step(False, 60.0)
    assert store.open_alerts() == []
    assert store.outbox_counts().get("sent", 0) >= 2
    with engine.connect() as conn:
        assert not conn.execute(select(alert_groups.c.open)).scalar_one()
    planted = counts(engine)

    clock.advance(31 * 86400.0)
    month = run(
        engine, plan(RetentionSettings(), now_ns()), owner="test:1:a", clock=now_ns, pause=lambda s: None
    )
    assert month.deleted["alert_outbox"] == planted["alert_outbox"]
    assert sum(month.deleted.values()) == planted["alert_outbox"]  # the rest is history, kept

    clock.advance(400 * 86400.0)
    year = run(
        engine, plan(RetentionSettings(), now_ns()), owner="test:1:a", clock=now_ns, pause=lambda s: None
    )
    assert year.deleted["alerts"] == 1 and year.deleted["alert_groups"] == 1
    assert year.deleted["alert_events"] == planted["alert_events"]
    assert counts(engine) | {"alert_silences": 0, "alert_slack_actions": 0} == dict.fromkeys(PLANTED, 0)

    step(True)  # the same alert, the same group key: a new incident, delivered
    assert [a.episode for a in store.open_alerts()] == [1]
    assert store.outbox_counts() == {"sent": 1}

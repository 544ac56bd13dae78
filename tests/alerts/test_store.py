"""The SQL store on SQLite and PostgreSQL: persistence, restart, concurrency, outbox claims."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from access.model import AuditEntry
from alerts import actions, api, config
from alerts.engine import AlertEngine
from alerts.escalation import EscalationState
from alerts.grouping import GroupState
from alerts.matchers import parse_matcher_list
from alerts.model import Alert, AlertEvent, Figures
from alerts.notification import AlertView, Notification
from alerts.outbox import OutboxItem
from alerts.silences import Silence
from alerts.sqlstore import WATERMARK, SqlStore
from alerts.store import AlertStore, Conflict, MemoryStore
from alerts.tables import alert_events, alert_state
from slas.evaluation_rows import evaluation_row
from slas.tables import sla_evaluations
from tests.alerts.factories import T0, burn, evaluation, insert_evaluations
from tests.alerts.harness import FakeClock
from tests.support.fields import assert_every_field_set
from tests.support.stores import CONTRACT_STORES, contract_engine
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.follow import Cursor
from vitals.kernel.timeintervals import TimeInterval

CONFIG = config.parse(
    """
route:
  receiver: oncall
  group_by: [sla, slice]
  group_wait: 30s
receivers:
  - name: oncall
    console_configs: [{}]
alerting:
  objective_alerts: false
  stale_after: null
"""
)


def make(engine: Engine, clock: FakeClock) -> tuple[SqlStore, AlertEngine]:
    store = SqlStore(engine)
    return store, AlertEngine(store, lambda: CONFIG, clock)


def test_state_survives_a_restart_and_nothing_is_processed_twice(engine: Engine) -> None:
    clock = FakeClock(T0)
    insert_evaluations(engine, [evaluation(at=T0, burn_rates=[burn(firing=True)])])
    store, alerting = make(engine, clock)
    report = alerting.evaluate()
    assert report.evaluations == 1 and report.events["fired"] == 1
    alerting.plan()  # opens the group
    # "restart": new objects over the same database
    store, alerting = make(engine, clock)
    assert alerting.evaluate().evaluations == 0  # the watermark was committed with the alerts
    (alert,) = store.open_alerts()
    assert alert.state == "firing" and alert.started_at == T0 and alert.version == 1
    clock.advance(30)
    first = alerting.plan()
    assert [(n.action, n.kind) for n in first.notifications] == [("post", "firing")]
    store, alerting = make(engine, clock)
    assert alerting.plan().notifications == []  # the decision was committed with the outbox row
    (row,) = store.outbox_rows(None, 10)
    assert row.status == "pending" and row.notification.kind == "firing"
    assert row.notification.alerts[0].fingerprint == alert.fingerprint
    # later evaluations continue from the watermark
    insert_evaluations(engine, [evaluation(at=T0 + 60, burn_rates=[burn(firing=False)])])
    assert alerting.evaluate().events["cleared"] == 1


class AckInTheMiddle(SqlStore):
    """Acknowledges through another connection while the evaluator is between read and write."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.raced = False

    def commit(self, *, alerts: Sequence[Alert] = (), events: Sequence[AlertEvent] = (), **kw: Any) -> None:
        if not self.raced and alerts and any(a.id is not None for a in alerts):
            self.raced = True
            actions.acknowledge(
                SqlStore(self.engine), alerts[0].fingerprint, "carol", source="cli", now=T0 + 65
            )
        super().commit(alerts=alerts, events=events, **kw)


def test_a_concurrent_acknowledgement_is_never_lost(engine: Engine) -> None:
    clock = FakeClock(T0)
    insert_evaluations(engine, [evaluation(at=T0, burn_rates=[burn(firing=True)])])
    make(engine, clock)[1].evaluate()
    insert_evaluations(engine, [evaluation(at=T0 + 60, burn_rates=[burn(firing=True, rate=30.0)])])
    racing = AckInTheMiddle(engine)
    AlertEngine(racing, lambda: CONFIG, clock).evaluate()
    assert racing.raced
    (alert,) = SqlStore(engine).open_alerts()
    assert alert.acknowledged_by == "carol"  # kept: the evaluator retried on top of it
    assert alert.figures.burn_rate == 30.0  # and its own change landed too


def test_stale_versions_conflict(engine: Engine) -> None:
    clock = FakeClock(T0)
    insert_evaluations(engine, [evaluation(at=T0, burn_rates=[burn(firing=True)])])
    store, alerting = make(engine, clock)
    alerting.evaluate()
    (alert,) = store.open_alerts()
    actions.acknowledge(store, alert.fingerprint, "dave", source="cli", now=T0 + 1)
    with pytest.raises(Conflict):
        store.commit(alerts=[alert], now=T0 + 2)


def test_outbox_claims_are_exclusive_and_leases_expire(engine: Engine) -> None:
    clock = FakeClock(T0)
    insert_evaluations(engine, [evaluation(at=T0, burn_rates=[burn(firing=True)])])
    store, alerting = make(engine, clock)
    alerting.evaluate()
    alerting.plan()
    clock.advance(30)
    alerting.plan()
    (head,) = store.outbox_heads(10)
    first = store.outbox_claim(head, "host:1:a", T0 + 31, 60)
    assert first is not None and first.status == "sending"
    assert store.outbox_claim(head, "host:2:b", T0 + 31, 60) is None  # same observed state: refused
    (again,) = store.outbox_heads(10)
    assert again.lease_owner == "host:1:a" and again.lease_until == pytest.approx(T0 + 91)
    second = store.outbox_claim(again, "host:2:b", T0 + 92, 60)  # taken over after the lease
    assert second is not None and second.lease_owner == "host:2:b"
    started = store.outbox_start_attempt(second, T0 + 92)
    store.outbox_complete(started, {"channel": "C1", "ts": "1.000001"}, T0 + 93)
    assert store.outbox_heads(10) == []
    done = store.outbox_get(head.key)
    assert done is not None and done.status == "sent" and done.result == {"channel": "C1", "ts": "1.000001"}
    assert done.attempts == 1 and done.attempt_started_at is None


def test_duplicate_outbox_keys_are_refused(engine: Engine) -> None:
    clock = FakeClock(T0)
    insert_evaluations(engine, [evaluation(at=T0, burn_rates=[burn(firing=True)])])
    store, alerting = make(engine, clock)
    alerting.evaluate()
    alerting.plan()
    clock.advance(30)
    alerting.plan()
    (row,) = store.outbox_rows(None, 10)
    with pytest.raises(Conflict):
        store.commit_plan([], [row], T0 + 40)


def test_silences_expire_on_resolve_and_everything_is_audited(engine: Engine) -> None:
    clock = FakeClock(T0)
    store, alerting = make(engine, clock)
    sid = actions.create_silence(
        store,
        ['sla="gl-posting-errors"'],
        starts_at=None,
        ends_at=T0 + 86400,
        author="erin",
        comment="ERP vendor patch",
        now=T0,
        source="cli",
        expire_on_resolve=True,
    )
    other = actions.create_silence(
        store,
        ['sla="charge-lag"'],
        starts_at=None,
        ends_at=T0 + 86400,
        author="erin",
        comment="x",
        now=T0,
        source="cli",
    )
    insert_evaluations(engine, [evaluation(at=T0, burn_rates=[burn(firing=True)])])
    alerting.evaluate()
    (alert,) = store.open_alerts()
    assert alert.state == "suppressed" and alert.suppressed_by == (f"silence:{sid}",)
    silence = store.get_silence(sid)
    assert silence is not None and silence.matched_any
    insert_evaluations(engine, [evaluation(at=T0 + 60, burn_rates=[burn(firing=False)])])
    clock.advance(60)
    alerting.evaluate()
    clock.advance(600)
    alerting.evaluate()  # resolves; nothing else matches the silence: it expires
    expired = store.get_silence(sid)
    assert expired is not None and expired.status(clock.now) == "expired"
    assert expired.expired_by == "vitals (expire on resolve)"
    untouched = store.get_silence(other)
    assert untouched is not None and untouched.status(clock.now) == "active"  # never matched anything
    actions.expire_silence(store, other, "frank", source="api", now=clock.now)
    audit = store.audit_entries(10)
    assert [(a.action, a.actor, a.source) for a in audit] == [
        ("silence.expire", "frank", "api"),
        ("silence.create", "erin", "cli"),
        ("silence.create", "erin", "cli"),
    ]
    assert audit[-1].target == f"silence:{sid}" and audit[-1].detail["comment"] == "ERP vendor patch"
    with engine.connect() as conn:
        kinds = [r[0] for r in conn.execute(select(alert_events.c.kind).order_by(alert_events.c.id))]
    assert kinds == ["fired", "suppressed", "cleared", "resolved"]


def test_python_api_for_the_dashboard(engine: Engine) -> None:
    clock = FakeClock(T0)
    insert_evaluations(
        engine,
        [
            evaluation(
                at=T0,
                slice="hc.facility=north-campus",
                labels={"hc.facility": "north-campus"},
                burn_rates=[burn(firing=True)],
            )
        ],
    )
    make(engine, clock)[1].evaluate()
    (info,) = api.list_alerts(engine, recent=None)
    assert info.state == "firing" and info.priority == "P1" and info.facility == "north-campus"
    assert info.owner == "finance-systems" and info.labels["severity"] == "page"
    assert info.started.timestamp() == T0 and info.observed == pytest.approx(0.978)
    assert api.get_alert(engine, info.fingerprint) == api.get_alert(engine, info.id)
    acked = api.acknowledge(engine, info.id, "grace", "on it")
    assert acked.state == "acknowledged" and acked.acknowledged_by == "grace" and acked.ack_comment == "on it"
    with pytest.raises(api.NotFound):
        api.acknowledge(engine, "nope", "grace")
    with pytest.raises(api.SilenceError):
        api.create_silence(engine, ['sla=~".*"'], None, T0 + 10**9, "grace", "everything")
    sid = api.create_silence(
        engine,
        '{sla="gl-posting-errors", facility="north-campus"}',
        None,
        2_000_000_000,
        "grace",
        "Saturday ERP maintenance",
        time_intervals=[{"weekdays": ["saturday"], "times": [{"start_time": "02:00", "end_time": "04:00"}]}],
    )
    (silence,) = api.list_silences(engine)
    assert (
        silence.id == sid
        and silence.status == "active"
        and silence.time_intervals[0]["weekdays"] == ["saturday"]
    )
    assert silence.matchers == ('sla="gl-posting-errors"', 'facility="north-campus"')
    expired = api.expire_silence(engine, sid, "heidi")
    assert expired.status == "expired" and expired.expired_by == "heidi"
    assert api.list_silences(engine) == [] and len(api.list_silences(engine, include_expired=True)) == 1
    actions_seen = [(e.action, e.actor, e.source) for e in api.audit_log(engine)]
    assert actions_seen == [
        ("silence.expire", "heidi", "dashboard"),
        ("silence.create", "grace", "dashboard"),
        ("acknowledge", "grace", "dashboard"),
    ]
    history = api.alert_history(engine, info.id)
    assert [e.kind for e in history] == ["acknowledged", "fired"]
    assert api.outbox_status(engine) == {}


def test_list_alerts_filters(engine: Engine) -> None:
    clock = FakeClock(T0)
    _, alerting = make(engine, clock)
    insert_evaluations(engine, [evaluation(at=T0, burn_rates=[burn(firing=True)])])
    insert_evaluations(engine, [evaluation(at=T0, sla_id="charge-lag", burn_rates=[burn(firing=True)])])
    alerting.evaluate()
    assert {a.sla_id for a in api.list_alerts(engine, recent=None)} == {"gl-posting-errors", "charge-lag"}
    assert api.list_alerts(engine, states=["acknowledged"], recent=None) == []
    assert len(api.list_alerts(engine, states=None, recent=None)) == 2


# --- one contract for the in-memory and the SQL store ------------------------------------------


@pytest.fixture(params=CONTRACT_STORES)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlertStore]:
    """The in-memory store, and the SQL store on SQLite and on PostgreSQL."""
    with contract_engine(request.param, tmp_path) as db:
        yield MemoryStore() if db is None else SqlStore(db)


FP = "0123456789abcdef"
FIGURES = Figures(
    title="GL posting errors",
    kind="ratio",
    objective=0.999,
    sli=0.978,
    good=978.0,
    total=1000.0,
    window_label="7d",
    budget_remaining=-0.5,
    time_to_exhaustion_s=3600.0,
    at_risk_amount=1250.5,
    burn_rate=22.0,
    burn_threshold=14.4,
    evaluated_at=T0 + 0.5,
)
ALERT = Alert(
    fingerprint=FP,
    sla_id="gl-posting-errors",
    slice="hc.facility=north-campus",
    tier="fast",
    labels={"priority": "P1", "severity": "page", "owner": "finance-systems"},
    figures=FIGURES,
    started_at=T0,
    last_evaluated_at=T0 + 120.5,
    active=False,
    clear_since=T0 + 60.5,
    resolved_at=T0 + 120.5,
    acknowledged_by="carol",
    acknowledged_at=T0 + 30.5,
    ack_comment="on it",
    suppressed_by=("silence:3",),
    transitions=(T0, T0 + 60.5),
    flapping=True,
    hysteresis_holds=2,
    flap_holds=3,
    episode=4,
    page_seen_at=T0 + 90.5,
)
GROUP = GroupState(
    route_key="{}/0",
    group_key='{}:{sla="gl-posting-errors"}',
    group_ref="abcdef0123456789",
    receiver="oncall",
    group_labels={"sla": "gl-posting-errors"},
    open=True,
    episode=3,
    seq=7,
    opened_at=T0,
    next_flush_at=T0 + 300.5,
    notified_at=T0 + 30.5,
    notified_firing=frozenset({FP}),
    notified_resolved=frozenset({"fedcba9876543210"}),
    members=frozenset({FP, "fedcba9876543210"}),
    content="digest-1",
    parent_key="n0/oncall",
    escalation=EscalationState(level=1, round=2, started_at=T0 + 60.5, next_at=T0 + 900.5),
    alerts=frozenset({FP, "fedcba9876543210", "0011223344556677"}),
    acknowledged_by="alice",
    acknowledged_at=T0 + 45.5,
    ack_comment="on it",
    urgency="page",
    escalated_posts=(("lead", "abcdef0123456789:3:5"),),
)
NOTIFICATION = Notification(
    key="n1",
    receiver="oncall",
    action="reply",
    kind="escalated",
    group_ref=GROUP.group_ref,
    group_key=GROUP.group_key,
    group_labels=GROUP.group_labels,
    alerts=(AlertView.of(ALERT, {"dashboard": "https://vitals.example.org/alerts/1"}),),
    created_at=T0 + 0.5,
    parent_key="n0",
    highlight=(FP,),
    note="level 2",
    broadcast=True,
    escalation={"level": 2},
    route_receiver="oncall",
    via_fallback_of="primary",
    urgency="ticket",
)
ITEM = OutboxItem(
    key="n1/oncall/slack_configs[0]",
    receiver="oncall",
    integration="slack_configs[0]",
    kind="slack_bot",
    action="reply",
    target="slack:abcd1234:#oncall",
    group_ref=GROUP.group_ref,
    notification=NOTIFICATION,
    parent_key="n0/oncall/slack_configs[0]",
    status="dead",
    attempts=5,
    not_before=T0 + 10.5,
    first_failure_at=T0 + 11.5,
    attempt_started_at=T0 + 12.5,
    lease_owner="host:1:a",
    lease_until=T0 + 70.5,
    last_error="HTTP 500",
    result={"channel": "C1", "ts": "1.000001"},
    fallback_of=41,
    created_at=T0 + 0.5,
    sent_at=T0 + 13.5,
)


def test_every_field_of_every_stored_value_round_trips(any_store: AlertStore) -> None:
    store = any_store
    for value in (ALERT, FIGURES, GROUP, NOTIFICATION, ITEM):
        assert_every_field_set(value, assigned=("id", "version"))

    store.commit(alerts=[ALERT], now=T0 + 121)
    stored = store.get_alert(FP)
    assert stored is not None and stored.id is not None and stored.version == 1
    assert replace(stored, id=None, version=0) == ALERT
    changed = replace(
        stored, ack_comment="handed over", transitions=(T0 + 1.5,), figures=replace(FIGURES, sli=0.5)
    )
    store.commit(alerts=[changed], now=T0 + 122)
    assert store.get_alert(FP) == replace(changed, version=2)  # an update writes every field too

    event = AlertEvent(FP, T0 + 1.5, "acknowledged", actor="carol", detail={"comment": "on it"})
    assert_every_field_set(event)
    store.commit(events=[event], now=T0 + 2)
    assert store.events_for(FP, 10) == [event]

    entry = AuditEntry(
        T0 + 2.5, "carol", "acknowledge", f"alert:{FP}", "api", remote="10.0.0.7", detail={"comment": "on it"}
    )
    store.add_audit(entry)
    (audited,) = store.audit_entries(10)
    assert audited.id is not None and replace(audited, id=None) == entry
    assert_every_field_set(audited)

    # A new silence has matched nothing and was expired by no one; the evaluator records both.
    silence = Silence(
        id=0,
        matchers=tuple(parse_matcher_list(['sla="gl-posting-errors"', 'facility=~"north.*"'])),
        starts_at=T0,
        ends_at=T0 + 3600,
        created_by="erin",
        comment="ERP vendor patch",
        created_at=T0 - 0.5,
        expire_on_resolve=True,
        time_intervals=(
            TimeInterval.from_json(
                {
                    "weekdays": ["saturday"],
                    "times": [{"start_time": "02:00", "end_time": "04:00"}],
                    "location": "Europe/Berlin",
                }
            ),
        ),
    )
    sid = store.add_silence(silence, "cli", replace(entry, action="silence.create"))
    store.commit(silences_matched=[sid], silences_expired=[(sid, "frank", T0 + 1800.5)], now=T0 + 1800.5)
    expected = replace(silence, id=sid, matched_any=True, expired_by="frank", ends_at=T0 + 1800.5)
    assert store.get_silence(sid) == expected
    assert_every_field_set(expected)

    store.commit_plan([GROUP], [ITEM], T0 + 3)
    group = store.groups()[GROUP.group_ref]
    assert group.id is not None and group.version == 1 and replace(group, id=None, version=0) == GROUP
    moved = replace(group, seq=8, notified_firing=frozenset(), escalation=None)
    store.commit_plan([moved], [], T0 + 4)
    assert store.groups()[GROUP.group_ref] == replace(moved, version=2)
    item = store.outbox_get(ITEM.key)
    assert item is not None and item.id is not None and replace(item, id=None) == ITEM


def test_outbox_deliveries_move_through_the_same_states(any_store: AlertStore) -> None:
    store = any_store
    first = replace(
        ITEM,
        status="pending",
        attempts=0,
        first_failure_at=None,
        attempt_started_at=None,
        lease_owner=None,
        lease_until=None,
        last_error=None,
        result=None,
        sent_at=None,
    )
    second = replace(first, key="n2/oncall/webhook_configs[0]", target="webhook:oncall/webhook_configs[0]")
    store.commit_plan([], [first, second], T0)
    head, other = store.outbox_heads(10)

    claimed = store.outbox_claim(head, "host:1:a", T0 + 20, 30.5)
    assert claimed is not None and (claimed.status, claimed.lease_until) == ("sending", T0 + 50.5)
    assert store.outbox_claim(head, "host:2:b", T0 + 20, 30) is None  # it moved since it was read
    started = store.outbox_start_attempt(claimed, T0 + 21.5)
    assert store.outbox_get(first.key) == started and started.attempts == 1
    store.outbox_retry(started, T0 + 40.5, "HTTP 500", T0 + 21.5, uncertain=True)
    retried = store.outbox_get(first.key)
    assert retried == replace(
        started,
        status="pending",
        not_before=T0 + 40.5,
        last_error="HTTP 500",
        first_failure_at=T0 + 21.5,
        lease_owner=None,
        lease_until=None,
    )
    again = store.outbox_claim(retried, "host:2:b", T0 + 41, 30)
    assert again is not None
    store.outbox_complete(
        store.outbox_start_attempt(again, T0 + 42), {"channel": "C1", "ts": "2.5"}, T0 + 43.5
    )
    sent = store.outbox_get(first.key)
    assert sent == replace(
        again,
        status="sent",
        attempts=2,
        result={"channel": "C1", "ts": "2.5"},
        sent_at=T0 + 43.5,
        lease_owner=None,
        lease_until=None,
        attempt_started_at=None,
        last_error=None,
    )

    taken = store.outbox_claim(other, "host:1:a", T0 + 50, 30)
    assert taken is not None
    copy = replace(
        second, key=f"{second.key}>fallback/console_configs[0]", receiver="fallback", fallback_of=taken.id
    )
    store.outbox_fail_over(taken, "gave up", [copy], T0 + 51)
    store.outbox_fail_over(taken, "gave up", [copy], T0 + 52)  # the copy is enqueued once
    failed = store.outbox_get(second.key)
    assert failed == replace(
        taken, status="failed_over", last_error="gave up", lease_owner=None, lease_until=None
    )
    (enqueued,) = store.outbox_heads(10)
    assert enqueued.id is not None and replace(enqueued, id=None) == copy
    store.outbox_finish(enqueued, "dead", "no console")
    assert store.outbox_get(copy.key) == replace(enqueued, status="dead", last_error="no console")
    assert [r.status for r in store.outbox_rows(None, 10)] == ["sent", "failed_over", "dead"]


@pytest.mark.postgres
def test_an_evaluation_committed_after_a_higher_id_is_applied_once(pg_url: str) -> None:
    """PostgreSQL: the SLA engine's transaction A takes an evaluation id and commits after
    transaction B's higher one was read. The alert engine must still apply A's evaluation."""
    engine = create_engine(pg_url)
    migrate(engine)
    try:
        clock = FakeClock(T0)
        store, alerting = make(engine, clock)
        late = evaluation(at=T0, sla_id="charge-lag", burn_rates=[burn(firing=True)])
        with engine.connect() as a:
            tx = a.begin()
            a.execute(sla_evaluations.insert(), [evaluation_row(late)])
            insert_evaluations(engine, [evaluation(at=T0, burn_rates=[burn(firing=True)])])
            assert alerting.evaluate().evaluations == 1
            tx.commit()
        clock.advance(30)
        report = alerting.evaluate()
        assert report.evaluations == 1 and report.events["fired"] == 1
        assert {a.sla_id for a in store.open_alerts()} == {"gl-posting-errors", "charge-lag"}
        clock.advance(30)
        assert alerting.evaluate().evaluations == 0  # and only once
        clock.advance(300)  # past the horizon: the cursor folds into its watermark
        alerting.evaluate()
        assert store.evaluations_cursor().seen == ()
        assert store.evaluations_cursor().watermark == 2
    finally:
        engine.dispose()


def test_a_stored_watermark_from_before_the_cursor_is_migrated(store_url: str) -> None:
    from alembic import command

    from vitals.kernel.db import _alembic_config

    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "a0001")
            old = {"name": WATERMARK, "value": {"value": 41}, "updated_at_unix_nano": 0}
            conn.execute(alert_state.insert().values(old))
        migrate(engine)
        assert SqlStore(engine).evaluations_cursor() == Cursor(41)
    finally:
        engine.dispose()

"""The SQL store on SQLite and PostgreSQL: persistence, restart, concurrency, outbox claims."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from alerts import actions, api, config
from alerts.engine import AlertEngine
from alerts.model import Alert, AlertEvent
from alerts.sqlstore import WATERMARK, SqlStore
from alerts.store import Conflict
from alerts.tables import alert_events, alert_state
from slas.evaluation_rows import evaluation_row
from slas.tables import sla_evaluations
from tests.alerts.factories import T0, burn, evaluation, insert_evaluations
from tests.alerts.harness import FakeClock
from vitals.kernel.follow import Cursor

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


@pytest.mark.postgres
def test_an_evaluation_committed_after_a_higher_id_is_applied_once(pg_url: str) -> None:
    """PostgreSQL: the SLA engine's transaction A takes an evaluation id and commits after
    transaction B's higher one was read. The alert engine must still apply A's evaluation."""
    from vitals.kernel.db import create_engine, migrate

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

    from vitals.kernel.db import _alembic_config, create_engine, migrate

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

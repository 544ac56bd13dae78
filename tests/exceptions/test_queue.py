"""The work queue over the real store (SQLite and PostgreSQL): groups from stored error spans,
state changes, replays through a stand-in Mirth server and webhook, outcomes from later spans."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from access.audit import SqlAuditLog
from alerts.config import parse as parse_alerts
from alerts.routing import Route
from exceptions.config import ExceptionsConfig, parse
from exceptions.model import GroupChanged, GroupNotFound, TransitionError, transition
from exceptions.queue import build_groups, change_state, refresh, replay
from exceptions.sqlstore import SqlExceptionStore
from exceptions.standin import StandIn
from exceptions.store import FailedSpan, InMemoryExceptionStore
from tests.exceptions.support import ALERTS_YAML, T0, failed_charge, key_hash
from tests.support.factories import insert_spans, span_row


@pytest.fixture
def engine_standin() -> Iterator[tuple[StandIn, str]]:
    engine = StandIn(username="vitals", password="s3cret", channels=frozenset({"ch-1"}))
    url = engine.start()
    try:
        yield engine, url
    finally:
        engine.stop()


def _route() -> Route:
    return parse_alerts(ALERTS_YAML, read_secrets=False).route


def _config(url: str, tmp_path: Path, *, burst: int = 10, kind: str = "mirth") -> ExceptionsConfig:
    target = (
        f"    target: {{kind: mirth, url: '{url}/api', channel_id: ch-1, username: vitals, "
        "password: {env: MIRTH_PASSWORD}}\n"
        if kind == "mirth"
        else f"    target: {{kind: webhook, url: '{url}/webhook'}}\n"
    )
    text = (
        "interfaces:\n"
        "  - name: charges-to-erp\n"
        "    stage: charge.post\n"
        "    system: erp\n"
        "    labels: {owner: finance-systems}\n"
        f"{target}"
        f"    rate: {{per_minute: 6, burst: {burst}}}\n"
    )
    path = tmp_path / "exceptions.yaml"
    path.write_text(text)
    return parse(text, path, {"MIRTH_PASSWORD": "s3cret"})


def _seed(engine: Engine) -> None:
    rows = [failed_charge(i, at=T0 + i * 60) for i in range(3)]
    claim = span_row(
        name="payer.claim.submit",
        start_s=T0 + 30,
        status="error",
        attributes={"hc.stage": "claim.submit", "hc.system": "payer", "hc.amount": 55.5},
        trace_id="ab" * 16,
    )
    claim["status_message"] = "payer timeout after 30000 ms"
    ok = failed_charge(9, at=T0, status="ok")
    insert_spans(engine, [*rows, claim, ok])


def test_groups_come_from_the_stored_error_spans(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    store = SqlExceptionStore(engine)
    config = _config("http://127.0.0.1:9", tmp_path)
    groups = refresh(store, _route(), config, now=T0 + 3600)
    assert [(g.stage, g.count) for g in groups] == [("charge.post", 3), ("claim.submit", 1)]
    charges, claims = groups
    assert charges.message == "ERP rejected charge <n>: GL account <value> closed"
    assert (charges.first_seen, charges.last_seen, charges.amount) == (T0, T0 + 120, 300.0)
    assert (charges.team, charges.interface, charges.state) == ("finance-systems", "charges-to-erp", "new")
    assert (charges.workflow, charges.facility) == ("charge-capture", "north")
    assert (claims.team, claims.interface, claims.amount) == ("revenue-cycle", "", 55.5)
    assert store.group(charges.id) == charges
    # A second refresh keeps the figures and the state.
    change_state(store, charges.id, "assign", actor="ana", source="cli", now=T0 + 3700, owner="bob")
    again = refresh(store, _route(), config, now=T0 + 3800)
    assert again[0].count == 3 and (again[0].state, again[0].owner, again[0].state_by) == (
        "assigned",
        "bob",
        "ana",
    )


def test_replay_through_mirth_is_traced_audited_and_its_outcome_read_from_later_spans(
    engine: Engine, tmp_path: Path, engine_standin: tuple[StandIn, str]
) -> None:
    standin, url = engine_standin
    _seed(engine)
    store = SqlExceptionStore(engine, remote="10.0.0.7")
    config = _config(url, tmp_path)
    group = refresh(store, _route(), config, now=T0 + 3600)[0]
    report = replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3600)
    assert report.count("sent") == 3 and report.deferred == 0
    assert report.group.state == "replaying" and report.group.replayed == 3
    assert standin.logins == 1
    paths = sorted(r.path for r in standin.received)
    assert paths == [f"/api/channels/ch-1/messages/{1000 + i}/_reprocess" for i in range(3)]
    for request in standin.received:
        trace = request.headers["x-vitals-replay-of"].split("/")[0]
        assert request.headers["traceparent"].startswith(f"00-{trace}-")
        assert request.query == {"replace": ["false"], "filterDestinations": ["false"]}
    attempts = store.attempts(group_id=group.id)
    assert {a.key_hash for a in attempts} == {key_hash(f"charge-{i}") for i in range(3)}
    assert all(a.outcome == "pending" and a.target == "mirth" for a in attempts)
    entries = SqlAuditLog(engine).query(action="exception.replay")
    assert len(entries) == 1
    assert (entries[0].actor, entries[0].target, entries[0].remote) == (
        "ana",
        f"exception:{group.id}",
        "10.0.0.7",
    )
    assert entries[0].detail["sent"] == 3
    # The engine processes two of them again: one goes through, one fails the same way.
    insert_spans(engine, [failed_charge(0, at=T0 + 3700, status="ok"), failed_charge(1, at=T0 + 3710)])
    after = refresh(store, _route(), config, now=T0 + 3800)[0]
    assert (after.replayed, after.succeeded, after.failed_again) == (3, 1, 1)
    assert after.count == 3  # the failed-again span belongs to a transaction already counted
    # A second replay skips what succeeded or is still pending; only the one that failed again...
    outcomes = {a.trace_id: a.outcome for a in store.attempts(group_id=group.id)}
    assert sorted(outcomes.values()) == ["failed_again", "pending", "succeeded"]
    second = replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3900)
    assert [a.trace_id for a in second.attempts] == [f"{1:032x}"] and second.skipped == 2


def test_replays_are_rate_limited_per_target(
    engine: Engine, tmp_path: Path, engine_standin: tuple[StandIn, str]
) -> None:
    standin, url = engine_standin
    _seed(engine)
    store = SqlExceptionStore(engine)
    config = _config(url, tmp_path, burst=2)
    group = refresh(store, _route(), config, now=T0 + 3600)[0]
    first = replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3600)
    assert (first.count("sent"), first.deferred) == (2, 1)
    at_once = replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3601)
    assert (len(at_once.attempts), at_once.deferred) == (0, 1)
    later = replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3610)  # 6/min: 10 s
    assert (later.count("sent"), later.deferred) == (1, 0)
    assert len(standin.received) == 3


def test_a_down_engine_is_an_error_attempt_and_the_webhook_gets_references_only(
    engine: Engine, tmp_path: Path, engine_standin: tuple[StandIn, str]
) -> None:
    standin, url = engine_standin
    _seed(engine)
    store = SqlExceptionStore(engine)
    config = _config(url, tmp_path, kind="webhook")
    group = refresh(store, _route(), config, now=T0 + 3600)[0]
    standin.down = True
    down = replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3600, limit=1)
    assert down.count("error") == 1 and down.attempts[0].result.startswith("HTTP 503")
    standin.down = False
    ok = replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3700)
    assert ok.count("sent") == 3  # the errored one is tried again
    body = standin.received[0].body
    assert set(body) == {
        "interface",
        "group",
        "stage",
        "system",
        "trace_id",
        "span_id",
        "keys",
        "message_id",
        "traceparent",
    }
    assert body["keys"] == {"charge_id": key_hash("charge-0")}
    assert body["traceparent"] == standin.received[0].headers["traceparent"]
    assert "GL account" not in str(body)  # no message text, no payload


def test_state_changes_are_audited_and_invalid_ones_refused(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    store = SqlExceptionStore(engine)
    config = _config("http://127.0.0.1:9", tmp_path)
    group = refresh(store, _route(), config, now=T0 + 3600)[0]
    change_state(store, group.id, "resolve", actor="ana", source="api", now=T0 + 3700, comment="GL reopened")
    with pytest.raises(TransitionError, match="is resolved"):
        replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3800)
    with pytest.raises(GroupNotFound):
        change_state(store, "nope", "resolve", actor="ana", source="api", now=T0)
    (entry,) = SqlAuditLog(engine).query(action="exception.resolve")
    assert entry.detail == {"from": "new", "to": "resolved", "comment": "GL reopened"}
    # It fails again after it was resolved: the next refresh reopens it.
    insert_spans(engine, [failed_charge(7, at=T0 + 3750)])
    reopened = refresh(store, _route(), config, now=T0 + 3800)[0]
    assert (reopened.state, reopened.state_by, reopened.count) == ("new", "system", 4)


def test_a_group_without_an_interface_cannot_be_replayed(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    store = SqlExceptionStore(engine)
    config = _config("http://127.0.0.1:9", tmp_path)
    claims = refresh(store, _route(), config, now=T0 + 3600)[1]
    with pytest.raises(TransitionError, match=r"add an interface for stage 'claim\.submit'"):
        replay(store, config, claims.id, actor="ana", source="cli", now=T0 + 3600)


def test_the_in_memory_store_behaves_like_the_sql_one(tmp_path: Path) -> None:
    store = InMemoryExceptionStore()
    store.spans = [
        FailedSpan(f"{i:032x}", f"{i:016x}", "charge.post", "erp", f"charge {i} rejected", T0 + i, 10.0)
        for i in range(4)
    ]
    config = _config("http://127.0.0.1:9", tmp_path)
    (group,) = refresh(store, _route(), config, now=T0 + 60)
    assert (group.count, group.amount, group.team) == (4, 40.0, "finance-systems")
    change_state(store, group.id, "ignore", actor="ana", source="cli", now=T0 + 70)
    assert store.audit[0].action == "exception.ignore"


def test_a_group_whose_failures_left_the_window_leaves_the_queue_but_stays_readable(tmp_path: Path) -> None:
    store = InMemoryExceptionStore()
    store.spans = [
        FailedSpan(f"{i:032x}", f"{i:016x}", "charge.post", "erp", "rejected", T0 + i) for i in range(2)
    ]
    config = _config("http://127.0.0.1:9", tmp_path)
    (group,) = refresh(store, _route(), config, now=T0 + 60)
    assert refresh(store, _route(), config, now=T0 + config.window + 3600) == []
    assert store.group(group.id) == group


def test_a_refresh_never_overwrites_a_state_change_made_while_it_computed(
    engine: Engine, tmp_path: Path
) -> None:
    _seed(engine)
    store = SqlExceptionStore(engine)
    config = _config("http://127.0.0.1:9", tmp_path)
    route = _route()
    group = refresh(store, route, config, now=T0 + 3600)[0]
    # A refresh reads the groups (all new) ...
    stale = build_groups(
        store.failed_spans(T0), previous={}, attempts=[], route=route, config=config, now=T0 + 3700
    )
    # ... someone assigns meanwhile ...
    change_state(store, group.id, "assign", actor="ana", source="cli", now=T0 + 3650, owner="bob")
    # ... and the refresh writes what it computed: the figures, not the state it read.
    store.save_groups(stale)
    kept = store.group(group.id)
    assert kept is not None and (kept.state, kept.owner, kept.state_by) == ("assigned", "bob", "ana")


def test_a_change_from_a_stale_read_is_refused(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    store = SqlExceptionStore(engine)
    read = refresh(store, _route(), _config("http://127.0.0.1:9", tmp_path), now=T0 + 3600)[0]
    change_state(store, read.id, "assign", actor="ana", source="cli", now=T0 + 3650, owner="bob")
    late = transition(read, "ignored", actor="cy", now=T0 + 3660)
    with pytest.raises(GroupChanged, match="changed meanwhile"):
        store.update_group(late, [], before=read)
    kept = store.group(read.id)
    assert kept is not None and (kept.state, kept.owner) == ("assigned", "bob")


def test_a_replay_while_the_engine_is_down_fails_to_send_and_succeeds_once_it_is_back(
    engine: Engine, tmp_path: Path
) -> None:
    """The demo's planted incident: the stand-in is down for a window on its clock."""
    clock = [1000.0]
    standin = StandIn(clock=lambda: clock[0])
    url = standin.start()
    try:
        _seed(engine)
        store = SqlExceptionStore(engine)
        config = _config(url, tmp_path, kind="webhook")
        group = refresh(store, _route(), config, now=T0 + 3600)[0]
        assert standin.go_down(300) == 1300.0
        down = replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3600, limit=1)
        (failed,) = down.attempts
        assert failed.status == "error"
        assert failed.result == "HTTP 503: engine unavailable: the stand-in engine is down (back in 300 s)"
        assert (down.group.replayed, standin.received) == (0, [])
        clock[0] = 1299.0  # still down a second before the end of the window
        assert (
            replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3610, limit=1).count("error")
            == 1
        )
        clock[0] = 1300.0
        assert standin.down_for() == 0.0
        back = replay(store, config, group.id, actor="ana", source="cli", now=T0 + 3620, limit=1)
        assert back.count("sent") == 1 and back.attempts[0].trace_id == failed.trace_id
        assert [r.body["trace_id"] for r in standin.received] == [failed.trace_id]
        # The engine processes it again and reports the transaction (as the demo's stand-in does).
        (row,) = [
            failed_charge(i, at=T0 + 3630, status="ok") for i in range(3) if f"{i:032x}" == failed.trace_id
        ]
        insert_spans(engine, [row])
        after = refresh(store, _route(), config, now=T0 + 3700)[0]
        assert (after.replayed, after.succeeded, after.failed_again) == (1, 1, 0)
    finally:
        standin.stop()

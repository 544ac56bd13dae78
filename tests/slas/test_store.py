"""The engine on the real store (SQLite and PostgreSQL): same answers as in memory, durable, exact."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.tables import spans as spans_table
from slas.engine import SlaEngine
from slas.lag import Counted, LagObject
from slas.model import Evaluation
from slas.records import PointRecord, SpanRecord
from slas.source import SqlTelemetrySource
from slas.spec import EvaluationSettings
from slas.state import Commit, Definition, StoredObject
from slas.store import MemoryStateStore, SqlStateStore, StateStore
from slas.tables import sla_cursors, sla_definitions, sla_evaluations, sla_lag_objects, sla_minutes
from tests.slas.helpers import T0, Clock, Timeline, engine_for, make_sla
from tests.slas.scenario import END, as_dict, scenario_records, scenario_slas
from tests.support.factories import insert_metric_points, insert_spans, metric_row, span_row
from tests.support.fields import assert_every_field_set
from tests.support.stores import CONTRACT_STORES, contract_engine
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.units import MINUTE_NS, NS


def store_spans(engine: Engine, records: Iterable[SpanRecord]) -> None:
    rows = []
    for r in records:
        attributes = {k: v for k, v in r.attributes.items() if k != "service.name"}
        rows.append(
            span_row(
                name=r.name,
                service=r.service,
                start_s=r.event_time_ns / NS,
                duration_s=r.duration_ns / NS,
                status=r.status,
                kind=r.kind,
                attributes=attributes,
            )
        )
    if rows:
        insert_spans(engine, rows)


def store_points(engine: Engine, records: Iterable[PointRecord]) -> None:
    rows = [
        metric_row(name=p.name, value=p.value or 0.0, time_s=p.time_ns / NS, attributes=p.attributes)
        for p in records
    ]
    if rows:
        insert_metric_points(engine, rows)


def sql_engine(db: Engine, clock: Clock, horizon_s: float = 0.0) -> SlaEngine:
    return SlaEngine(
        scenario_slas(),
        SqlStateStore(db),
        SqlTelemetrySource(db),
        clock=clock,
        settings=EvaluationSettings(batch_rows=500),
        watermark_horizon_s=horizon_s,
    )


def memory_expected() -> dict[tuple[str, str | None], Evaluation]:
    spans, points = scenario_records()
    engine, _, _, _ = engine_for(scenario_slas(), spans, points, at=END)
    return as_dict(engine.tick().evaluations)


def test_incremental_sql_ticks_equal_the_in_memory_engine_and_survive_a_restart(engine: Engine) -> None:
    spans, points = scenario_records()
    clock = Clock(0)
    first = sql_engine(engine, clock)
    chunks = 4
    for i in range(chunks // 2):
        store_spans(engine, spans[i * len(spans) // chunks : (i + 1) * len(spans) // chunks])
        store_points(engine, points[i * len(points) // chunks : (i + 1) * len(points) // chunks])
        clock.set(END * (i + 1) / chunks)
        first.tick()
    second = sql_engine(engine, clock)  # a restart: a new process on the same store
    for i in range(chunks // 2, chunks):
        store_spans(engine, spans[i * len(spans) // chunks : (i + 1) * len(spans) // chunks])
        store_points(engine, points[i * len(points) // chunks : (i + 1) * len(points) // chunks])
        clock.set(END * (i + 1) / chunks)
        second.tick()
    clock.set(END)
    result = second.tick()
    assert as_dict(result.evaluations) == memory_expected()
    with engine.connect() as conn:
        rows = (
            conn.execute(select(sla_evaluations).where(sla_evaluations.c.evaluated_at_unix_nano == clock.now))
            .mappings()
            .all()
        )
        (watermark,) = conn.execute(
            select(sla_cursors.c.watermark).where(sla_cursors.c.source == "spans")
        ).one()
        (span_count,) = conn.execute(select(func.max(spans_table.c.id))).one()
        states = dict(conn.execute(select(sla_definitions.c.sla_id, sla_definitions.c.state)).all())
    assert watermark == span_count
    assert set(states.values()) == {"ready"}
    by_key = {(r["sla_id"], r["slice"]): r for r in rows}
    assert len(by_key) == len(result.evaluations)
    whole = by_key[("charge-lag", "")]
    expected = as_dict(result.evaluations)[("charge-lag", None)]
    assert (whole["good"], whole["total"], whole["status"], whole["at_risk_amount"]) == (
        expected.good,
        expected.total,
        expected.status,
        expected.at_risk_amount,
    )
    assert [b["name"] for b in whole["burn_rates"]] == ["2m/1m", "12m/1m", "48m/4m", "2h24m/12m"]
    assert by_key[("adt-silence", "hc.facility=south-campus")]["labels"] == {"hc.facility": "south-campus"}


def test_sql_state_matches_the_in_memory_state(engine: Engine) -> None:
    spans, points = scenario_records()
    store_spans(engine, spans)
    store_points(engine, points)
    clock = Clock(END)
    sql_engine(engine, clock).tick()
    mem_engine, _, _, memory = engine_for(scenario_slas(), spans, points, at=END)
    mem_engine.tick()
    with engine.connect() as conn:
        minutes: dict[tuple[str, str, int], tuple[int, int, float]] = {
            (r.sla_id, r.slice, r.minute_unix_nano // (60 * NS)): (r.events, r.bad, r.bad_amount)
            for r in conn.execute(select(sla_minutes)).all()
            if r.events or r.bad or r.bad_amount
        }
        objects = {(r.sla_id, r.key_hash): r.state for r in conn.execute(select(sla_lag_objects)).all()}
    in_memory = {k: v for k, v in memory.minutes.items() if v != (0, 0, 0.0)}
    # event counts exactly, the summed float amounts within approx
    assert {k: (events, bad) for k, (events, bad, _) in minutes.items()} == {
        k: (events, bad) for k, (events, bad, _) in in_memory.items()
    }
    for key, (_, _, bad_amount) in minutes.items():
        assert in_memory[key][2] == pytest.approx(bad_amount), key
    assert objects == {key: stored.obj.state for key, stored in memory.objects.items()}


def test_lag_objects_persist_and_are_swept_when_due(engine: Engine) -> None:
    tl = Timeline()
    sla = make_sla(
        objective="50%",
        sli={"lag": {"from": {"stage": "a"}, "to": {"stage": "b"}, "key": "claim", "within": "1h"}},
    )
    store_spans(engine, [tl.span(0, hc__stage="a", hc__key__claim="k1", hc__amount=10.5)])
    clock = Clock(30 * 60)
    first = SlaEngine([sla], SqlStateStore(engine), SqlTelemetrySource(engine), clock=clock)
    assert first.tick().evaluations[0].total == 0
    clock.set(2 * 3600)
    restarted = SlaEngine([sla], SqlStateStore(engine), SqlTelemetrySource(engine), clock=clock)
    ev = restarted.tick().evaluations[0]
    assert (ev.good, ev.total, ev.at_risk_amount) == (0, 1, 10.5)


@pytest.mark.postgres
def test_postgres_concurrent_writers_committing_out_of_order(pg_url: str) -> None:
    db = create_engine(pg_url)
    migrate(db)
    tl = Timeline()
    sla = make_sla(sli={"ratio": {"total": {"span": "op"}, "bad": {"status": "error"}}})
    clock = Clock(600)
    sla_engine = SlaEngine(
        [sla], SqlStateStore(db), SqlTelemetrySource(db), clock=clock, watermark_horizon_s=60
    )
    slow = db.connect()
    slow_tx = slow.begin()
    slow.execute(
        spans_table.insert(), [span_row(name="op", start_s=T0 + 100, status="error")]
    )  # takes an id, waits
    store_spans(db, [tl.span(110), tl.span(120)])  # later ids, committed first
    assert sla_engine.tick().evaluations[0].total == 2
    slow_tx.commit()
    slow.close()
    clock.set(610)
    ev = sla_engine.tick().evaluations[0]
    assert (ev.good, ev.total) == (2, 3)
    clock.set(700)  # once every id was seen a horizon ago the watermark moves past them all
    sla_engine.tick()
    with db.connect() as conn:
        watermark, seen = conn.execute(
            select(sla_cursors.c.watermark, sla_cursors.c.seen).where(sla_cursors.c.source == "spans")
        ).one()
        (top,) = conn.execute(select(func.max(spans_table.c.id))).one()
    assert (watermark, seen) == (top, [])
    db.dispose()


# --- one contract for the in-memory and the SQL state store ------------------------------------


@pytest.fixture(params=CONTRACT_STORES)
def any_state_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """The in-memory state store, and the SQL one on SQLite and on PostgreSQL."""
    with contract_engine(request.param, tmp_path) as db:
        yield MemoryStateStore() if db is None else SqlStateStore(db)


def commit(
    store: StateStore, now_ns: int, definitions: list[Definition], objects: list[StoredObject]
) -> None:
    meta = store.load_meta()
    change = Commit(meta.generation, now_ns, meta.cursors, objects=objects, definitions=definitions)
    assert store.commit(change) == meta.generation + 1


def test_every_field_of_lag_objects_and_definitions_round_trips(any_state_store: StateStore) -> None:
    store = any_state_store
    now = T0 * NS
    counted = LagObject(
        sla_id="charge-lag",
        key="k-counted",
        start_ns=now - 7200 * NS,
        end_ns=now - 60 * NS,
        slice="hc.facility=north-campus",
        labels={"hc.facility": "north-campus"},
        amount=1250.5,
        counted=Counted("hc.facility=north-campus", now // MINUTE_NS - 60, True, 1250.5),
        facility="north-campus",
        service_line="cardiology",
        start_trace_id="a" * 32,
        end_trace_id="b" * 32,
    )
    assert_every_field_set(counted)
    pending = LagObject("charge-lag", "k-pending", start_ns=now - 600 * NS, amount=12.0)
    orphan = LagObject("charge-lag", "k-orphan", end_ns=now - 30 * NS)
    definition = Definition(
        sla_id="charge-lag",
        fingerprint="0123456789abcdef",
        state="backfilling",
        spans_todo=[(0, 10), (20, 35)],
        points_todo=[(5, 6)],
        definition={"objective": 0.99, "sli": {"lag": {"within": 3600}}},
        registered_at_ns=now + 1,
    )
    deadline = now + 3000 * NS
    commit(
        store,
        now,
        definitions=[definition],
        objects=[
            StoredObject(counted, deadline_ns=None, expires_ns=now + 86400 * NS),
            StoredObject(pending, deadline_ns=deadline, expires_ns=now + 86400 * NS),
            StoredObject(orphan, deadline_ns=None, expires_ns=now + 60 * NS),
        ],
    )
    assert store.load_meta().definitions == {"charge-lag": definition}
    keys = ["k-counted", "k-pending", "k-orphan"]
    assert store.load_objects("charge-lag", keys) == {o.key: o for o in (counted, pending, orphan)}
    assert [o.state for o in (counted, pending, orphan)] == ["bad", "pending", "orphan"]
    assert store.due_objects(deadline - 1, 10) == [] and store.due_objects(deadline, 10) == [pending]

    # Upserts: a late end turns the object good; the back-fill finishes; an expired orphan goes.
    good = replace(
        counted, end_ns=now - 3600 * NS, counted=Counted(counted.slice, now // MINUTE_NS - 60, False, 0.0)
    )
    ready = replace(definition, state="ready", spans_todo=[], points_todo=[])
    commit(store, now + NS, definitions=[ready], objects=[StoredObject(good, None, now + 86400 * NS)])
    store.prune(now + 61 * NS, minutes_before_ns=0, evaluations_before_ns=0)
    assert store.load_meta().definitions == {"charge-lag": ready}
    assert store.load_objects("charge-lag", keys) == {"k-counted": good, "k-pending": pending}

"""Lag objects: one table (``sla_lag_objects``), one writer (the SLA engine), two readers.

The SLA engine counts the objects into its lag SLIs (``SqlStateStore.load_objects`` and its
evaluations); the dashboard reads lag figures and late objects through ``slas.lag_history``.
Both must tell the same story about every object, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from slas import lag_history
from slas.engine import SlaEngine
from slas.service import engine_from, load_config_dir
from slas.store import SqlStateStore
from tests.dashboards import estate
from tests.support.factories import insert_spans, span_row
from vitals.kernel.units import NS

#: A fixed estate time (never the wall clock): 2026-11-23 05:20 UTC.
NOW_S = 1_795_500_000.0
WEEK_NS = 7 * 86400 * NS
#: The estate's two lag SLAs (tests/dashboards/estate.py): charges due in a day, implants in 15 minutes.
CHARGES = lag_history.LagScope("charge-lag", 86400)
IMPLANTS = lag_history.LagScope("implant-inventory-sync-lag", 15 * 60)


def _engine_at(engine: Engine, config_dir: Path, now_ns: int) -> SlaEngine:
    return engine_from(engine, load_config_dir(config_dir), clock=lambda: now_ns)


@dataclass(frozen=True)
class CaughtUp:
    """The dashboard's estate stored at ``NOW_S`` and the SLA engine caught up on it at its now."""

    config: Path
    est: estate.Estate
    now: int
    slas: SlaEngine

    @property
    def week(self) -> tuple[int, int]:
        """The charge-lag SLA's 7-day window up to now, and a minute more."""
        return self.now - WEEK_NS, self.now + 60 * NS


@pytest.fixture
def caught_up(engine: Engine, tmp_path: Path) -> CaughtUp:
    config = estate.write_config(tmp_path)
    est = estate.build(engine, NOW_S)
    now = int(est.now_s * NS)
    slas = _engine_at(engine, config, now)
    slas.catch_up()
    return CaughtUp(config, est, now, slas)


def test_the_engine_writes_one_object_per_charge_with_its_place_money_and_traces(
    engine: Engine, caught_up: CaughtUp
) -> None:
    est, now = caught_up.est, caught_up.now
    stored = SqlStateStore(engine).load_objects("charge-lag", [c.key for c in est.charges])
    assert len(stored) == len(est.charges)
    for charge in est.charges:
        obj = stored[charge.key]
        assert obj.start_ns == int(charge.documented_s * NS)
        assert obj.end_ns == (None if charge.posted_s is None else int(charge.posted_s * NS))
        assert (obj.amount, obj.facility, obj.service_line) == (
            charge.amount,
            charge.facility,
            charge.service_line,
        )
        assert obj.start_trace_id == charge.doc_trace
    late = lag_history.late_objects(engine, IMPLANTS, *caught_up.week, now_ns=now)
    figures = lag_history.lag_figures(engine, IMPLANTS, *caught_up.week, now_ns=now)
    assert figures.completed == len(est.implant_lags_s)  # disposables are not implants
    assert len(late) == sum(1 for lag in est.implant_lags_s if lag > 15 * 60)


def test_the_engine_and_the_dashboard_agree_on_every_object(engine: Engine, caught_up: CaughtUp) -> None:
    est, now, slas = caught_up.est, caught_up.now, caught_up.slas
    lo, hi = caught_up.week
    # The engine's reader: each object's counted state (a charge posted in time counts as good at
    # once, in the minute of its deadline, which may still be ahead).
    stored = SqlStateStore(engine).load_objects("charge-lag", [c.key for c in est.charges])
    bad = {k for k, o in stored.items() if o.state == "bad"}
    due = {k for k, o in stored.items() if o.counted and o.counted.minute * 60 * NS <= now}
    assert bad and due - bad and any(o.state == "pending" for o in stored.values())
    # The dashboard's reader: late objects and figures over the window.
    late = lag_history.late_objects(engine, CHARGES, lo, hi, now_ns=now)
    figures = lag_history.lag_figures(engine, CHARGES, lo, hi, now_ns=now)
    assert {o.key_hash for o in late} == bad == {c.key for c in est.late_charges(lo / NS, hi / NS)}
    assert figures.due == len(due) and figures.late == len(bad)
    # ... and the engine's evaluation of the SLA and of each facility's slice.
    evaluations = slas.evaluate(now, ids=["charge-lag"])
    whole = next(e for e in evaluations if e.slice is None)
    assert (whole.total, whole.total - whole.good) == (figures.due, figures.late)
    assert whole.at_risk_amount == figures.late_amount == sum(stored[k].amount or 0 for k in bad)
    for facility in estate.FACILITIES:
        mine = next(e for e in evaluations if e.labels == {"hc.facility": facility})
        here = lag_history.lag_figures(engine, replace(CHARGES, facility=facility), lo, hi, now_ns=now)
        assert (mine.total, mine.total - mine.good, mine.at_risk_amount) == (
            here.due,
            here.late,
            here.late_amount,
        ), facility


def test_objects_are_kept_as_long_as_the_rollups_not_only_the_engines_window(
    engine: Engine, caught_up: CaughtUp
) -> None:
    """Ten days on (past the 7-day window and its slack), the engine prunes; the late charges of
    that day are still listed, since the minutes they were counted in are still kept."""
    now = caught_up.now
    lo, hi = caught_up.week
    before = lag_history.late_objects(engine, CHARGES, lo, hi, now_ns=now)
    later = now + 10 * 86400 * NS
    _engine_at(engine, caught_up.config, later).tick()  # the first tick of an engine prunes
    after = lag_history.late_objects(engine, CHARGES, lo, hi, now_ns=now)
    assert before and after == before


def test_an_end_before_its_start_and_a_later_earlier_start(engine: Engine, tmp_path: Path) -> None:
    config = estate.write_config(tmp_path)
    key = estate.key_hash("x")
    at = [int(NOW_S * NS)]
    slas = engine_from(engine, load_config_dir(config), clock=lambda: at[0])

    def arrive(start_s: float, stage: str, **attributes: object) -> None:
        insert_spans(
            engine,
            [span_row(start_s=start_s, attributes={"hc.stage": stage, "hc.key.charge": key, **attributes})],
        )
        slas.catch_up()

    base = NOW_S - 86400
    arrive(base + 5000, "charge.posted", **{"hc.facility": "lakeside-asc"})
    arrive(base + 1000, "procedure.documented", **{"hc.amount": 9})
    arrive(base + 4000, "charge.posted")
    (obj,) = SqlStateStore(engine).load_objects("charge-lag", [key]).values()
    assert (obj.start_ns, obj.end_ns, obj.amount, obj.facility) == (
        int((base + 1000) * NS),
        int((base + 4000) * NS),
        9.0,
        "lakeside-asc",  # the end filled the place the start lacked
    )
    assert obj.state == "good"
    lakeside = replace(CHARGES, facility="lakeside-asc")
    completed = lag_history.lag_histogram(engine, lakeside, int(base * NS), int(NOW_S * NS), bucket_s=60)
    assert completed == [(3000.0, 1)]


def test_removing_a_lag_sla_removes_its_objects_for_both_readers(engine: Engine, caught_up: CaughtUp) -> None:
    est, now, slas = caught_up.est, caught_up.now, caught_up.slas
    lo, hi = caught_up.week

    def implants() -> int:
        return lag_history.lag_figures(engine, IMPLANTS, lo, hi, now_ns=now, with_lags=True).completed

    assert implants() == len(est.implant_lags_s)
    slas.set_slas([s for s in slas.slas.values() if s.id != "implant-inventory-sync-lag"])
    slas.catch_up()
    assert implants() == 0
    assert lag_history.lag_figures(engine, CHARGES, lo, hi, now_ns=now).completed > 0


def test_the_dashboard_keeps_no_copy_of_its_own(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert "sla_lag_objects" in tables and "dashboard_lag_objects" not in tables

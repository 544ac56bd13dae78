"""When a breach started (slas.breach), the SLA file's ``interface:``, and both through the engine.

The breach start is derived from the per-minute rollups only, so a store back-filled after the
fact, or an engine started in the middle of an incident, dates the breach as it happened.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from slas.breach import MIN_GAP_MINUTES, SPENT_GAP_MINUTES, BreachRule, breach_rule, breach_start_minute
from slas.engine import SlaEngine
from slas.evaluate import evaluate_sla
from slas.evaluation_rows import evaluation_from_row, evaluation_row
from slas.loading import load_sla_path
from slas.model import BurnRate, Evaluation
from slas.records import PointRecord, SpanRecord
from slas.series import MinuteSeries
from slas.source import SqlTelemetrySource
from slas.spec import SLA
from slas.store import SqlStateStore
from slas.tables import sla_evaluations
from tests.slas.helpers import T0, Clock, Timeline, make_sla
from tests.support.factories import insert_metric_points, insert_spans, metric_row, span_row
from tests.support.fields import assert_every_field_set
from vitals.kernel.configfile import ConfigError
from vitals.kernel.units import MINUTE_NS, NS

M0 = T0 // 60  # the minute of T0
PAGE = BreachRule(
    max_bad_share=0.01 * 14.4, max_gap=MIN_GAP_MINUTES, min_stretch_share=0.01
)  # 99% objective, 14.4x tier
OBJECTIVE = BreachRule(
    max_bad_share=0.01, max_gap=SPENT_GAP_MINUTES, min_stretch_share=0.01, dominant=True
)  # only the objective missed


def minutes(n: int, events: int = 100) -> tuple[list[float], list[float]]:
    """``n`` minutes of ``events`` good events each: (good, total)."""
    return [float(events)] * n, [float(events)] * n


def set_bad(good: list[float], total: list[float], at: Iterable[int], bad: float) -> None:
    for m in at:
        good[m] = total[m] - bad


def reference(good: list[float], total: list[float], rule: BreachRule) -> int | None:
    """The definition, minute by minute: walk back from the latest bad minute."""
    bad = [i for i, t in enumerate(total) if t > 0 and t - good[i] > rule.max_bad_share * t]
    if not bad:
        return None
    start = bad[-1]
    for earlier in reversed(bad[:-1]):
        stretch_bad = sum(total[i] - good[i] for i in range(earlier, start))
        stretch_total = sum(total[i] for i in range(earlier, start))
        if start - earlier - 1 > rule.max_gap or not stretch_bad > rule.min_stretch_share * stretch_total:
            break
        start = earlier
    return start


# -- the definition, on plain numbers -------------------------------------------------------------


def test_a_clean_outage_over_background_errors_starts_at_its_first_minute() -> None:
    good, total = minutes(240)
    set_bad(good, total, range(0, 200, 7), 1)  # background: one error in a hundred, every 7 minutes
    set_bad(good, total, range(200, 240), 60)  # the outage
    for rule in (PAGE, OBJECTIVE, BreachRule(0.01, 84, 0.01)):  # 1% a minute is not above 1%
        assert breach_start_minute(0, good, total, rule, 0, 239) == 200
    # With a threshold of 1 each background minute of 2 errors is bad, yet scattered ones 7 minutes
    # apart burn 2/700 as stretches and do not chain onto the outage even with an hour's gap.
    set_bad(good, total, range(0, 200, 7), 2)
    assert breach_start_minute(0, good, total, BreachRule(0.01, 84, 0.01), 0, 239) == 200


def test_gaps_of_good_or_empty_minutes_are_tolerated_up_to_the_rule() -> None:
    good, total = minutes(120)
    set_bad(good, total, range(60, 120), 50)
    set_bad(good, total, range(80, 85), 0)  # five good minutes inside the outage
    assert breach_start_minute(0, good, total, PAGE, 0, 119) == 60
    set_bad(good, total, range(80, 86), 0)  # six are more than the gap
    assert breach_start_minute(0, good, total, PAGE, 0, 119) == 86
    assert breach_start_minute(0, good, total, BreachRule(PAGE.max_bad_share, 12, 0.01), 0, 119) == 60
    for m in range(80, 86):  # empty minutes count as gaps too
        good[m] = total[m] = 0.0
    assert breach_start_minute(0, good, total, PAGE, 0, 119) == 86


def test_sparse_traffic_a_failing_event_every_few_minutes_is_one_breach() -> None:
    good, total = [0.0] * 120, [0.0] * 120
    for m in range(0, 120, 17):
        total[m] = good[m] = 1.0  # a trickle of good events
    for m in range(50, 120, 3):
        total[m], good[m] = 1.0, 0.0  # then every event fails
    assert breach_start_minute(0, good, total, PAGE, 0, 119) == 50


def test_the_range_bounds_the_search_and_nothing_bad_gives_none() -> None:
    good, total = minutes(100)
    set_bad(good, total, range(20, 100), 50)
    assert breach_start_minute(0, good, total, PAGE, 30, 99) == 30
    assert breach_start_minute(M0, good, total, PAGE, M0, M0 + 99) == M0 + 20  # absolute minutes
    assert breach_start_minute(0, good, total, PAGE, 0, 10) is None
    assert breach_start_minute(0, *minutes(100), PAGE, 0, 99) is None
    assert breach_start_minute(0, [], [], PAGE, 0, 99) is None


def test_a_spent_budget_without_a_burn_dates_the_incident_that_spent_it() -> None:
    good, total = minutes(1000)
    set_bad(good, total, range(100, 160), 40)  # yesterday's incident
    set_bad(good, total, range(400, 420), 40)  # a later, shorter one; quiet since
    set_bad(good, total, [900], 5)  # a stray bad minute an hour ago
    assert breach_start_minute(0, good, total, OBJECTIVE, 0, 999) == 100
    set_bad(good, total, range(400, 480), 40)  # the later one was the bigger
    assert breach_start_minute(0, good, total, OBJECTIVE, 0, 999) == 400


def test_a_run_longer_than_the_first_scan_is_followed_back() -> None:
    good, total = minutes(5000)
    set_bad(good, total, range(1000, 5000), 30)
    set_bad(good, total, range(1002, 5000, 4), 0)  # every fourth minute good
    assert breach_start_minute(0, good, total, PAGE, 0, 4999) == 1000


def test_the_fast_scan_agrees_with_the_definition_minute_by_minute() -> None:
    rng = random.Random(13)
    for _ in range(200):
        n = rng.randint(1, 900)
        total = [float(rng.choice([0, 0, 1, 3, 20, 100])) for _ in range(n)]
        good = [t - min(t, float(rng.choice([0, 0, 0, 0, 1, 5, 50]))) for t in total]
        budget = rng.choice([0.01, 0.05])
        rule = BreachRule(budget * rng.choice([1, 3, 14.4]), rng.choice([5, 12, 84]), budget)
        assert breach_start_minute(0, good, total, rule, 0, n - 1) == reference(good, total, rule)


def burn(threshold: float, short_minutes: int, firing: bool) -> BurnRate:
    return BurnRate(
        "x",
        3600.0,
        short_minutes * 60.0,
        threshold,
        None,
        None,
        "page" if threshold > 5 else "ticket",
        firing,
    )


def test_the_rule_is_the_lowest_threshold_tier_that_fires_else_the_objective() -> None:
    tiers = [burn(14.4, 2, True), burn(6, 7, True), burn(3, 28, False), burn(1, 84, False)]
    assert breach_rule(tiers, 0.99, 0.999) == BreachRule(0.01 * 6, 7, 0.01)
    assert breach_rule(tiers[:1], 0.99, 0.999) == BreachRule(0.01 * 14.4, MIN_GAP_MINUTES, 0.01)
    quiet = [replace(t, firing=False) for t in tiers]
    assert breach_rule(quiet, 0.99, 0.98) == OBJECTIVE  # spent, no burn
    assert breach_rule(quiet, 0.99, 0.995) is None
    assert breach_rule(quiet, 0.99, None) is None


# -- per SLI kind, through scoring and evaluation ---------------------------------------------------


def series(rows: dict[int, tuple[int, int]], labels: dict[str, str] | None = None) -> MinuteSeries:
    """A slice's rollups: minute offset from M0 -> (events, bad)."""
    out = MinuteSeries(labels=dict(labels or {}))
    for offset, (events, bad) in sorted(rows.items()):
        out.add(M0 + offset, events, bad, 0.0)
        out.note_first(M0 + offset)
    return out


def started(ev: Evaluation) -> int | None:
    """The breach start as minutes after T0."""
    return None if ev.breach_started_unix_nano is None else ev.breach_started_unix_nano // MINUTE_NS - M0


GAUGE = make_sla(
    id="queue-stuck",
    slice_by=["queue"],
    interface="{queue}",
    sli={"gauge": {"metric": "queue.stuck", "max": 0}},
)


def test_gauge_minutes_break_when_a_sample_is_out_of_bound() -> None:
    # 4 samples a minute; the queue is stuck from minute 130 (one bad sample first), and a lone
    # blip at minute 40 is a breach of its own, long over.
    rows = {m: (4, 0) for m in range(0, 180)}
    rows[40] = (4, 1)
    rows[130] = (4, 1)
    rows.update({m: (4, 4) for m in range(131, 180)})
    whole, part = evaluate_sla(GAUGE, {"queue=a": series(rows, {"queue": "a"})}, (T0 + 179 * 60 + 30) * NS)
    assert part.status == whole.status == "breach"
    assert started(part) == started(whole) == 130
    assert (part.interface, whole.interface) == ("a", None)


def test_freshness_breaks_when_the_silence_exceeds_max_age() -> None:
    sla = make_sla(
        interface="adt-inbound",
        min_events=1,
        sli={"freshness": {"select": {"service": "engine"}, "max_age": "15m"}},
    )
    rows = {m: (3, 0) for m in range(0, 100)}  # the last message in minute 99
    (ev,) = evaluate_sla(sla, {"": series(rows)}, (T0 + 160 * 60) * NS)
    assert ev.status == "breach" and ev.interface == "adt-inbound"
    assert started(ev) == 99 + 15  # minutes 100..113 are within max_age of minute 99


def test_the_breach_start_is_never_before_the_window() -> None:
    sla = make_sla(window="1h", sli={"ratio": {"total": {"span": "op"}, "bad": {"status": "error"}}})
    rows = {m: (10, 8) for m in range(0, 200)}  # failing since long before the window
    (ev,) = evaluate_sla(sla, {"": series(rows)}, (T0 + 199 * 60 + 30) * NS)
    assert started(ev) == 199 - 59


def test_ok_and_no_data_have_no_breach_start() -> None:
    sla = make_sla(sli={"ratio": {"total": {"span": "op"}, "bad": {"status": "error"}}})
    (ok,) = evaluate_sla(sla, {"": series({m: (100, 0) for m in range(60)})}, (T0 + 3600) * NS)
    (empty,) = evaluate_sla(sla, {}, (T0 + 3600) * NS)
    assert (ok.status, ok.breach_started_unix_nano) == ("ok", None)
    assert (empty.status, empty.breach_started_unix_nano) == ("no-data", None)


# -- interface: templates and config errors -------------------------------------------------------


def test_interface_templates_render_per_slice() -> None:
    sla = make_sla(
        slice_by=["hc.facility", "queue"],
        interface="{queue}@{hc.facility}",
        sli={"gauge": {"metric": "q", "max": 0}},
    )
    assert (
        sla.interface_for({"queue": "charges-outbound", "hc.facility": "north"}) == "charges-outbound@north"
    )
    assert sla.interface_for({"queue": "charges-outbound"}) is None  # a value missing: no interface
    assert sla.interface_for({}) is None
    fixed = make_sla(
        slice_by=["hc.facility"], interface="charges-outbound", sli={"gauge": {"metric": "q", "max": 0}}
    )
    assert fixed.interface_for({}) == fixed.interface_for({"hc.facility": "x"}) == "charges-outbound"
    assert make_sla(sli={"gauge": {"metric": "q", "max": 0}}).interface_for({"queue": "a"}) is None


BAD_INTERFACE = """\
slas:
  - id: queue-stuck
    title: Queues do not stay stuck
    domain: integration
    owner: integration-engineering
    priority: P2
    objective: 99%
    window: 7d
    slice_by: [queue]
    interface: "{facility}"
    sli:
      gauge: {metric: queue.stuck, max: 0}
  - id: charge-lag
    title: Charges post within a day
    domain: revenue-cycle
    owner: revenue-integrity
    priority: P2
    objective: 95%
    window: 7d
    interface: "{queue}-out"
    sli:
      lag: {from: {stage: a}, to: {stage: b}, key: charge, within: 24h}
  - id: broken-brace
    title: A brace left open
    domain: integration
    owner: integration-engineering
    priority: P2
    objective: 99%
    window: 7d
    slice_by: [queue]
    interface: "{queue"
    sli:
      gauge: {metric: queue.stuck, max: 0}
"""


def test_a_placeholder_that_is_not_a_slice_attribute_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "slas.yaml"
    path.write_text(BAD_INTERFACE, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_sla_path(path)
    found = [(i.file, i.line, i.field, i.message) for i in exc.value.issues]
    assert found == [
        (str(path), 10, "slas[0].interface", "placeholder {facility} is not one of slice_by (queue)"),
        (
            str(path),
            20,
            "slas[1].interface",
            "placeholder {queue} needs slice_by: [queue] (or give a fixed name)",
        ),
        (
            str(path),
            31,
            "slas[2].interface",
            "an unmatched brace: write a placeholder as {attribute}, e.g. {queue}",
        ),
    ]


# -- the store: rows and a back-filled store through the real engine ------------------------------


def full_evaluation() -> Evaluation:
    return Evaluation(
        sla_id="queue-stuck",
        slice="queue=charges-outbound",
        at_unix_nano=(T0 + 3600) * NS,
        title="Queues do not stay stuck",
        domain="integration",
        owner="integration-engineering",
        priority="P2",
        kind="gauge",
        window_s=7 * 86400.0,
        window_label="7d",
        objective=0.99,
        good=90.0,
        total=100.0,
        sli=0.9,
        budget_remaining=-9.0,
        time_to_exhaustion_s=0.5,
        burn_rates=(BurnRate("14m/2m", 840.0, 120.0, 14.4, 15.0, 20.0, "page", True),),
        status="breach",
        at_risk_amount=12.5,
        labels={"queue": "charges-outbound"},
        interface="charges-outbound",
        breach_started_unix_nano=(T0 + 600) * NS,
    )


def test_evaluations_round_trip_through_sla_evaluations(engine: Engine) -> None:
    ev = full_evaluation()
    assert_every_field_set(ev)
    with engine.begin() as conn:
        conn.execute(sla_evaluations.insert(), [evaluation_row(ev)])
        conn.execute(
            sla_evaluations.insert(),
            [evaluation_row(replace(ev, interface=None, breach_started_unix_nano=None))],
        )
    with engine.connect() as conn:
        rows = conn.execute(select(sla_evaluations).order_by(sla_evaluations.c.id)).mappings().all()
    assert evaluation_from_row(rows[0]) == ev
    assert evaluation_from_row(rows[1]) == replace(ev, interface=None, breach_started_unix_nano=None)


def test_rows_without_the_new_columns_read_as_none() -> None:
    row = evaluation_row(full_evaluation())
    for name in ("interface", "breach_started_unix_nano"):
        del row[name]
    old = evaluation_from_row(row)
    assert (old.interface, old.breach_started_unix_nano) == (None, None)
    odd = evaluation_from_row({**row, "interface": "", "breach_started_unix_nano": "soon"})
    assert (odd.interface, odd.breach_started_unix_nano) == (None, None)


RATIO = make_sla(
    id="gl-posting-errors",
    interface="gl-postings",
    sli={"ratio": {"total": {"span": "erp.gl.post"}, "bad": {"status": "error"}}},
)
STALL_AT = 110  # the planted stall: queue a stops draining
STUCK_AT = STALL_AT + 10  # queue.stuck turns 1 after the poller's stuck_after (10 minutes)
OUTAGE_AT = 130  # GL postings start failing
END = 180


def planted() -> tuple[list[SpanRecord], list[PointRecord]]:
    """Three hours of a two-queue estate with background errors, a stuck queue and a GL outage."""
    tl = Timeline()
    points = [
        tl.point(m * 60 + s, 1.0 if queue == "a" and m >= STUCK_AT else 0.0, name="queue.stuck", queue=queue)
        for m in range(END)
        for s in (0, 15, 30, 45)
        for queue in ("a", "b")
    ]
    spans = [
        tl.span(
            m * 60 + i * 1.5,
            name="erp.gl.post",
            # background: one failure in 40 every 9 minutes (that minute is bad even at 1x, but the
            # stretch to the next is not); the outage fails half of the postings
            status="error"
            if (m >= OUTAGE_AT and i % 2 == 0) or (m < OUTAGE_AT and m % 9 == 0 and i == 0)
            else "ok",
        )
        for m in range(END)
        for i in range(40)
    ]
    return spans, points


def store(db: Engine, spans: list[SpanRecord], points: list[PointRecord]) -> None:
    insert_spans(
        db,
        [
            span_row(name=s.name, service=s.service, start_s=s.event_time_ns / NS, status=s.status)
            for s in spans
        ],
    )
    insert_metric_points(
        db,
        [
            metric_row(name=p.name, value=p.value or 0.0, time_s=p.time_ns / NS, attributes=p.attributes)
            for p in points
        ],
    )


def sql_engine(db: Engine, clock: Clock, slas: list[SLA]) -> SlaEngine:
    return SlaEngine(slas, SqlStateStore(db), SqlTelemetrySource(db), clock=clock)


def test_a_back_filled_store_dates_each_breach_at_its_planted_start(engine: Engine) -> None:
    spans, points = planted()
    store(engine, spans, points)  # everything is stored before any engine ran: a back-fill
    clock = Clock(END * 60 - 30)
    result = sql_engine(engine, clock, [GAUGE, RATIO]).tick()
    by_key = {(ev.sla_id, ev.slice): ev for ev in result.evaluations}
    stuck, fine, whole = (
        by_key[("queue-stuck", "queue=a")],
        by_key[("queue-stuck", "queue=b")],
        by_key[("queue-stuck", None)],
    )
    gl = by_key[("gl-posting-errors", None)]
    assert stuck.status == whole.status == gl.status == "breach"
    assert (started(stuck), started(whole), started(gl)) == (STUCK_AT, STUCK_AT, OUTAGE_AT)
    assert (fine.status, fine.breach_started_unix_nano) == ("ok", None)
    assert (stuck.interface, fine.interface, whole.interface, gl.interface) == ("a", "b", None, "gl-postings")
    with engine.connect() as conn:
        rows = conn.execute(select(sla_evaluations)).mappings().all()
    stored = {(r["sla_id"], r["slice"]): r for r in rows}
    assert evaluation_from_row(stored[("queue-stuck", "queue=a")]) == stuck
    assert stored[("queue-stuck", "queue=a")]["interface"] == "a"
    assert stored[("queue-stuck", "queue=a")]["breach_started_unix_nano"] == (T0 + STUCK_AT * 60) * NS
    assert stored[("queue-stuck", "")]["interface"] is None
    assert stored[("gl-posting-errors", "")]["breach_started_unix_nano"] == (T0 + OUTAGE_AT * 60) * NS


def test_an_engine_that_watched_live_agrees_with_the_back_fill(engine: Engine) -> None:
    spans, points = planted()
    clock = Clock(0)
    live = sql_engine(engine, clock, [GAUGE, RATIO])
    for upto in range(20, END + 1, 20):
        store(
            engine,
            [s for s in spans if (upto - 20) * 60 <= s.event_time_ns / NS - T0 < upto * 60],
            [p for p in points if (upto - 20) * 60 <= p.time_ns / NS - T0 < upto * 60],
        )
        clock.set(upto * 60 - 30)
        evaluations = live.tick().evaluations
    by_key = {(ev.sla_id, ev.slice): ev for ev in evaluations}
    assert started(by_key[("queue-stuck", "queue=a")]) == STUCK_AT
    assert started(by_key[("gl-posting-errors", None)]) == OUTAGE_AT


def test_the_new_fields_come_last_so_positional_constructors_keep_working() -> None:
    assert list(Evaluation.__dataclass_fields__)[-2:] == ["interface", "breach_started_unix_nano"]


def test_a_spent_budget_over_sparse_events_dates_the_whole_incident() -> None:
    """An implant every 20 minutes, each one late during a 5-hour incident: one run, not the last."""
    good, total = minutes(600, events=0)
    for m in range(0, 600, 20):
        total[m] = 1.0
        good[m] = 0.0 if 120 <= m < 420 else 1.0
    assert breach_start_minute(M0, good, total, OBJECTIVE, M0, M0 + 599) == M0 + 120

"""Exact SLI, budget and burn-rate values for every SLI kind on small hand-computed data sets.

Times are seconds after T0 (Monday 2026-03-02 00:00 UTC). A window at time t covers whole minutes
up to and including the minute that holds t.
"""

from __future__ import annotations

from typing import Any

import pytest

from slas.model import Evaluation
from slas.records import SpanRecord
from slas.spec import SLA
from tests.slas.helpers import DAY, HOUR, MIN, T0, Timeline, burn, engine_for, evaluate_at, make_sla
from vitals.kernel.units import NS

GL_RATIO = {"ratio": {"total": {"span": "erp.gl.post"}, "bad": {"status": "error"}}}


def assert_burn(ev: Evaluation, name: str, long_rate: float, short_rate: float, *, firing: bool) -> None:
    long_actual, short_actual, firing_actual = burn(ev, name)
    assert long_actual == pytest.approx(long_rate), name
    assert short_actual == pytest.approx(short_rate), name
    assert firing_actual == firing, name


def test_ratio_with_slices_and_window_edges() -> None:
    tl = Timeline()
    sla = make_sla(objective="99%", window="1d", slice_by=["hc.facility"], sli=GL_RATIO)
    north = tl.spans([HOUR + i * 10 for i in range(300)], name="erp.gl.post", hc__facility="north")
    north[:4] = [tl.span(HOUR, name="erp.gl.post", status="error", hc__facility="north") for _ in range(4)]
    south = tl.spans([2 * HOUR + i * 30 for i in range(100)], name="erp.gl.post", hc__facility="south")
    no_facility = tl.spans([10_000] * 5, name="erp.gl.post") + tl.spans(
        [10_000] * 5, name="erp.gl.post", status="error"
    )
    too_old = tl.spans([30] * 20, name="erp.gl.post", status="error", hc__facility="north")  # minute 0
    other = tl.spans([HOUR] * 50, name="erp.gl.post.retry", status="error")
    evs = evaluate_at([sla], DAY + 30, north + south + no_facility + too_old + other)
    # the window at 1d+30s is minutes 1 .. 1440: minute 0 is out
    whole = evs[("t", None)]
    assert (whole.good, whole.total) == (300 - 4 + 100 + 5, 410)
    assert whole.sli == pytest.approx(401 / 410)
    assert whole.budget_remaining == pytest.approx(1 - (9 / 410) / 0.01)
    assert whole.status == "breach"
    n = evs[("t", "hc.facility=north")]
    assert (n.good, n.total, n.labels) == (296, 300, {"hc.facility": "north"})
    assert n.budget_remaining == pytest.approx(1 - (4 / 300) / 0.01)
    s = evs[("t", "hc.facility=south")]
    assert (s.sli, s.budget_remaining, s.status) == (1.0, 1.0, "ok")
    assert set(evs) == {("t", None), ("t", "hc.facility=north"), ("t", "hc.facility=south")}
    assert s.at_risk_amount is None and whole.kind == "ratio" and whole.window_label == "1d"


def test_good_selector_instead_of_bad() -> None:
    tl = Timeline()
    sla = make_sla(
        sli={"ratio": {"total": {"stage": "remit.received"}, "good": {"attributes": {"hc.paid": True}}}}
    )
    spans = tl.spans([60] * 8, hc__stage="remit.received", hc__paid=True) + tl.spans(
        [60] * 2, hc__stage="remit.received"
    )
    ev = evaluate_at([sla], 120, spans)[("t", None)]
    assert (ev.good, ev.total) == (8, 10)


def test_late_data_lands_in_its_own_minute() -> None:
    tl = Timeline()
    sla = make_sla(objective="99%", sli=GL_RATIO)
    engine, clock, source, store = engine_for(
        [sla], tl.spans([HOUR + i for i in range(100)], name="erp.gl.post"), at=DAY
    )
    first = engine.tick().evaluations[0]
    assert (first.good, first.total) == (100, 100)
    late = tl.span(5000, name="erp.gl.post", status="error")  # happened at minute 83, arrives now
    source.add_spans([late])
    clock.set(DAY + 60)
    second = engine.tick().evaluations[0]
    assert (second.good, second.total) == (100, 101)
    minute_83 = (T0 * NS + 5000 * NS) // (60 * NS)
    assert store.minutes[("t", "", minute_83)] == (1, 1, 0.0)


def test_burn_rates_on_a_thirty_day_window() -> None:
    tl = Timeline()
    sla = make_sla(objective="99.9%", window="30d", sli=GL_RATIO)
    # two spans a minute for the 3 days ending at minute 14400 (10d), the last minutes hold 6 errors
    start = 7 * DAY + 60
    spans = [
        tl.span(start + j * 30, name="erp.gl.post", status="error" if 8630 <= j <= 8635 else "unset")
        for j in range(8640)
    ]
    ev = evaluate_at([sla], 10 * DAY + 59, spans)[("t", None)]
    budget = 0.001
    assert (ev.good, ev.total) == (8634, 8640)
    assert_burn(ev, "1h/5m", 6 / 120 / budget, 6 / 10 / budget, firing=True)
    assert_burn(ev, "6h/30m", 6 / 720 / budget, 6 / 60 / budget, firing=True)
    assert_burn(ev, "1d/2h", 6 / 2880 / budget, 6 / 240 / budget, firing=False)
    assert_burn(ev, "3d/6h", 6 / 8640 / budget, 6 / 720 / budget, firing=False)
    remaining = 1 - (6 / 8640) / budget
    assert ev.budget_remaining == pytest.approx(remaining)
    # at the current (1h) burn of 50x the remaining 30.6% of a 30-day budget lasts 0.3056 * 30d / 50
    assert ev.time_to_exhaustion_s == pytest.approx(remaining * 30 * DAY / 50)
    assert ev.status == "breach"  # fast burn pages although the 30-day SLI is still above 99.9%
    assert ev.sli is not None and ev.sli > 0.999


def test_latency_counts_spans_at_or_over_the_bound_as_bad() -> None:
    tl = Timeline()
    sla = make_sla(
        objective="95%",
        sli={"latency": {"select": {"span": "payer.eligibility.check", "kind": "client"}, "under": "2s"}},
    )
    spans = (
        tl.spans([100] * 36, name="payer.eligibility.check", kind="client", duration=0.5)
        + tl.spans([100] * 3, name="payer.eligibility.check", kind="client", duration=2.5)
        + tl.spans([100], name="payer.eligibility.check", kind="client", duration=2.0)
        + tl.spans([100] * 10, name="payer.eligibility.check", kind="server", duration=10)
    )
    ev = evaluate_at([sla], 200, spans)[("t", None)]
    assert (ev.good, ev.total, ev.sli) == (36, 40, 0.9)
    assert ev.budget_remaining == pytest.approx(1 - 0.1 / 0.05)


def _lag_sla() -> SLA:
    return make_sla(
        objective="90%",
        slice_by=["hc.facility"],
        sli={
            "lag": {
                "from": {"stage": "procedure.documented"},
                "to": {"stage": "charge.posted"},
                "key": "charge",
                "within": "1h",
            }
        },
    )


def test_lag_objects_due_good_late_missing_pending_and_out_of_order() -> None:
    tl = Timeline()
    sla = _lag_sla()

    def start(at: float, key: str, facility: str = "north", **extra: Any) -> SpanRecord:
        return tl.span(
            at, hc__stage="procedure.documented", hc__key__charge=key, hc__facility=facility, **extra
        )

    def end(at: float, key: str, facility: str = "north") -> SpanRecord:
        return tl.span(at, hc__stage="charge.posted", hc__key__charge=key, hc__facility=facility)

    spans = [
        start(1 * HOUR, "c1"),
        end(1.5 * HOUR, "c1"),  # good, due 2h
        start(2 * HOUR, "c2", hc__amount=100),
        end(4 * HOUR, "c2"),  # late: bad, due 3h
        start(3 * HOUR, "c3", hc__amount="250.00"),  # never posts: bad once due at 4h
        end(5 * HOUR + 10 * MIN, "c4"),  # the end arrives before its start
        start(5 * HOUR, "c4"),  # good, due 6h
        start(9.5 * HOUR, "c5"),  # due 10h30: not yet due at 10h
        start(9 * HOUR + 40 * MIN, "c6"),
        end(9 * HOUR + 45 * MIN, "c6"),  # good but due 10h40: not in the window at 10h
        end(2 * HOUR, "c7"),  # an end without a start is never counted
        start(6 * HOUR, "c8", facility="south"),
        end(6 * HOUR + 20 * MIN, "c8", facility="south"),
    ]
    engine, clock, source, store = engine_for([sla], spans, at=10 * HOUR)
    evs = {(e.sla_id, e.slice): e for e in engine.tick().evaluations}
    whole = evs[("t", None)]
    assert (whole.good, whole.total, whole.at_risk_amount) == (3, 5, 350.0)  # c1 c4 c8 good, c2 c3 bad
    assert whole.sli == pytest.approx(0.6)
    north = evs[("t", "hc.facility=north")]
    assert (north.good, north.total, north.at_risk_amount) == (2, 4, 350.0)
    assert evs[("t", "hc.facility=south")].at_risk_amount == 0.0
    assert store.objects[("t", "c5")].obj.state == "pending"
    assert store.objects[("t", "c7")].obj.state == "orphan"

    # An hour later c5 is past its deadline (bad, found by the deadline sweep), c6 is due (good),
    # and c3's end arrives late but happened at 3h30, before its 4h deadline: c3 turns good.
    source.add_spans([end(3.5 * HOUR, "c3")])
    clock.set(11 * HOUR)
    evs = {(e.sla_id, e.slice): e for e in engine.tick().evaluations}
    whole = evs[("t", None)]
    assert (whole.good, whole.total, whole.at_risk_amount) == (5, 7, 100.0)
    assert store.objects[("t", "c5")].obj.state == "bad"
    assert store.objects[("t", "c3")].obj.state == "good"


def test_freshness_counts_minutes_with_a_recent_event_per_slice() -> None:
    tl = Timeline()
    sla = make_sla(
        objective="99%",
        slice_by=["hc.facility"],
        sli={"freshness": {"select": {"message_type": "ADT^*"}, "max_age": "15m"}},
    )
    north = [m * MIN for m in range(0, 360, 5)] + [m * MIN for m in range(420, 600, 5)]  # silent 6h..7h
    south = [m * MIN for m in range(0, 600, 5)]
    spans = tl.spans(north, hc__message__type="ADT^A01", hc__facility="north") + tl.spans(
        south, hc__message__type="ADT^A04", hc__facility="south"
    )
    evs = evaluate_at([sla], 10 * HOUR + 30, spans)
    # minutes 0..600 count (nothing before the first event); north's last event before the gap is at
    # minute 355, fresh until 369; minutes 370..419 are stale: 50 bad minutes
    n = evs[("t", "hc.facility=north")]
    assert (n.good, n.total) == (551, 601)
    assert evs[("t", "hc.facility=south")].total == 601 and evs[("t", "hc.facility=south")].good == 601
    assert (evs[("t", None)].good, evs[("t", None)].total) == (601, 601)


def test_freshness_only_inside_during() -> None:
    tl = Timeline()
    sla = make_sla(
        sli={
            "freshness": {
                "select": {"message_type": "ADT^*"},
                "max_age": "15m",
                "during": {"times": [{"start_time": "06:00", "end_time": "24:00"}]},
            }
        }
    )
    times = [m * MIN for m in range(0, 360, 5)] + [m * MIN for m in range(420, 600, 5)]
    ev = evaluate_at([sla], 10 * HOUR + 30, tl.spans(times, hc__message__type="ADT^A01"))[("t", None)]
    assert (ev.good, ev.total) == (241 - 50, 241)  # minutes 360..600


def test_freshness_expects_traffic_from_the_same_hour_in_recent_weeks() -> None:
    tl = Timeline()
    sla = make_sla(
        objective="99%",
        sli={
            "freshness": {
                "select": {"message_type": "ADT^*"},
                "max_age": "15m",
                "expect": "history",
                "history": {"weeks": 2},
            }
        },
    )
    times: list[float] = []
    for week in (0, 1):  # two Mondays of history: a quiet night hour and a busy morning hour
        base = week * 7 * DAY
        times += [base + 2 * HOUR + i * 15 * MIN for i in range(4)]  # 4 an hour at 02:00 (1 per 15 min)
        times += [base + 10 * HOUR + i * MIN for i in range(60)]  # 60 an hour at 10:00 (15 per 15 min)
    monday = 14 * DAY  # the third Monday: silent at 02:00 (normal), stops at 10:20 (an outage)
    times += [monday + 10 * HOUR + i * MIN for i in range(20)]
    ev = evaluate_at([sla], monday + 11 * HOUR, tl.spans(times, hc__message__type="ADT^A08"))[("t", None)]
    # Only 10:00-10:59 of the third Monday is expected (median 60/h = 15 per 15 min >= 3); 02:00
    # expects 1 per 15 min, so its silence does not count. 10:00..10:33 fresh, 10:34..10:59 stale.
    assert (ev.good, ev.total) == (34, 60)


def test_freshness_history_falls_back_to_recent_days_of_the_same_kind() -> None:
    tl = Timeline()
    sla = make_sla(
        sli={"freshness": {"select": {"span": "hl7"}, "max_age": "10m", "expect": "history"}},
    )
    # Monday and Tuesday 09:00-10:00 busy; Wednesday the feed stops at 09:30. No prior week exists.
    times = [d * DAY + 9 * HOUR + i * MIN for d in (0, 1) for i in range(60)]
    times += [2 * DAY + 9 * HOUR + i * MIN for i in range(30)]
    ev = evaluate_at([sla], 2 * DAY + 9 * HOUR + 59 * MIN, tl.spans(times, name="hl7"))[("t", None)]
    # Wednesday 09:00-09:59 is expected; fresh through 09:38 (last event 09:29 + 9 minutes)
    assert (ev.good, ev.total) == (39, 60)


def test_freshness_history_uses_any_recent_day_when_none_is_of_the_same_kind() -> None:
    tl = Timeline()
    sla = make_sla(sli={"freshness": {"select": {"span": "hl7"}, "max_age": "10m", "expect": "history"}})
    sunday = -DAY  # only a Sunday of history before this Monday
    # (the hour holding the first event ever is not history: it may be partial)
    times = [sunday + 8 * HOUR + i * MIN for i in range(120)] + [9 * HOUR + i * MIN for i in range(30)]
    ev = evaluate_at([sla], 9 * HOUR + 59 * MIN, tl.spans(times, name="hl7"))[("t", None)]
    assert (ev.good, ev.total) == (39, 60)


def test_gauge_minutes_with_every_sample_in_bound() -> None:
    tl = Timeline()
    sla = make_sla(
        objective="99%",
        slice_by=["queue"],
        sli={"gauge": {"metric": "queue.oldest_age_seconds", "where": {"broker": "rabbitmq"}, "max": 600}},
    )
    points = []
    for minute in range(120):
        for half in (0, 30):
            t = minute * MIN + half
            value = 900.0 if 60 <= minute < 70 else 5.0
            if minute == 70:
                value = 700.0 if half == 0 else 100.0  # one bad sample makes the minute bad
            points.append(tl.point(t, value, queue="charges-outbound", broker="rabbitmq"))
            points.append(tl.point(t, 3.0, queue="adt-inbound", broker="rabbitmq"))
            points.append(tl.point(t, 5000.0, queue="charges-outbound", broker="redis"))
    points.append(tl.point(30, 1.0, name="queue.depth", queue="adt-inbound", broker="rabbitmq"))
    evs = evaluate_at([sla], 2 * HOUR + 30, points=points)
    assert (evs[("t", "queue=charges-outbound")].good, evs[("t", "queue=charges-outbound")].total) == (
        109,
        120,
    )
    assert (evs[("t", "queue=adt-inbound")].good, evs[("t", "queue=adt-inbound")].total) == (120, 120)
    assert (evs[("t", None)].good, evs[("t", None)].total) == (109, 120)
    assert evs[("t", None)].kind == "gauge"


def test_gauge_lower_bound() -> None:
    tl = Timeline()
    sla = make_sla(sli={"gauge": {"metric": "queue.consumers", "min": 1}})
    points = [tl.point(m * MIN, 0.0 if m < 3 else 2.0, name="queue.consumers") for m in range(10)]
    ev = evaluate_at([sla], 10 * MIN, points=points)[("t", None)]
    assert (ev.good, ev.total) == (7, 10)


@pytest.mark.parametrize(("zone", "expected"), [("UTC", (10, 13)), ("America/Chicago", (10, 10))])
def test_calendar_month_window(zone: str, expected: tuple[float, float]) -> None:
    tl = Timeline()
    sla = make_sla(window={"calendar": "month", "time_zone": zone}, sli=GL_RATIO)
    spans = (
        tl.spans([-3 * DAY] * 5, name="erp.gl.post", status="error")  # February 27
        + tl.spans(
            [-21 * HOUR] * 3, name="erp.gl.post", status="error"
        )  # Mar 1 03:00 UTC = Feb 28 in Chicago
        + tl.spans([-12 * HOUR] * 10, name="erp.gl.post")
    )
    ev = evaluate_at([sla], HOUR, spans)[("t", None)]
    assert (ev.good, ev.total) == expected
    assert ev.window_label == "calendar month" and ev.window_s == 30 * DAY


@pytest.mark.parametrize(
    "correction",
    [
        {"reason": "ERP patch", "start": "2026-03-02T01:00:00Z", "end": "2026-03-02T02:00:00Z"},
        # no offset: read in the SLA's time zone (Chicago is UTC-6 on March 1)
        {"reason": "ERP patch", "start": "2026-03-01T19:00:00", "end": "2026-03-01T20:00:00"},
        {
            "reason": "weekly ERP patch",
            "during": {"weekdays": ["monday"], "times": [{"start_time": "01:00", "end_time": "02:00"}]},
        },
    ],
)
def test_corrections_remove_planned_maintenance(correction: dict[str, object]) -> None:
    tl = Timeline()
    sla = make_sla(time_zone="America/Chicago", corrections=[correction], sli=GL_RATIO)
    spans = tl.spans([1.5 * HOUR] * 10, name="erp.gl.post", status="error") + tl.spans(
        [3 * HOUR] * 10, name="erp.gl.post"
    )
    ev = evaluate_at([sla], 4 * HOUR, spans)[("t", None)]
    assert (ev.good, ev.total, ev.status) == (10, 10, "ok")


@pytest.mark.parametrize(
    ("policy", "sli", "status"), [("neither", None, "no-data"), ("good", 0.9, "ok"), ("bad", 0.3, "breach")]
)
def test_min_events_and_the_no_data_policy(policy: str, sli: float | None, status: str) -> None:
    tl = Timeline()
    sla = make_sla(objective="80%", min_events=10, no_data=policy, sli=GL_RATIO)
    # four events (one bad) three hours ago: inside the 1d window, outside every burn window
    spans = tl.spans([60] * 3, name="erp.gl.post") + tl.spans([60], name="erp.gl.post", status="error")
    ev = evaluate_at([sla], 3 * HOUR + 60, spans)[("t", None)]
    assert (ev.good, ev.total) == (3, 4)  # what was measured
    assert ev.sli == (pytest.approx(sli) if sli is not None else None)
    assert ev.status == status
    long_rate, short_rate, _ = burn(ev, "2m/1m")
    # each empty burn window has a floor of ceil(10 * 2 / 1440) = 1 event: nothing measured is no
    # data (neither, good) or one bad event (bad: 100% bad against a 20% budget = burn 5)
    expected_rate = {"neither": None, "good": None, "bad": pytest.approx(5.0)}[policy]
    assert (long_rate, short_rate) == (expected_rate, expected_rate)

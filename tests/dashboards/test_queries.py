"""The query modules on SQLite and PostgreSQL against the known estate."""

from __future__ import annotations

from typing import Any

import numpy as np

from dashboards.catalog import load_catalog
from dashboards.queries import bad_events, business, dependencies, evaluations, operations, status, traces
from dashboards.queries.business import Filters
from slas import current_evaluations, lag_history
from tests.dashboards import estate
from tests.dashboards.conftest import Store
from tests.support.factories import insert_spans, span_row
from vitals.kernel.units import NS


def day(store: Store) -> tuple[int, int, int]:
    hi = int((store.estate.now_s + 60) * NS)
    return hi - 86400 * NS, hi, int(store.estate.now_s * NS) + NS


def test_stage_counts_are_exact_at_any_boundary(store: Store) -> None:
    """Whole hours come from the rollup, the partial hours at each end from spans: same answer."""
    est = store.estate
    for offset_min in (0, 7, 31, 59, 90):
        lo = int((est.now_s - 20 * 3600 + offset_min * 60 + 13) * NS)
        hi = int((est.now_s - offset_min * 60 - 17) * NS)
        counts = business.stage_counts(store.engine, "remit.received", lo, hi)
        expected = [r for r in est.remits if lo <= r[0] * NS < hi]
        assert counts.count == len(expected), offset_min
        assert counts.denied == sum(1 for r in expected if r[1])
        north = business.stage_counts(
            store.engine, "remit.received", lo, hi, Filters(facility="north-campus")
        )
        assert north.count == sum(1 for r in expected if r[2] == "north-campus")


def test_lag_figures_and_late_objects_from_the_sla_engines_objects(store: Store) -> None:
    lo, hi, now = day(store)
    pair = load_catalog(store.config_dir).lag_pair("charge-lag")
    assert pair is not None
    scope = Filters().lag_scope(pair)
    figures = lag_history.lag_figures(store.engine, scope, lo, hi, now_ns=now)
    lags = store.estate.charge_lags_posted_between(lo / NS, hi / NS)
    assert figures.completed == len(lags)
    assert figures.median_s == float(np.median(lags))
    late = store.estate.late_charges(lo / NS, hi / NS)
    assert figures.late == len(late) and figures.late_amount == sum(c.amount for c in late)
    assert figures.open_late == sum(1 for c in late if c.posted_s is None)
    buckets = lag_history.lag_histogram(store.engine, scope, lo, hi, bucket_s=3600)
    expected: dict[float, int] = {}
    for lag in lags:
        expected[lag // 3600 * 3600] = expected.get(lag // 3600 * 3600, 0) + 1
    assert dict(buckets) == expected
    objects = lag_history.late_objects(store.engine, scope, lo, hi, now_ns=now)
    assert [o.key_hash for o in objects] == [c.key for c in sorted(late, key=lambda c: -c.amount)]
    assert all(o.deadline_ns == o.start_ns + 86400 * NS for o in objects)
    docs = {c.key: c.doc_trace for c in late}
    assert [o.start_trace_id for o in objects] == [docs[o.key_hash] for o in objects]
    north_campus = Filters(facility="north-campus").lag_scope(pair)
    north = lag_history.late_objects(store.engine, north_campus, lo, hi, now_ns=now)
    assert {o.key_hash for o in north} == {c.key for c in late if c.facility == "north-campus"}


def test_throughput_totals_and_interfaces(store: Store) -> None:
    lo, hi, _now = day(store)
    frame = operations.throughput(store.engine, lo, hi, resolution_s=60, step_s=600, by="service")
    assert frame["count"].sum() == len(store.estate.spans_started_between(lo / NS, hi / NS))
    assert (frame["time"] % (600 * NS) == 0).all()
    totals = operations.totals(frame).set_index("group")
    assert totals.loc["erp-finance", "error_rate"] == store.estate.gl_errors / store.estate.gl_total
    interfaces = operations.throughput(store.engine, lo, hi, resolution_s=3600, step_s=3600, by="interface")
    assert set(interfaces["group"]) >= {"adt-inbound", "charges-outbound", "X12-835", "X12-270"}


def test_queues_errors_and_feeds(store: Store) -> None:
    lo, hi, now = day(store)
    series = operations.queue_series(store.engine, lo, hi, 60, 60)
    depth = series[(series["queue"] == "charges-outbound") & (series["name"] == "queue.depth")]
    assert depth["max"].max() == 200.0
    current = operations.queue_now(store.engine, now).set_index("queue")
    assert current.loc["charges-outbound", "queue.depth"] == store.estate.queue_depth_last["charges-outbound"]
    errors = operations.top_errors(store.engine, lo, hi)
    assert dict(zip(errors["message"], errors["count"], strict=True)) == dict(store.estate.gl_messages)
    feeds = operations.feed_silence(store.engine, now)
    south = feeds[(feeds["interface"] == "adt-inbound") & (feeds["facility"] == "south-campus")]
    assert float(south["silent_s"].iloc[0]) > 85 * 60


def test_trace_search_filters(store: Store) -> None:
    lo, hi, _now = day(store)
    errors = traces.search(store.engine, traces.SpanSearch(lo, hi, status="error"))
    assert len(errors.spans) == store.estate.gl_errors and not errors.capped
    assert list(errors.spans["start"]) == sorted(errors.spans["start"], reverse=True)
    slow = traces.search(store.engine, traces.SpanSearch(lo, hi, min_duration_ms=3000))
    assert list(slow.spans["service"]) == ["payer-gateway"]
    by_service = traces.search(store.engine, traces.SpanSearch(lo, hi, service="erp-finance", limit=5))
    assert len(by_service.spans) == 5 and set(by_service.spans["service"]) == {"erp-finance"}
    by_stage = traces.search(store.engine, traces.SpanSearch(lo, hi, stage="remit.received"))
    assert set(by_stage.spans["stage"]) == {"remit.received"}
    charge = store.estate.charges[0]
    by_key = traces.search(store.engine, traces.SpanSearch(lo, hi, key_hash=charge.key))
    assert set(by_key.spans["name"]) <= {"ehr.procedure.document", "HL7 DFT^P03 send", "billing.charge.post"}


def test_one_trace_its_keys_and_a_journey(store: Store) -> None:
    spans = traces.trace(store.engine, store.estate.trace_with_hop)
    assert list(spans["name"]) == ["billing.gl.export", "erp.gl.post"]
    charge = next(c for c in store.estate.charges if c.posted_s is not None)
    assert traces.trace_keys(store.engine, charge.doc_trace) == [("charge", charge.key)]
    journey = traces.journey(store.engine, charge.key)
    assert list(journey["stage"]) == ["procedure.documented", "charge.sent", "charge.posted"]
    assert journey["trace_id"].nunique() == 3


def test_span_details_show_business_attributes_only(engine: Any) -> None:
    row = span_row(attributes={"hc.stage": "x", "hc.key.charge": "ab" * 32, "internal.secret": "nope"})
    insert_spans(engine, [row])
    details = traces.span_details(engine, row["trace_id"], row["span_id"])
    assert details is not None
    assert details["attributes"] == {"hc.key.charge": "ab" * 32, "hc.stage": "x"}


def test_service_graph(store: Store) -> None:
    lo, hi, _now = day(store)
    graph = dependencies.service_graph(store.engine, lo, hi, 3600)
    edges = {(e.source, e.target, e.kind): e for e in graph.edges}
    gl = edges[("billing", "erp-finance", "call")]
    assert gl.count == store.estate.gl_total and gl.errors == store.estate.gl_errors
    assert gl.latency_mean_s == 0.5  # the caller's client span
    hop = edges[("integration-engine", "billing", "queue")]
    assert hop.via == "charges-outbound" and hop.latency_max_s > 3600
    assert {n.service for n in graph.nodes} >= {"ehr", "billing", "erp-finance"}


def test_latest_and_sampled_evaluations(store: Store) -> None:
    latest = current_evaluations(store.engine)
    whole = {e.sla_id: e for e in latest if e.slice is None}
    assert whole["charge-lag"].status == "warning" and whole["charge-lag"].sli == 0.935
    assert whole["charge-lag"].burn_rates[0].threshold == 14.4
    south = next(
        e for e in latest if e.slice == "hc.facility=south-campus" and e.sla_id == "adt-interface-silence"
    )
    assert south.labels == {"hc.facility": "south-campus"} and south.status == "breach"
    end = int(store.estate.now_s * NS)
    times, step = evaluations.sample_times(end - 6 * 3600 * NS, end, 12)
    frame = evaluations.sample(store.engine, [evaluations.SeriesKey("charge-lag")], times, step)
    assert len(frame) == 12 and frame["at"].tolist() == times
    # each point is the last evaluation at or before it (written every 10 minutes)
    assert all(0 <= a - e < 600 * NS for a, e in zip(frame["at"], frame["evaluated_at"], strict=True))
    gap = evaluations.sample(store.engine, [evaluations.SeriesKey("charge-lag")], [end + 86400 * NS], step)
    assert gap.empty  # no evaluation near that time: a gap, not a stale value


def test_store_status(store: Store) -> None:
    s = status.store_status(store.engine, int(store.estate.now_s * NS) + 5 * NS)
    assert s.has_telemetry and s.rollup_behind == 0
    assert s.telemetry_age_s is not None and s.telemetry_age_s < 60
    assert s.evaluation_age_s is not None and s.evaluation_age_s < 60


def test_bad_events_of_each_kind(store: Store) -> None:
    lo, hi, now = day(store)
    catalog = load_catalog(store.config_dir)

    def events(sla_id: str) -> bad_events.BadEvents:
        spec = catalog.get(sla_id)
        assert spec is not None
        return bad_events.bad_events(store.engine, spec, lo, hi, now_ns=now)

    assert len(events("charge-lag").frame) == len(store.estate.late_charges(lo / NS, hi / NS))
    assert len(events("gl-posting-errors").frame) == store.estate.gl_errors
    denials = events("initial-denial-rate").frame
    assert len(denials) == sum(1 for r in store.estate.remits if r[1] and lo <= r[0] * NS < hi)
    slow = events("eligibility-latency").frame
    assert list(slow["service"]) == ["payer-gateway"] and float(slow["duration_ms"].iloc[0]) == 3500.0
    silence = events("adt-interface-silence").frame
    # all facilities together: silent only before the feed's six hours of history, not now
    assert list(silence["silent_from"]) == [lo] and not silence["ongoing"].any()
    gauge = events("queue-backlog-age").frame
    assert list(gauge["minutes"]) == [10]
    gl_spec = catalog.get("gl-posting-errors")
    assert gl_spec is not None
    empty = bad_events.bad_events(store.engine, gl_spec, hi, hi + 3600 * NS, now_ns=now)
    assert empty.frame.empty


def test_silent_periods() -> None:
    out = bad_events.silent_periods([100, 200, 1000], 0, 2000, 300)
    assert [(p["silent_from"], p["silent_until"], p["ongoing"]) for p in out] == [
        (1000, 2000, True),
        (200, 1000, False),
    ]
    assert bad_events.silent_periods([], 0, 100, 300) == []
    assert estate.key_hash("x") != estate.key_hash("y")


def test_failed_spans_page_through_equal_start_times(engine: Any) -> None:
    """The error index pages newest first without skipping or repeating spans that share a time."""
    from dashboards.queries.failed import PAGE, failed_refs
    from dashboards.rollup import refresh

    rows = [
        span_row(name="x", service="s", start_s=1000 + i // 500, status="error") for i in range(2 * PAGE + 57)
    ]
    insert_spans(engine, rows)
    refresh(engine, horizon_s=0, edge_timing=estate.SETTLED, clock=lambda: 10_000 * NS)
    with engine.connect() as conn:
        pages = list(failed_refs(conn, 0, 10_000 * NS))
    seen = [ref for page in pages for ref in page]
    assert len(seen) == len(set(seen)) == len(rows)
    assert set(seen) == {(r["trace_id"], r["span_id"]) for r in rows}

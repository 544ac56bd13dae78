"""The rollup refresher folds every span in exactly once, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Engine

from collector.tables import spans
from dashboards.rollup import RefreshReport, refresh
from dashboards.tables import (
    business_rollups,
    error_groups,
    feeds,
    metric_rollups,
    rollup_state,
    service_edges,
    span_rollups,
)
from tests.dashboards import estate
from tests.support.factories import insert_spans, span_row
from vitals.kernel.lease import take
from vitals.kernel.units import NS

NOW_NS = int(estate.NOW_S) * NS


def fold(engine: Engine, **kwargs: Any) -> RefreshReport:
    """A refresh that reads every committed row at once (test rows are all committed), at the
    estate's now."""
    kwargs.setdefault("edge_timing", estate.SETTLED)
    kwargs.setdefault("clock", lambda: NOW_NS)
    return refresh(engine, horizon_s=0, **kwargs)


def _table(engine: Engine, table: Table) -> list[dict[str, Any]]:
    """Every row as a column-name mapping (values are whatever the column type returns)."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


def test_span_rollups_count_every_span_once_in_both_resolutions(engine: Engine) -> None:
    est = estate.build(engine)
    report = fold(engine, batch_size=97)  # many small batches
    assert report.behind == 0
    rows = _table(engine, span_rollups)
    for res in (60, 3600):
        assert sum(r["count"] for r in rows if r["resolution"] == res) == est.spans_written
    gl = [r for r in rows if r["resolution"] == 3600 and r["span_name"] == "erp.gl.post"]
    assert sum(r["error_count"] for r in gl) == est.gl_errors
    assert {r["kind"] for r in gl} == {"server"}
    # A second refresh with nothing new changes nothing.
    again = fold(engine)
    assert again.processed == 0
    assert _table(engine, span_rollups) == rows


def test_small_batches_and_one_batch_give_the_same_rollups(sqlite_url: str, tmp_path: object) -> None:
    from vitals.kernel.db import create_engine, migrate

    first = create_engine(sqlite_url)
    migrate(first)
    second = create_engine(sqlite_url.replace("vitals.db", "other.db"))
    migrate(second)
    estate.build(first)
    estate.build(second)
    fold(first, batch_size=13)
    fold(second, batch_size=1_000_000)
    for table in (span_rollups, business_rollups, feeds, service_edges, metric_rollups):
        key = [c.name for c in table.primary_key.columns]
        a = sorted(_table(first, table), key=lambda r: [r[k] for k in key])
        b = sorted(_table(second, table), key=lambda r: [r[k] for k in key])
        assert a == b, table
    # error groups keep an arbitrary example trace id: compare the counts only
    assert sorted((r["message"], r["count"]) for r in _table(first, error_groups)) == sorted(
        (r["message"], r["count"]) for r in _table(second, error_groups)
    )
    first.dispose()
    second.dispose()


def test_business_rollups_and_error_groups(engine: Engine) -> None:
    est = estate.build(engine)
    fold(engine)
    business = _table(engine, business_rollups)
    remits = [r for r in business if r["stage"] == "remit.received"]
    assert sum(r["count"] for r in remits) == len(est.remits)
    denied: dict[str, int] = {}
    for r in remits:
        if r["denial_code"]:
            denied[r["denial_code"]] = denied.get(r["denial_code"], 0) + r["count"]
    expected: dict[str, int] = {}
    for _at, code, _f in est.remits:
        if code:
            expected[code] = expected.get(code, 0) + 1
    assert denied == expected
    groups: dict[str, int] = {}
    for r in _table(engine, error_groups):
        groups[r["message"]] = groups.get(r["message"], 0) + r["count"]
    assert groups == dict(est.gl_messages)


def test_service_edges_from_parents_links_and_keys(engine: Engine) -> None:
    est = estate.build(engine)
    fold(engine, batch_size=31)
    edges: dict[tuple[str, str, str, str], int] = {}
    for r in _table(engine, service_edges):
        if r["resolution"] == 3600:
            k = (r["source"], r["target"], r["edge_kind"], r["via"])
            edges[k] = edges.get(k, 0) + r["count"]
    posted = sum(1 for c in est.charges if c.posted_s is not None)
    assert edges[("billing", "erp-finance", "call", "")] == est.gl_total
    assert edges[("billing", "payer-gateway", "call", "")] == 12
    # Every posted charge hops the queue: half joined by span link, half by the charge key.
    assert edges[("integration-engine", "billing", "queue", "charges-outbound")] == posted
    assert set(edges) == {
        ("billing", "erp-finance", "call", ""),
        ("billing", "payer-gateway", "call", ""),
        ("integration-engine", "billing", "queue", "charges-outbound"),
    }


def test_parent_arriving_after_its_child_is_still_one_edge(engine: Engine) -> None:
    parent = span_row(name="call", service="a", start_s=100, kind="client")
    child = span_row(
        name="serve",
        service="b",
        start_s=100.1,
        kind="server",
        trace_id=parent["trace_id"],
        parent_span_id=parent["span_id"],
    )
    insert_spans(engine, [child])
    fold(engine)
    insert_spans(engine, [parent])
    fold(engine)
    fold(engine)
    rows = [r for r in _table(engine, service_edges) if r["resolution"] == 60]
    assert [(r["source"], r["target"], r["count"]) for r in rows] == [("a", "b", 1)]


def test_feeds_know_the_last_message_per_facility(engine: Engine) -> None:
    est = estate.build(engine)
    fold(engine)
    adt = {r["facility"]: r["last_seen_ns"] for r in _table(engine, feeds) if r["interface"] == "adt-inbound"}
    assert adt == {f: int(t * NS) for f, t in est.adt_last_s.items()}


def test_metric_rollups_keep_min_max_and_samples(engine: Engine) -> None:
    estate.build(engine)
    fold(engine)
    rows = [
        r
        for r in _table(engine, metric_rollups)
        if r["resolution"] == 60 and r["name"] == "queue.depth" and r["queue"] == "charges-outbound"
    ]
    assert len(rows) == 180
    assert max(r["value_max"] for r in rows) == 200.0


def test_a_held_lease_makes_another_refresher_step_aside(engine: Engine) -> None:
    estate.build(engine)
    with engine.begin() as conn:
        for family in ("spans", "metrics"):
            assert take(conn, f"dashboards.rollup.{family}", "someone-else", NOW_NS, 60 * NS) is not None
    report = fold(engine, owner="me")
    assert not any(f.claimed for f in report.families)
    assert _table(engine, span_rollups) == []
    # An expired lease is taken over.
    report = fold(engine, owner="me", clock=lambda: NOW_NS + 120 * NS)
    assert all(f.claimed for f in report.families)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(spans)).scalar_one()
    assert report.families[0].watermark > 0 and total > 0


def _span(row_id: int, start_s: float) -> dict[str, Any]:
    return {**span_row(start_s=start_s, service="a"), "id": row_id}


def test_a_span_committed_after_a_higher_id_is_folded_once_its_gap_fills(engine: Engine) -> None:
    """Ids 1 and 3 are visible, 2 is still in flight (on PostgreSQL a transaction may commit a
    lower id after a higher one): nothing past the gap is folded until it fills or a horizon
    passes."""
    insert_spans(engine, [_span(1, 100), _span(3, 102)])
    now = [1_000 * NS]

    def at(seconds: float) -> RefreshReport:
        now[0] = int(seconds * NS)
        return refresh(engine, horizon_s=60, clock=lambda: now[0], edge_timing=estate.SETTLED)

    assert at(1_000).families[0].watermark == 0  # read just now: a lower id may be in flight
    assert at(1_030).families[0].watermark == 0
    insert_spans(engine, [_span(2, 101)])  # ... and here it is
    assert at(1_040).families[0].watermark == 0  # the ids around it were first read at 1000 s
    assert at(1_060).families[0].watermark == 3
    rows = [r for r in _table(engine, span_rollups) if r["resolution"] == 60]
    assert sum(r["count"] for r in rows) == 3
    assert at(2_000).processed == 0


def test_a_gap_that_never_fills_is_passed_a_horizon_after_the_ids_above_it(engine: Engine) -> None:
    insert_spans(engine, [_span(1, 100), _span(3, 102)])  # id 2 was rolled back
    first = refresh(engine, horizon_s=60, clock=lambda: 1_000 * NS, edge_timing=estate.SETTLED)
    assert first.families[0].watermark == 0
    later = refresh(engine, horizon_s=60, clock=lambda: 1_060 * NS, edge_timing=estate.SETTLED)
    assert later.families[0].watermark == 3 and later.processed == 2
    with engine.connect() as conn:
        state = conn.execute(select(rollup_state).where(rollup_state.c.family == "spans")).one()
    assert (state.watermark, state.seen) == (3, [])


def test_the_dashboard_process_keeps_the_rollups_current_in_a_thread(
    sqlite_engine: Engine, sqlite_url: str
) -> None:
    """Without `vitals serve`, the dashboard's own refresher folds new telemetry in."""
    from dashboards.ui.resources import Refresher

    est = estate.build(sqlite_engine)
    refresher = Refresher(sqlite_url, interval_s=0.2)
    try:
        deadline = time.monotonic() + 60
        counted = 0
        while time.monotonic() < deadline:
            counted = sum(r["count"] for r in _table(sqlite_engine, span_rollups) if r["resolution"] == 60)
            if counted == est.spans_written:
                break
            time.sleep(0.1)
        assert counted == est.spans_written
        insert_spans(sqlite_engine, [span_row(start_s=est.now_s, service="late-arrival")])
        while time.monotonic() < deadline:
            if any(r["service_name"] == "late-arrival" for r in _table(sqlite_engine, span_rollups)):
                break
            time.sleep(0.1)
        assert any(r["service_name"] == "late-arrival" for r in _table(sqlite_engine, span_rollups))
        assert refresher.last_error is None
    finally:
        refresher.stop.set()
        refresher.thread.join(timeout=10)
    assert not refresher.thread.is_alive()

"""Every page under streamlit's AppTest against a filled store: the numbers shown are the truth.

Expected numbers come from the estate's own ground truth (plain Python over what it wrote), not
from the dashboard's queries.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboards import bad_event_tables, views
from dashboards.timerange import format_duration
from tests.dashboards import estate
from tests.dashboards.conftest import Store, no_exceptions, open_page, texts
from vitals.kernel.units import NS


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M")


def day_range(store: Store) -> tuple[dict[str, str], float, float]:
    """The day up to the estate's now, as a custom range in UTC (minute-exact, no race with now)."""
    hi = store.estate.now_s + 60
    lo = hi - 86400
    return {"range": "custom", "from": _iso(lo), "to": _iso(hi), "tz": "UTC"}, lo, hi


def metric(at: AppTest, container_key: str, index: int = 0) -> str:
    block: Any = at.get_by_key(container_key)
    return str(block.metric[index].value)


def table(at: AppTest, key: str) -> Any:
    block: Any = at.get_by_key(f"table-{key}")
    return block.dataframe[0].value


def plotly_specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def title_of(spec: dict[str, Any]) -> str | None:
    title = spec["layout"].get("title")
    return title.get("text") if isinstance(title, dict) else None


# --------------------------------------------------------------------------- scorecard


def test_scorecard_tiles_show_the_sla_engine_evaluations(store: Store, app_env: pytest.MonkeyPatch) -> None:
    at = open_page(app_env, store.url, store.config_dir, "scorecard")
    no_exceptions(at)
    latest = {r["sla_id"]: r for r in store.estate.evaluations if r["slice"] == ""}
    for sla_id, row in latest.items():
        shown = metric(at, f"tile-{sla_id}")
        if sla_id == "adt-interface-silence":
            # its south-campus slice is in breach with less budget left than the whole: it leads,
            # named, with the whole-SLA figure beside it
            assert shown == f"south-campus: {views.pct(0.9)}"
            block: Any = at.get_by_key(f"tile-{sla_id}")
            assert f"whole SLA: ✖ Breach {views.pct(row['sli'])}" in [str(c.value) for c in block.caption]
            continue
        assert shown == views.pct(row["sli"]), sla_id
    page = texts(at)
    # grouped by domain, in the executive order
    headings = [m.value for m in at.markdown if str(m.value).startswith("#### ")]
    assert headings == [
        "#### Revenue cycle",
        "#### Supply chain",
        "#### Finance",
        "#### Clinical operations",
        "#### Integration",
    ]
    # status with icon and word, never colour alone; target and window beside the number
    assert "✖ Breach" in page and "▲ Warning" in page and "✔ OK" in page and "? No data" in page
    assert "target 95% over 7d" in page
    # a sparkline per evaluated SLA (the no-data one has nothing to draw)
    assert len([s for s in plotly_specs(at) if s["layout"].get("height") == 70]) == 6


def test_scorecard_tiles_show_whole_titles(store: Store, app_env: pytest.MonkeyPatch) -> None:
    """A long title wraps on its tile, never cut to one line ("Late charges stay under 2% (posted mor")."""
    at = open_page(app_env, store.url, store.config_dir, "scorecard")
    no_exceptions(at)
    titles = {r["sla_id"]: r["title"] for r in store.estate.evaluations if r["slice"] == ""}
    for sla_id, title in titles.items():
        block: Any = at.get_by_key(f"tile-{sla_id}")
        written = [str(m.value) for m in block.markdown]
        assert any(
            f">{html.escape(title)}</div>" in text and "white-space:normal" in text for text in written
        ), (
            sla_id,
            written,
        )


def test_scorecard_business_figures_equal_the_ground_truth(store: Store, app_env: pytest.MonkeyPatch) -> None:
    params, lo, hi = day_range(store)
    at = open_page(app_env, store.url, store.config_dir, "scorecard", params)
    no_exceptions(at)
    est = store.estate
    median, p95 = estate.median_p95(est.charge_lags_posted_between(lo, hi))
    assert metric(at, "headline-charge_lag") == format_duration(median)
    assert f"p95 {format_duration(p95)}" in texts(at)
    late = est.late_charges(lo, hi)
    assert late, "the estate must have late charges in the day"
    assert metric(at, "headline-late_charges") == f"{len(late):,} charges"
    assert metric(at, "headline-revenue_at_risk") == views.money(sum(c.amount for c in late))
    assert metric(at, "headline-gl_error_rate") == views.pct(est.gl_errors / est.gl_total)
    denied = [r for r in est.remits if lo <= r[0] < hi and r[1]]
    remits = [r for r in est.remits if lo <= r[0] < hi]
    assert metric(at, "headline-denial_rate") == views.pct(len(denied) / len(remits))
    implant_median, _p = estate.median_p95(est.implant_lags_s)
    assert metric(at, "headline-implant_sync_lag") == format_duration(implant_median)
    denial_chart = next(s for s in plotly_specs(at) if title_of(s) == "Top denial codes")
    bars = dict(zip(denial_chart["data"][0]["y"], denial_chart["data"][0]["x"], strict=True))
    expected: dict[str, int] = {}
    for _t, code, _f in denied:
        assert code is not None
        expected[code] = expected.get(code, 0) + 1
    assert bars == expected


def test_scorecard_filters_by_facility(sqlite_store: Store, app_env: pytest.MonkeyPatch) -> None:
    params, lo, hi = day_range(sqlite_store)
    at = open_page(
        app_env,
        sqlite_store.url,
        sqlite_store.config_dir,
        "scorecard",
        {**params, "facility": "north-campus"},
    )
    no_exceptions(at)
    est = sqlite_store.estate
    north_lags = [
        posted - c.documented_s
        for c in est.charges
        if c.facility == "north-campus" and (posted := c.posted_s) is not None and lo <= posted < hi
    ]
    median, _ = estate.median_p95(north_lags)
    assert metric(at, "headline-charge_lag") == format_duration(median)
    # the charge-lag SLA is sliced by facility: its tile shows the slice's own evaluation
    assert metric(at, "tile-charge-lag") == views.pct(0.999)
    # GL postings are not sliced: the tile says so instead of pretending
    assert "not sliced by facility" in texts(at)


def test_headline_late_charges_equal_the_sla_engines_bad_objects(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    """The SLA engine's own lag classification, run on the same spans, counts the same late charges."""
    from slas.lag import LagObject, classify

    params, lo, hi = day_range(sqlite_store)
    est = sqlite_store.estate
    within_ns = estate.CHARGE_WITHIN_S * NS
    bad = []
    for c in est.charges:
        obj = LagObject(
            "charge-lag",
            c.key,
            start_ns=int(c.documented_s * NS),
            end_ns=None if c.posted_s is None else int(c.posted_s * NS),
            amount=c.amount,
        )
        counted = classify(obj, within_ns, int(est.now_s * NS))
        if counted is not None and counted.bad and lo * NS <= counted.minute * 60 * NS < hi * NS:
            bad.append(counted)
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "scorecard", params)
    assert metric(at, "headline-late_charges") == f"{len(bad):,} charges"
    assert metric(at, "headline-revenue_at_risk") == views.money(sum(b.amount for b in bad))


# --------------------------------------------------------------------------- SLA detail


def test_sla_detail_lists_the_late_charges_with_age_amount_and_trace_links(
    store: Store, app_env: pytest.MonkeyPatch
) -> None:
    params, lo, hi = day_range(store)
    at = open_page(app_env, store.url, store.config_dir, "sla", {**params, "sla": "charge-lag"})
    no_exceptions(at)
    assert "Charges post within 24 h of the procedure" in texts(at)
    assert at.metric[0].value == views.pct(0.935)  # two decimals, as the tiles and the report
    events = table(at, "bad-events")
    late = sorted(store.estate.late_charges(lo, hi), key=lambda c: -c.amount)
    assert list(events[bad_event_tables.KEY_HEADER]) == [bad_event_tables.short_key(c.key) for c in late]
    assert list(events["amount"]) == [views.money(c.amount) for c in late]
    assert all(link.startswith("traces?") and "trace=" in link for link in events["start trace"])
    assert all(f"key={c.key}" in link for c, link in zip(late, events["journey"], strict=True))
    unposted = [c for c in late if c.posted_s is None]
    assert list(events["completed"]).count("not yet") == len(unposted)
    # charts: SLI against objective, budget burn-down, burn rates; and a CSV of the events
    titles = {title_of(s) for s in plotly_specs(at)}
    assert {"SLI against objective", "Error-budget burn-down", "Burn rate per alert window"} <= titles
    assert any(b.key == "bad-events-csv" for b in at.get("download_button"))
    slices = table(at, "slices")
    assert sorted(slices["slice"]) == sorted(f"hc.facility={f}" for f in estate.FACILITIES)
    # the lag distribution of the charges that posted in the range
    histogram = next(s for s in plotly_specs(at) if title_of(s) == "procedure.documented → charge.posted")
    assert sum(histogram["data"][0]["y"]) == len(store.estate.charge_lags_posted_between(lo, hi))


def test_sla_detail_of_a_ratio_sla_lists_the_failed_spans(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    params, _lo, _hi = day_range(sqlite_store)
    at = open_page(
        app_env, sqlite_store.url, sqlite_store.config_dir, "sla", {**params, "sla": "gl-posting-errors"}
    )
    no_exceptions(at)
    events = table(at, "bad-events")
    assert len(events) == sqlite_store.estate.gl_errors
    assert set(events["span"]) == {"erp.gl.post"}
    assert dict(events["message"].value_counts()) == dict(sqlite_store.estate.gl_messages)


def test_sla_detail_of_a_freshness_slice_shows_the_ongoing_silence(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    params, _lo, _hi = day_range(sqlite_store)
    at = open_page(
        app_env,
        sqlite_store.url,
        sqlite_store.config_dir,
        "sla",
        {**params, "sla": "adt-interface-silence", "slice": "hc.facility=south-campus"},
    )
    no_exceptions(at)
    events = table(at, "bad-events")
    ongoing = events[events["ongoing"] == "yes"]
    assert len(ongoing) == 1
    last = sqlite_store.estate.adt_last_s["south-campus"]
    assert ongoing.iloc[0]["silent from"] == datetime.fromtimestamp(last, UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )


def test_sla_detail_of_a_gauge_sla_shows_the_minutes_out_of_bounds(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    params, _lo, _hi = day_range(sqlite_store)
    at = open_page(
        app_env, sqlite_store.url, sqlite_store.config_dir, "sla", {**params, "sla": "queue-backlog-age"}
    )
    no_exceptions(at)
    events = table(at, "bad-events")
    # the oldest message aged (40 - minute) * 60 s over the newest 30 minutes: above 1800 s for 10
    assert list(events["queue"]) == ["charges-outbound"]
    assert list(events["minutes out of bounds"]) == [10]
    assert list(events["worst"]) == ["40m 00s"]  # the age in its unit, never a bare 2400.0
    # the age is still above its bound at the page's end: "until 16:41" would hide that
    assert list(events["ongoing"]) == ["yes"]
    assert list(events["until"]) == ["still out of bounds"]


# --------------------------------------------------------------------------- operations, traces, map


def test_operations_shows_throughput_queues_errors_and_silence(
    store: Store, app_env: pytest.MonkeyPatch
) -> None:
    params, lo, hi = day_range(store)
    at = open_page(app_env, store.url, store.config_dir, "operations", params)
    no_exceptions(at)
    est = store.estate
    services = table(at, "totals-service").set_index("service")
    assert int(services.loc["erp-finance", "failed spans"]) == est.gl_errors
    assert int(services.loc["erp-finance", "spans"]) == est.gl_total
    in_range = est.spans_started_between(lo, hi)
    by_service: dict[str, int] = {}
    for row in in_range:
        by_service[row["service_name"]] = by_service.get(row["service_name"], 0) + 1
    assert {k: int(v) for k, v in services["spans"].items()} == by_service
    interfaces = table(at, "totals-interface").set_index("interface")
    assert int(interfaces.loc["adt-inbound", "spans"]) == 36 * 3 - 9  # south-campus silent for 90 min
    queues = table(at, "queues-now").set_index("queue")
    assert queues.loc["charges-outbound", "depth (messages)"] == est.queue_depth_last["charges-outbound"]
    errors = table(at, "top-errors")
    assert dict(zip(errors["status message"], errors["failed spans"], strict=True)) == dict(est.gl_messages)
    silence = table(at, "silence")
    south = silence[(silence["interface"] == "adt-inbound") & (silence["facility"] == "south-campus")].iloc[0]
    assert south["status"] == "✖ silent"
    north = silence[(silence["interface"] == "adt-inbound") & (silence["facility"] == "north-campus")].iloc[0]
    assert north["status"] == "✔ flowing"
    titles = {title_of(s) for s in plotly_specs(at)}
    assert {"Queue depth", "Oldest message age"} <= titles


def test_traces_page_opens_a_waterfall_and_a_journey(store: Store, app_env: pytest.MonkeyPatch) -> None:
    params, _lo, _hi = day_range(store)
    charge = next(c for c in store.estate.charges if c.posted_s is not None)
    at = open_page(
        app_env,
        store.url,
        store.config_dir,
        "traces",
        {**params, "trace": store.estate.trace_with_hop, "key": charge.key},
    )
    no_exceptions(at)
    specs = {title: s for s in plotly_specs(at) if (title := title_of(s))}
    waterfall = next(v for k, v in specs.items() if k.startswith("Trace "))
    assert sum(len(trace["y"]) for trace in waterfall["data"]) == 2
    journey = specs["Business object journey"]
    assert journey["data"][0]["y"] == ["procedure.documented", "charge.sent", "charge.posted"]
    assert len(table(at, "journey-table")) == 3
    assert "3 spans in 3 traces share this key" in texts(at)


def test_trace_search_by_status(sqlite_store: Store, app_env: pytest.MonkeyPatch) -> None:
    params, _lo, _hi = day_range(sqlite_store)
    at = open_page(
        app_env, sqlite_store.url, sqlite_store.config_dir, "traces", {**params, "status": "error"}
    )
    no_exceptions(at)
    results = table(at, "search-results")
    assert len(results) == sqlite_store.estate.gl_errors
    assert set(results["status"]) == {"error"}


def test_dependency_map_edges(store: Store, app_env: pytest.MonkeyPatch) -> None:
    params, lo, hi = day_range(store)
    at = open_page(app_env, store.url, store.config_dir, "dependencies", params)
    no_exceptions(at)
    edges = table(at, "edges")
    got = {(r["from"], r["to"], r["hop"]): r["calls or messages"] for _i, r in edges.iterrows()}
    posted = sum(1 for c in store.estate.charges if c.posted_s is not None and lo <= c.posted_s < hi)
    assert got == {
        ("billing", "erp-finance", "call"): store.estate.gl_total,
        ("billing", "payer-gateway", "call"): 12,
        ("integration-engine", "billing", "queue"): posted,
    }
    graph = next(s for s in plotly_specs(at) if title_of(s) == "Service dependency map")
    nodes = next(t for t in graph["data"] if t.get("name") == "services")
    assert set(nodes["text"]) >= {"billing", "erp-finance", "payer-gateway", "integration-engine", "ehr"}


# --------------------------------------------------------------------------- states


def test_an_empty_store_says_what_to_do(
    sqlite_engine: Any, sqlite_url: str, tmp_path: Any, app_env: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    for page in ("scorecard", "operations", "traces", "dependencies", "sla"):
        at = open_page(app_env, sqlite_url, config, page)
        no_exceptions(at)
        page_text = texts(at)
        assert "No telemetry yet" in page_text, page
        assert "http://127.0.0.1:4318" in page_text
    at = open_page(app_env, sqlite_url, config, "scorecard")
    assert "No SLAs yet" in texts(at)


def test_stale_telemetry_is_flagged(
    sqlite_engine: Any, sqlite_url: str, tmp_path: Any, app_env: pytest.MonkeyPatch
) -> None:
    from tests.support.factories import insert_spans, span_row

    old = estate.PAGE_NOW_S - 3 * 3600
    insert_spans(sqlite_engine, [span_row(start_s=old, received_s=old)])
    at = open_page(app_env, sqlite_url, tmp_path, "operations", now_s=estate.PAGE_NOW_S)
    no_exceptions(at)
    assert "Stale data" in texts(at)
    assert "3h 00m ago" in texts(at)


def test_a_bad_range_in_the_url_is_explained(sqlite_store: Store, app_env: pytest.MonkeyPatch) -> None:
    at = open_page(
        app_env,
        sqlite_store.url,
        sqlite_store.config_dir,
        "operations",
        {"range": "custom", "from": "2026-11-24T10:00", "to": "2026-11-23T10:00"},
    )
    no_exceptions(at)
    assert any("to= must be later than from=" in str(e.value) for e in at.error)


def test_every_timestamp_carries_its_zone(sqlite_store: Store, app_env: pytest.MonkeyPatch) -> None:
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "operations", {"tz": "Europe/Berlin"})
    silence = table(at, "silence")
    assert all(str(v).endswith(("CET", "CEST")) for v in silence["last message"])
    assert "times in Europe/Berlin" in texts(at)

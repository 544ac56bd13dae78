"""How numbers are written (issue 14), checked over what the pages show and what their CSV holds.

One format per kind of number on every page and in every download: durations as format_duration
text, amounts as money with thousands separators, headers in words, states as plain words and
links as full URLs in a CSV, zones as the zone writes its abbreviation, no bare floats.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from alerts import api
from alerts import config as alerts_config
from alerts.engine import AlertEngine
from alerts.sqlstore import SqlStore
from dashboards.queries import operations as ops_q
from dashboards.timerange import format_duration, format_time
from dashboards.ui import widgets
from tests.dashboards.conftest import Store, no_exceptions, open_page
from tests.dashboards.test_pages import day_range
from vitals.kernel.units import NS

BASE = "https://vitals.example.org/vitals/"
#: A number with a fractional part and no unit beside it ("3481.795", "0.0447").
BARE_FLOAT = re.compile(r"^-?\d+\.\d+$")
SNAKE = re.compile(r"[a-z]_[a-z]")
GLYPHS = ("✔", "✖", "▲", "⊘", "○", "🔥")


# --------------------------------------------------------------------------- pure: the CSV


def test_csv_writes_what_the_table_shows() -> None:
    frame = pd.DataFrame(
        {
            "state": ["✖ firing", "✔ acknowledged", "⊘ suppressed", "? No data"],
            "amount": [12345.0, 300.0, 1234567.0, None],
            "error rate": [0.0447, 0.0, 1.0, None],
            "spans": [12345, 0, 7, 1],
            "resolved": [True, False, True, False],
            "evidence": ["sla?sla=charge-lag&range=1d", "./?facility=north", "", "traces?trace=ab"],
            "message": ["? what", "plain", "✖", "a ✖ b"],
        }
    )
    config = {
        "amount": st.column_config.NumberColumn("amount at risk", format="dollar"),
        "error rate": st.column_config.NumberColumn("error rate", format="percent"),
        "spans": st.column_config.NumberColumn("spans", format="localized"),
        "evidence": st.column_config.LinkColumn("evidence", display_text="SLA"),
    }
    rows = list(csv.DictReader(io.StringIO(widgets.csv_bytes(frame, config, BASE).decode())))
    assert list(rows[0]) == [
        "state",
        "amount at risk",
        "error rate",
        "spans",
        "resolved",
        "evidence",
        "message",
    ]
    assert [r["state"] for r in rows] == ["firing", "acknowledged", "suppressed", "No data"]
    assert [r["amount at risk"] for r in rows] == ["$12,345", "$300.00", "$1,234,567", ""]
    assert [r["error rate"] for r in rows] == ["4.47%", "0.00%", "100.00%", ""]
    assert [r["spans"] for r in rows] == ["12,345", "0", "7", "1"]
    assert [r["resolved"] for r in rows] == ["yes", "no", "yes", "no"]
    assert [r["evidence"] for r in rows] == [
        BASE + "sla?sla=charge-lag&range=1d",
        BASE + "?facility=north",
        "",
        BASE + "traces?trace=ab",
    ]
    # only a leading state glyph goes; text that merely contains one stays as it is
    assert [r["message"] for r in rows] == ["what", "plain", "✖", "a ✖ b"]
    # the table on the page keeps its frame (the glyph beside the word, relative links that work there)
    assert frame.loc[0, "state"] == "✖ firing"


def test_absolute_links_resolve_against_the_page_the_browser_opened() -> None:
    assert widgets.absolute("traces?trace=1", "http://h:8501/operations") == "http://h:8501/traces?trace=1"
    assert widgets.absolute("./?range=1d", "http://h:8501/operations") == "http://h:8501/?range=1d"
    assert widgets.absolute("sla?sla=x", "http://h:8501") == "http://h:8501/sla?sla=x"


def test_money_and_duration_columns_are_text_in_both() -> None:
    frame = pd.DataFrame({"amount": [12345.4, 99.5, None], "age_ms": [850.0, 3182000.0, None]})
    shown = widgets.duration_columns(widgets.money_columns(frame, ["amount"]), {"age_ms": 1e-3})
    assert list(shown["amount"]) == ["$12,345", "$99.50", "-"]
    assert list(shown["age_ms"]) == ["850 ms", "53m 02s", "-"]


def test_sparklines_have_no_toolbar(monkeypatch: pytest.MonkeyPatch) -> None:
    configs: list[dict[str, Any]] = []
    monkeypatch.setattr(st, "plotly_chart", lambda fig, key, config: configs.append(config))
    widgets.chart(go.Figure(layout={"height": 70}), key="spark")
    widgets.chart(go.Figure(layout={"height": 320}), key="big")
    widgets.chart(go.Figure(layout={"height": 320}), key="big-quiet", toolbar=False)
    assert [c.get("displayModeBar", True) for c in configs] == [False, True, False]


# --------------------------------------------------------------------------- pages: what they show


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[dict[str, str]]]]:
    """Every CSV the page's tables offer, by table key, as the rows a spreadsheet would read."""
    found: dict[str, list[dict[str, str]]] = {}
    real_button: Any = st.download_button

    def recording_button(label: str, data: Any, *args: Any, key: str = "", **kwargs: Any) -> Any:
        if key.endswith("-csv") and isinstance(data, bytes):
            found[key.removesuffix("-csv")] = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
        return real_button(label, data, *args, key=key, **kwargs)

    monkeypatch.setattr(st, "download_button", recording_button)
    yield found


def open_at(app_env: pytest.MonkeyPatch, store: Store, page: str, params: dict[str, str]) -> AppTest:
    """The page as a browser at BASE opens it (so a CSV's links start there)."""
    original = AppTest.from_file

    def with_url(*args: Any, **kwargs: Any) -> AppTest:
        at = original(*args, **kwargs)
        at.context["url"] = BASE + ("" if page == "scorecard" else page)
        return at

    app_env.setattr(AppTest, "from_file", with_url)
    at = open_page(app_env, store.url, store.config_dir, page, params)
    no_exceptions(at)
    return at


def headers(at: AppTest) -> dict[str, list[str]]:
    return {
        str(block.key).removeprefix("table-"): [str(c) for c in block.dataframe[0].value.columns]
        for block in _tables(at)
    }


def _tables(at: AppTest) -> list[Any]:
    out = []
    for key in sorted({k for k in _keys(at) if k.startswith("table-")}):
        block: Any = at.get_by_key(key)
        if block is not None and block.dataframe:
            out.append(block)
    return out


def _keys(at: AppTest) -> Iterator[str]:
    stack = [at._tree]
    while stack:
        node = stack.pop()
        key = getattr(node, "key", None)
        if isinstance(key, str):
            yield key
        stack.extend(getattr(node, "children", {}).values())


def check_words_and_units(
    at: AppTest, found: dict[str, list[dict[str, str]]], pages_tables: set[str]
) -> None:
    shown = headers(at)
    assert pages_tables <= set(shown), shown.keys()
    for key, columns in shown.items():
        assert not [c for c in columns if SNAKE.search(c)], (key, columns)
    assert pages_tables <= set(found), found.keys()
    for key in pages_tables:
        rows = found[key]
        for row in rows:
            for column, value in row.items():
                assert not SNAKE.search(column), (key, column)
                assert not BARE_FLOAT.match(value), (key, column, value)
                assert not value.startswith(GLYPHS), (key, column, value)
                if value.startswith(("traces?", "sla?", "./?", "?")):
                    pytest.fail(f"relative link in the CSV of {key}: {column}={value}")


def test_operations_tables_and_csv(
    store: Store, app_env: pytest.MonkeyPatch, downloads: dict[str, list[dict[str, str]]]
) -> None:
    params, _lo, _hi = day_range(store)
    at = open_at(app_env, store, "operations", {**params, "tz": "America/Chicago"})
    check_words_and_units(
        at, downloads, {"totals-service", "totals-interface", "queues-now", "top-errors", "silence"}
    )
    services = {r["service"]: r for r in downloads["totals-service"]}
    erp = services["erp-finance"]
    assert erp["error rate"].endswith("%")
    assert re.fullmatch(r"\d+(\.\d)? m?s|\d+m \d\ds|\d+h \d\dm", erp["mean duration"]), erp
    errors = downloads["top-errors"]
    assert all(
        r["example trace"].startswith(BASE + "traces?") and "trace=" in r["example trace"] for r in errors
    )
    silence = {(r["interface"], r["facility"]): r for r in downloads["silence"]}
    assert silence[("adt-inbound", "south-campus")]["status"] == "silent"
    assert silence[("adt-inbound", "north-campus")]["status"] == "flowing"
    # the queue age chart speaks durations, as the queue table beside it
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    age = next(s for s in specs if s["layout"].get("title", {}).get("text") == "Oldest message age")
    ticks = age["layout"]["yaxis"]["ticktext"]
    assert ticks and all(not t.replace(".", "").isdigit() for t in ticks[1:])
    oldest = {r["queue"]: r["oldest message age"] for r in downloads["queues-now"]}
    assert oldest["charges-outbound"] in {t for s in age["data"] for t in s["customdata"] if t}
    # times in the zone's own abbreviation, the axis titles too
    assert all(r["last message"].endswith((" CST", " CDT")) for r in downloads["silence"])
    titles = [s["layout"]["xaxis"]["title"]["text"] for s in specs if "title" in s["layout"]["xaxis"]]
    assert titles and all(t.startswith("time (America/Chicago, C") for t in titles), titles
    assert not any("GMT" in t for t in titles)


def test_traces_tables_and_csv(
    store: Store, app_env: pytest.MonkeyPatch, downloads: dict[str, list[dict[str, str]]]
) -> None:
    params, _lo, _hi = day_range(store)
    charge = next(c for c in store.estate.charges if c.posted_s is not None)
    at = open_at(
        app_env, store, "traces", {**params, "trace": store.estate.trace_with_hop, "key": charge.key}
    )
    check_words_and_units(at, downloads, {"search-results", "trace-spans", "journey-table"})
    spans = downloads["trace-spans"]
    assert all(re.fullmatch(r"\d+(\.\d)? m?s|\d+m \d\ds", r["duration"]) for r in spans), spans
    journey = downloads["journey-table"]
    assert journey and all(
        r["trace"].startswith(BASE + "traces?") and "trace=" in r["trace"] for r in journey
    )
    waterfall = next(
        json.loads(el.proto.spec)
        for el in at.get("plotly_chart")
        if json.loads(el.proto.spec)["layout"]["title"]["text"].startswith("Trace ")
    )
    axis = waterfall["layout"]["xaxis"]
    assert axis["title"]["text"] == "since the trace began"
    assert all(t == "0" or t.endswith(("ms", "s", "m", "h", "d")) for t in axis["ticktext"])


def test_dependencies_table_and_csv(
    store: Store, app_env: pytest.MonkeyPatch, downloads: dict[str, list[dict[str, str]]]
) -> None:
    params, _lo, _hi = day_range(store)
    at = open_at(app_env, store, "dependencies", params)
    check_words_and_units(at, downloads, {"edges"})
    edges = {(r["from"], r["to"]): r for r in downloads["edges"]}
    gl = edges[("billing", "erp-finance")]
    assert gl["calls or messages"] == f"{store.estate.gl_total:,}"
    assert gl["error rate"] == f"{store.estate.gl_errors / store.estate.gl_total * 100:.2f}%"
    assert gl["spans"].startswith(BASE + "traces?") and "service=erp-finance" in gl["spans"]


def fire(store: Store) -> list[api.AlertInfo]:
    engine = AlertEngine(
        SqlStore(store.engine),
        lambda: alerts_config.load_for(store.config_dir),
        clock=lambda: store.estate.now_s,
    )
    engine.evaluate()
    return api.list_alerts(store.engine)


def test_alerts_tables_and_csv(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, downloads: dict[str, list[dict[str, str]]]
) -> None:
    alerts = fire(sqlite_store)
    assert alerts
    at = open_at(app_env, sqlite_store, "alerts", {})
    check_words_and_units(at, downloads, {"incident-not-grouped"})
    rows = downloads["incident-not-grouped"]
    assert {r["state"] for r in rows} <= {"firing", "acknowledged", "suppressed", "resolved"}
    assert all(r["evidence"].startswith(BASE + "sla?") and "sla=" in r["evidence"] for r in rows)
    money = [r["at risk"] for r in rows if r["at risk"]]
    assert money and all(re.fullmatch(r"\$\d{1,3}(,\d{3})*(\.\d\d)?", m) for m in money), money


def test_zone_abbreviations_are_the_zones_own() -> None:
    winter, summer = 1795500000 * NS, 1783000000 * NS
    assert format_time(winter, "America/Chicago").endswith(" CST")
    assert format_time(summer, "America/Chicago").endswith(" CDT")
    assert format_time(winter, "Europe/Berlin").endswith(" CET")
    assert format_duration(3182) == "53m 02s"


def test_sparklines_on_the_scorecard_have_no_toolbar(store: Store, app_env: pytest.MonkeyPatch) -> None:
    """On a phone, plotly's toolbar would cover a 70 px sparkline: the tiles' charts have none."""
    at = open_page(app_env, store.url, store.config_dir, "scorecard")
    no_exceptions(at)
    charts = [(json.loads(el.proto.spec), json.loads(el.proto.config)) for el in at.get("plotly_chart")]
    sparklines = [config for spec, config in charts if spec["layout"].get("height") == 70]
    assert sparklines and all(config.get("displayModeBar") is False for config in sparklines)
    assert all(
        config.get("displayModeBar", True) for spec, config in charts if spec["layout"].get("height") != 70
    )


def test_more_groups_than_colours_fold_into_other_with_their_own_error_rate() -> None:
    frame = pd.DataFrame(
        [(0, f"svc-{i}", 10 * (i + 1), i, 1000, 100) for i in range(10)]
        + [(60 * NS, f"svc-{i}", 10, 1, 1000, 200) for i in range(10)],
        columns=ops_q.THROUGHPUT_COLUMNS,
    )
    folded = ops_q.fold_groups(frame, 7)
    assert set(folded["group"]) == {f"svc-{i}" for i in range(3, 10)} | {"other (3 series)"}
    other = folded[folded["group"] == "other (3 series)"].set_index("time")
    assert list(other["count"]) == [10 + 20 + 30, 30] and list(other["errors"]) == [0 + 1 + 2, 3]
    assert list(other["duration_max_ns"]) == [100, 200]
    assert (
        ops_q.fold_groups(frame[frame["group"].isin([f"svc-{i}" for i in range(8)])], 7)["group"].nunique()
        == 8
    )

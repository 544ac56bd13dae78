"""Traces: search spans, open one trace as a waterfall, follow a business object across traces."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboards import views
from dashboards.figures import traces as trace_fig
from dashboards.queries.traces import SpanSearch
from dashboards.timerange import snap, to_datetime
from dashboards.ui import cached, widgets
from dashboards.ui.frame import PageContext, banners, render

ANY = "any"
MS = 1e-3  # a column in milliseconds, in seconds
#: The span columns' headers: a span's name is "span"; its duration a duration (not "ms").
HEADERS = {"name": "span", "duration_ms": "duration", "event_time": "business time", "end": "end"}


def worded(name: object) -> str:
    return HEADERS.get(str(name)) or views.header(name)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _with(choices: list[str], extra: str | None) -> list[str]:
    return sorted({*choices, extra}) if extra and extra != ANY else choices


def search(ctx: PageContext) -> None:
    # Choices from the two days before the range ends: names do not change often, and this stays cheap.
    services, stages = cached.search_choices(ctx.url, snap(ctx.tr.end_ns, 3600) - 2 * 86400 * 10**9)
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns(4)
        # A value from a shared link stays selectable even when it is not among the recent ones.
        wanted = st.query_params
        service = c1.selectbox(
            "Service", [ANY, *_with(services, wanted.get("service"))], key="service", bind="query-params"
        )
        stage = c2.selectbox(
            "Stage", [ANY, *_with(stages, wanted.get("stage"))], key="stage", bind="query-params"
        )
        status = c3.selectbox("Status", [ANY, "error", "ok"], key="status", bind="query-params")
        min_ms = c4.number_input(
            "Slower than (ms)", min_value=0.0, value=0.0, step=100.0, key="min_ms", bind="query-params"
        )
        k1, k2 = st.columns(2)
        key_hash = k1.text_input(
            "Business key (hash)",
            key="key",
            bind="query-params",
            help="An hc.key.* value as stored (HMAC hash).",
        ).strip()
        trace_id = k2.text_input("Trace id", key="trace", bind="query-params").strip()
    if trace_id:
        waterfall(ctx, trace_id)
    if key_hash:
        journey(ctx, key_hash)
    query = SpanSearch(
        start_ns=ctx.tr.start_ns,
        end_ns=ctx.tr.end_ns,
        service=None if service == ANY else service,
        stage=None if stage == ANY else stage,
        status=None if status == ANY else status,
        min_duration_ms=min_ms or None,
        key_hash=key_hash or None,
    )
    result = cached.search_spans(ctx.url, query)
    st.subheader("Matching spans")
    if result.capped:
        st.warning(
            "Looked at the newest 200,000 candidate spans only: narrow the time range to search further."
        )
    if result.spans.empty:
        widgets.no_data(f"No spans match in {ctx.tr.label.lower()}.")
        return
    frame = result.spans.copy()
    frame["trace"] = [ctx.link("traces", trace=t) for t in frame["trace_id"]]
    frame = widgets.time_columns(frame, ["start"], ctx.tz)
    frame = widgets.duration_columns(frame, {"duration_ms": MS})
    frame = frame[
        [
            "trace",
            "start",
            "service",
            "name",
            "kind",
            "status",
            "duration_ms",
            "stage",
            "facility",
            "interface",
            "status_message",
            "trace_id",
        ]
    ]
    widgets.table(
        frame.rename(columns=worded),
        key="search-results",
        file_name="spans.csv",
        caption=f"Newest first, at most {query.limit}",
        column_config={"trace": st.column_config.LinkColumn("trace", display_text="waterfall")},
    )


def waterfall(ctx: PageContext, trace_id: str) -> None:
    spans = cached.trace(ctx.url, trace_id)
    st.subheader(f"Trace {trace_id}")
    if spans.empty:
        widgets.no_data(
            "No span of this trace is stored (yet): spans can arrive a little after the trace began."
        )
        return
    bars = [
        trace_fig.SpanBar(
            r["span_id"],
            r["parent_span_id"],
            r["service"],
            r["name"],
            int(r["start"]),
            int(r["end"]),
            r["status"] == "error",
        )
        for r in records(spans)
    ]
    widgets.chart(
        trace_fig.waterfall(bars, title=f"Trace {trace_id[:12]}… ({len(bars)} spans)"), key="waterfall"
    )
    keys = cached.trace_keys(ctx.url, trace_id)
    if keys:
        st.caption("Business objects in this trace (follow one across traces):")
        for name, value in keys:
            st.page_link(
                "screens/traces.py",
                label=f"hc.key.{name} = {value[:16]}…",
                icon=":material/route:",
                query_params=ctx.page_params(key=value),
            )
    frame = widgets.time_columns(spans, ["start", "end"], ctx.tz)
    frame = widgets.duration_columns(frame, {"duration_ms": MS})
    widgets.table(
        frame.drop(columns=["trace_id"]).rename(columns=worded),
        key="trace-spans",
        file_name=f"trace-{trace_id}.csv",
    )
    choice = st.selectbox(
        "Span details", list(spans["span_id"]), format_func=lambda s: _label(spans, s), key="span"
    )
    details = cached.span_details(ctx.url, trace_id, choice) if choice else None
    if details:
        st.json(details, expanded=1)


def _label(spans: pd.DataFrame, span_id: str) -> str:
    row = spans[spans["span_id"] == span_id].iloc[0]
    return f"{row['service']}: {row['name']} ({span_id})"


def journey(ctx: PageContext, key_hash: str) -> None:
    frame = cached.journey(ctx.url, key_hash)
    st.subheader("Business object journey")
    if frame.empty:
        widgets.no_data("No span carries this key. Keys are HMAC hashes of hc.key.* values, as stored.")
        return
    steps = [
        trace_fig.JourneyStep(
            to_datetime(int(r["event_time"]), ctx.tz),
            r["stage"] or r["name"],
            r["service"],
            r["name"],
            r["trace_id"],
            r["status"] == "error",
        )
        for r in records(frame)
    ]
    traces_ = frame["trace_id"].nunique()
    st.caption(f"{len(frame)} spans in {traces_} traces share this key")
    widgets.chart(trace_fig.journey(steps, tz_label=ctx.tz_label), key="journey")
    shown = frame.assign(trace=[ctx.link("traces", trace=t) for t in frame["trace_id"]])
    shown = widgets.time_columns(shown, ["event_time", "start"], ctx.tz)
    shown = widgets.duration_columns(shown, {"duration_ms": MS})
    widgets.table(
        shown[
            [
                "event_time",
                "stage",
                "service",
                "name",
                "status",
                "duration_ms",
                "facility",
                "trace_id",
                "trace",
            ]
        ].rename(columns=worded),
        key="journey-table",
        file_name="journey.csv",
        column_config={"trace": st.column_config.LinkColumn("trace", display_text="waterfall")},
    )


def body(ctx: PageContext) -> None:
    st.title("Traces")
    if not banners(ctx):
        return
    search(ctx)


render("traces", body)

"""Operations: throughput and errors per system and interface, queues, top errors, silence."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import pandas as pd
import streamlit as st

from dashboards.figures import ops as ops_fig
from dashboards.figures.palette import MAX_SERIES
from dashboards.queries import operations as ops_q
from dashboards.queries.operations import totals
from dashboards.timerange import format_duration, to_datetime
from dashboards.ui import cached, widgets
from dashboards.ui.frame import PageContext, banners, render
from dashboards.ui.resources import engine_for
from slas import HistoryExpectation
from slas.spec import FreshnessSli


@st.cache_data(ttl=60, show_spinner=False)
def _history_counts(url: str, now_ns: int) -> dict[tuple[str, str, str], dict[int, int]]:
    return ops_q.feed_history_counts(engine_for(url), now_ns, HistoryExpectation())


def business_zone(ctx: PageContext) -> str:
    """The zone whose hours and weekdays set a feed's rhythm: the freshness SLAs' (else the config's)."""
    definitions = ctx.catalog.definitions
    fresh = [d for d in definitions if isinstance(d.sli.spec, FreshnessSli)]
    chosen = fresh or list(definitions)
    return chosen[0].time_zone if chosen else ctx.config.time_zone


def _series(
    frame: pd.DataFrame, value: str, ctx: PageContext, scale: float = 1.0
) -> dict[str, tuple[list[datetime], list[float | None]]]:
    out: dict[str, tuple[list[datetime], list[float | None]]] = {}
    for group, rows in frame.groupby("group"):
        out[str(group)] = (
            [to_datetime(int(t), ctx.tz) for t in rows["time"]],
            [None if pd.isna(v) else float(v) * scale for v in rows[value]],
        )
    return out


def traffic(ctx: PageContext, by: Literal["service", "interface"]) -> None:
    tr = ctx.tr
    step = tr.step_s()
    frame = cached.throughput(
        ctx.url, tr.start_ns, tr.end_ns, resolution_s=tr.resolution_s, step_s=step, by=by
    )
    noun = "system (service.name)" if by == "service" else "interface (queue or message type)"
    if frame.empty:
        widgets.no_data(f"No spans in {tr.label.lower()} for any {noun}.")
        return
    # The busiest groups each in their own colour, the rest added up as one "other" line.
    shown = ops_q.fold_groups(frame, MAX_SERIES)
    shown = shown.assign(error_rate=shown["errors"] / shown["count"])
    per_minute = 60.0 / step
    left, right = st.columns(2)
    with left:
        widgets.chart(
            ops_fig.time_series(
                _series(shown, "count", ctx, per_minute),
                title=f"Throughput per {noun}",
                y_title=f"spans per minute (mean over {format_duration(step)})",
                tz_label=ctx.tz_label,
                step_s=step,
            ),
            key=f"throughput-{by}",
        )
    with right:
        widgets.chart(
            ops_fig.time_series(
                _series(shown, "error_rate", ctx),
                title=f"Error rate per {noun}",
                y_title=f"failed spans (% per {format_duration(step)})",
                tz_label=ctx.tz_label,
                percent=True,
                step_s=step,
            ),
            key=f"errors-{by}",
        )
    table = totals(frame)
    table = widgets.duration_columns(table, {"mean_ms": 1e-3, "max_ms": 1e-3}).rename(
        columns={
            "group": by,
            "count": "spans",
            "errors": "failed spans",
            "error_rate": "error rate",
            "mean_ms": "mean duration",
            "max_ms": "longest span",
        }
    )
    widgets.table(
        table,
        key=f"totals-{by}",
        file_name=f"throughput-by-{by}.csv",
        caption=f"{tr.label}: spans, failed spans, error rate and duration per {noun}",
        column_config={
            "spans": st.column_config.NumberColumn("spans", format="localized"),
            "failed spans": st.column_config.NumberColumn("failed spans", format="localized"),
            "error rate": st.column_config.NumberColumn("error rate", format="percent"),
        },
    )


def queues(ctx: PageContext) -> None:
    st.subheader("Queues")
    tr = ctx.tr
    now = cached.queue_now(ctx.url, ctx.now_ns)
    series = cached.queue_series(ctx.url, tr.start_ns, tr.end_ns, tr.resolution_s, tr.step_s())
    if now.empty and series.empty:
        widgets.no_data(
            "No queue samples: configure queue pollers in collector.yaml (RabbitMQ, Redis Streams, NATS, "
            "SQL) or push queue.* gauges over OTLP."
        )
        return
    if not now.empty:
        shown = now.copy()
        shown["oldest message age"] = shown["queue.oldest_age_seconds"].map(
            lambda v: format_duration(v) if pd.notna(v) else "no data"
        )
        shown["stuck"] = shown["queue.stuck"].map(
            lambda v: "✖ stuck" if v == 1 else ("no" if pd.notna(v) else "no data")
        )
        shown = widgets.time_columns(shown, ["sampled_at"], ctx.tz)
        shown = shown[
            ["queue", "queue.depth", "oldest message age", "queue.consumers", "stuck", "sampled_at"]
        ]
        widgets.table(
            shown.rename(
                columns={
                    "queue.depth": "depth (messages)",
                    "queue.consumers": "consumers",
                    "sampled_at": "sampled at",
                }
            ),
            key="queues-now",
            file_name="queues-now.csv",
            caption="Newest sample per queue",
            column_config={
                "depth (messages)": st.column_config.NumberColumn("depth (messages)", format="localized"),
                "consumers": st.column_config.NumberColumn("consumers", format="localized"),
            },
        )
    for metric, title, unit, duration in (
        ("queue.depth", "Queue depth", "messages (max per step)", False),
        ("queue.oldest_age_seconds", "Oldest message age", "oldest message (max per step)", True),
    ):
        rows = series[series["name"] == metric]
        if rows.empty:
            continue
        data = {
            str(q): ([to_datetime(int(t), ctx.tz) for t in g["time"]], [float(v) for v in g["max"]])
            for q, g in rows.groupby("queue")
        }
        widgets.chart(
            ops_fig.time_series(
                data,
                title=title,
                y_title=unit,
                tz_label=ctx.tz_label,
                step_s=tr.step_s(),
                duration=duration,
                combine="max",
            ),
            key=f"queue-{metric}",
        )


def top_errors(ctx: PageContext) -> None:
    st.subheader("Top errors")
    frame = cached.top_errors(ctx.url, ctx.tr.start_ns, ctx.tr.end_ns)
    if frame.empty:
        widgets.no_data(f"No failed spans in {ctx.tr.label.lower()} (hourly buckets).")
        return
    frame = frame.assign(trace=[ctx.link("traces", trace=t) for t in frame["example_trace_id"]])
    frame = widgets.time_columns(frame, ["last_seen"], ctx.tz).drop(columns=["example_trace_id"])
    widgets.table(
        frame.rename(
            columns={
                "last_seen": "last seen",
                "message": "status message",
                "count": "failed spans",
                "trace": "example trace",
            }
        ),
        key="top-errors",
        file_name="top-errors.csv",
        caption="Failed spans grouped by service, span and status message (whole hours of the range)",
        column_config={
            "failed spans": st.column_config.NumberColumn("failed spans", format="localized"),
            "example trace": st.column_config.LinkColumn("example trace", display_text="open trace"),
        },
    )


def silence(ctx: PageContext) -> None:
    st.subheader("Interface silence")
    frame = cached.feed_silence(ctx.url, ctx.now_ns)
    if frame.empty:
        widgets.no_data(
            "No interface feeds seen yet (spans with messaging.destination.name or hc.message.type)."
        )
        return
    if ctx.filters.facility:
        frame = frame[frame["facility"] == ctx.filters.facility]
    counts = _history_counts(ctx.url, ctx.now_ns)
    frame = ops_q.feed_expectations(frame, counts, ctx.now_ns, business_zone(ctx))
    frame = frame.assign(
        status=["✖ silent" if s else "✔ flowing" for s in frame["silent"]],
        silent_for=[format_duration(s) for s in frame["silent_s"]],
        expected=[
            ops_q.expected_words(None if pd.isna(g) else float(g), bool(h))
            for g, h in zip(frame["usual_gap_s"], frame["has_history"], strict=True)
        ],
    )
    frame = frame.sort_values(["silent", "silent_s"], ascending=[False, False], kind="stable")
    frame = widgets.time_columns(frame, ["last_seen"], ctx.tz)
    frame = frame[
        ["status", "interface", "facility", "service", "last_seen", "silent_for", "expected", "count"]
    ]
    widgets.table(
        frame.rename(
            columns={
                "last_seen": "last message",
                "silent_for": "silent for",
                "expected": "expected (own history)",
                "count": "messages (all time)",
            }
        ),
        column_config={
            "messages (all time)": st.column_config.NumberColumn("messages (all time)", format="localized")
        },
        key="silence",
        file_name="interface-silence.csv",
        caption="Time since the last message per feed; silent when that is at least 10 min and longer "
        "than the feed's own history expects at this hour of the week (the rule of freshness SLAs with "
        "expect: history)",
    )


def body(ctx: PageContext) -> None:
    st.title("Operations")
    if not banners(ctx):
        return
    st.subheader("Systems")
    traffic(ctx, "service")
    st.subheader("Interfaces")
    traffic(ctx, "interface")
    queues(ctx)
    top_errors(ctx)
    silence(ctx)


render("operations", body)

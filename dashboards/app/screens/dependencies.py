"""Dependency map: which system calls or feeds which, how much, how often it fails, how slow."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards.figures import graph as graph_fig
from dashboards.timerange import format_duration
from dashboards.ui import cached, widgets
from dashboards.ui.frame import PageContext, banners, render


def body(ctx: PageContext) -> None:
    st.title("Dependency map")
    if not banners(ctx):
        return
    tr = ctx.tr
    graph = cached.service_graph(ctx.url, tr.start_ns, tr.end_ns, tr.resolution_s)
    if not graph.edges:
        widgets.no_data(
            f"No cross-service calls or queue hops in {tr.label.lower()}. Edges come from client/server and "
            "producer/consumer spans, span links, and producer/consumer spans sharing an hc.key.* value."
        )
        return
    st.caption(
        "Edge width: volume; colour: share failed (blue 0%, orange 5%, vermillion 20% or more); "
        "dashed: queue hop (joined by parent, span link or shared correlation key). "
        "Hover an edge's diamond for counts and latency."
    )
    widgets.chart(graph_fig.service_graph(graph), key="service-graph")
    frame = pd.DataFrame(
        [
            {
                "from": e.source,
                "to": e.target,
                "hop": "queue" if e.kind == "queue" else "call",
                "via queue": e.via,
                "calls or messages": e.count,
                "failed": e.errors,
                "error rate": e.error_rate,
                "mean latency": format_duration(e.latency_mean_s),
                "max latency": format_duration(e.latency_max_s),
                "spans": ctx.link("traces", service=e.target),
            }
            for e in graph.edges
        ]
    )
    widgets.table(
        frame.sort_values("calls or messages", ascending=False),
        key="edges",
        file_name="dependencies.csv",
        caption=f"{tr.label}: one row per edge. Latency: the caller's client span (calls) or publish to "
        "consume (queue hops).",
        column_config={
            "calls or messages": st.column_config.NumberColumn("calls or messages", format="localized"),
            "failed": st.column_config.NumberColumn("failed", format="localized"),
            "error rate": st.column_config.NumberColumn("error rate", format="percent"),
            "spans": st.column_config.LinkColumn("spans", display_text="target's spans"),
        },
    )


render("dependencies", body)

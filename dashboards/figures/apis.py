"""The APIs page's figure: latency percentiles of the busiest APIs, one row of markers each."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from analytics.report import ApiStats
from dashboards.figures.axes import duration_axis
from dashboards.figures.palette import BLUE, ORANGE, VERMILLION
from dashboards.timerange import format_duration

__all__ = ["label", "latency"]

#: APIs drawn at most (the busiest).
MAX_APIS = 15


def label(s: ApiStats) -> str:
    parts = [s.service, s.method, s.route] if s.service != "*" else []
    if s.consumer != "*":
        parts.append(f"[{s.consumer or '(unknown)'}]")
    return " ".join(p for p in parts if p)


def latency(stats: Sequence[ApiStats], *, title: str = "Latency of the busiest APIs") -> go.Figure:
    """p50, p95 and p99 per API on a log axis, busiest at the top."""
    shown = [s for s in stats if s.p50_s is not None][:MAX_APIS][::-1]
    names = [label(s) for s in shown]
    fig = go.Figure()
    for name, colour, values in (
        ("p50", BLUE, [s.p50_s for s in shown]),
        ("p95", ORANGE, [s.p95_s for s in shown]),
        ("p99", VERMILLION, [s.p99_s for s in shown]),
    ):
        fig.add_trace(
            go.Scatter(
                x=values,
                y=names,
                mode="markers",
                name=name,
                marker={"color": colour, "size": 10},
                text=[format_duration(v) for v in values],
                hovertemplate="%{y}<br>" + name + ": %{text}<extra></extra>",
            )
        )
    known = [v for s in shown for v in (s.p50_s, s.p95_s, s.p99_s) if v is not None]
    fig.update_xaxes(title_text="latency", type="log" if known and min(known) > 0 else "linear")
    if known and min(known) <= 0:
        fig.update_xaxes(**duration_axis(known))
    fig.update_layout(
        title={"text": title},
        height=max(220, 80 + 26 * len(shown)),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        hovermode="closest",
        legend={"orientation": "h", "y": -0.15},
    )
    return fig

"""Operations and business figures: throughput, error rate, queues, lag, denials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import plotly.graph_objects as go

from dashboards.figures.palette import BLUE, GREY, ORANGE, VERMILLION, series_colour


def _layout(fig: go.Figure, *, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        title={"text": title},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        hovermode="x unified",
        legend={"orientation": "v", "yanchor": "top", "y": 1, "x": 1.02},
    )
    return fig


def time_series(
    series: Mapping[str, tuple[Sequence[datetime], Sequence[float | None]]],
    *,
    title: str,
    y_title: str,
    tz_label: str,
    percent: bool = False,
    bound: float | None = None,
    bound_label: str = "",
) -> go.Figure:
    """One line per named series (services, interfaces, queues), in fixed colours."""
    fig = go.Figure()
    for index, (name, (xs, ys)) in enumerate(sorted(series.items())):
        fig.add_trace(
            go.Scatter(
                x=list(xs),
                y=[None if y is None else (y * 100 if percent else y) for y in ys],
                mode="lines",
                name=name,
                line={"color": series_colour(index), "width": 2},
                hovertemplate=f"%{{y:.3g}}{'%' if percent else ''}<extra>{name}</extra>",
            )
        )
    if bound is not None:
        fig.add_hline(
            y=bound * 100 if percent else bound,
            line={"color": VERMILLION, "dash": "dash"},
            annotation_text=bound_label,
        )
    fig.update_yaxes(title_text=y_title, rangemode="tozero", ticksuffix="%" if percent else "")
    fig.update_xaxes(title_text=f"time ({tz_label})")
    return _layout(fig, title=title)


def lag_histogram(
    buckets: Sequence[tuple[float, int]],
    *,
    bucket_s: float,
    within_s: float,
    median_s: float | None,
    p95_s: float | None,
    title: str,
) -> go.Figure:
    """Completed objects per lag bucket (hours), with the deadline, median and p95 marked."""
    fig = go.Figure(
        go.Bar(
            x=[(lo + bucket_s / 2) / 3600 for lo, _n in buckets],
            y=[n for _lo, n in buckets],
            width=[bucket_s / 3600] * len(buckets),
            marker_color=[VERMILLION if lo >= within_s else BLUE for lo, _n in buckets],
            name="objects",
            hovertemplate="%{x:.2f} h: %{y} objects<extra></extra>",
        )
    )
    for value, label, colour, dash in (
        (within_s, "deadline", VERMILLION, "solid"),
        (median_s, "median", GREY, "dot"),
        (p95_s, "p95", ORANGE, "dash"),
    ):
        if value is not None:
            fig.add_vline(
                x=value / 3600, line={"color": colour, "dash": dash, "width": 2}, annotation_text=label
            )
    fig.update_xaxes(title_text="lag (hours)")
    fig.update_yaxes(title_text="objects")
    fig.update_layout(hovermode="closest", showlegend=False, bargap=0.05)
    return _layout(fig, title=title, height=280)


def denial_codes(counts: Mapping[str, int], total: int, *, title: str = "Top denial codes") -> go.Figure:
    """Denials per CARC code as a share of all remits, most frequent first (top 10)."""
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    fig = go.Figure(
        go.Bar(
            x=[n for _c, n in top][::-1],
            y=[c for c, _n in top][::-1],
            orientation="h",
            marker_color=ORANGE,
            text=[f"{n} ({n / total:.1%})" if total else str(n) for _c, n in top][::-1],
            textposition="auto",
            hovertemplate="%{y}: %{x} denials<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="denied remits")
    fig.update_layout(hovermode="closest")
    return _layout(fig, title=title, height=max(200, 60 + 28 * len(top)))

"""SLA figures: sparkline, SLI against objective, error-budget burn-down, burn rates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import plotly.graph_objects as go

from dashboards.figures.axes import sparse, time_hover, with_gaps, zone_title
from dashboards.figures.palette import BLUE, GREY, ORANGE, SKY, VERMILLION, style
from slas.model import BurnRate


def _base(fig: go.Figure, *, height: int, title: str | None = None) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        title={"text": title} if title else None,
        hovermode="x unified",
        legend={"orientation": "v", "yanchor": "top", "y": 1, "x": 1.02},
    )
    return fig


def sparkline(
    times: Sequence[datetime], values: Sequence[float | None], objective: float | None, status: str
) -> go.Figure:
    """A tile's trend: the SLI as a thin line in the status colour, the objective dotted.

    A stretch without evaluations breaks the line (see :func:`dashboards.figures.axes.with_gaps`).
    """
    xs, ys = with_gaps(list(times), list(values))
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=[None if v is None else v * 100 for v in ys],
            mode="lines+markers" if sparse(ys) else "lines",
            marker={"size": 4},
            line={"color": style(status).colour, "width": 2},
            hovertemplate="%{x}<br>%{y:.2f}%<extra></extra>",
            connectgaps=False,
            name="SLI",
        )
    )
    if objective is not None and times:
        fig.add_hline(y=objective * 100, line={"color": GREY, "dash": "dot", "width": 1})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=70, margin={"l": 0, "r": 0, "t": 4, "b": 4}, showlegend=False)
    return fig


def sli_over_time(
    times: Sequence[datetime],
    values: Sequence[float | None],
    objective: float,
    *,
    tz_label: str,
    title: str = "SLI against objective",
) -> go.Figure:
    xs, ys = with_gaps(list(times), list(values))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[None if v is None else v * 100 for v in ys],
            mode="lines+markers",
            marker={"size": 4},
            line={"color": BLUE, "width": 2},
            connectgaps=False,
            name="SLI (%)",
            hovertemplate="%{y:.3f}%<extra>SLI</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[times[0], times[-1]] if times else [],
            y=[objective * 100, objective * 100] if times else [],
            mode="lines",
            line={"color": VERMILLION, "dash": "dash", "width": 2},
            name=f"Objective {objective * 100:g}%",
            hoverinfo="skip",
        )
    )
    fig.update_yaxes(title_text="good events (%)", ticksuffix="%")
    fig.update_xaxes(title_text=zone_title(list(times), tz_label), **time_hover(list(times)))
    return _base(fig, height=320, title=title)


def budget_burndown(
    times: Sequence[datetime], remaining: Sequence[float | None], *, tz_label: str, window_label: str
) -> go.Figure:
    """Error budget left over time; below zero the SLA has broken its promise for the window.

    Every point is drawn (a lone sample as a marker, never as nothing next to the 0% line), and
    the axis always shows 0% and 100% so the distance to exhaustion reads at a glance.
    """
    xs, left = with_gaps(list(times), list(remaining))
    pct = [None if v is None else v * 100 for v in left]
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=pct,
            mode="lines+markers" if sparse(left) else "lines",
            connectgaps=False,
            marker={"size": 5},
            fill="tozeroy",
            line={"color": SKY, "width": 2},
            name="budget remaining (%)",
            hovertemplate="%{y:.1f}% of the budget left<extra></extra>",
        )
    )
    fig.add_hline(
        y=0,
        line={"color": VERMILLION, "width": 1, "dash": "dot"},
        annotation_text="0%: budget exhausted",
        annotation_position="bottom right",
    )
    known = [v for v in pct if v is not None]
    fig.update_yaxes(range=[min([0.0, *known]) - 5, max([100.0, *known]) + 5])
    fig.update_yaxes(title_text=f"error budget left over {window_label} (%)", ticksuffix="%")
    fig.update_xaxes(title_text=zone_title(list(times), tz_label), **time_hover(list(times)))
    return _base(fig, height=300, title="Error-budget burn-down")


def burn_rates(rates: Sequence[BurnRate]) -> go.Figure:
    """Long- and short-window burn per alert window against its threshold (1 = on budget)."""
    names = [r.name for r in rates]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=names,
            y=[r.long_rate for r in rates],
            name="long window",
            marker_color=BLUE,
            hovertemplate="%{x}: burn %{y:.2f}x<extra>long window</extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=[r.short_rate for r in rates],
            name="short window",
            marker_color=SKY,
            hovertemplate="%{x}: burn %{y:.2f}x<extra>short window</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=names,
            y=[r.threshold for r in rates],
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 40, "color": ORANGE, "line": {"width": 3}},
            name="alert threshold",
            hovertemplate="%{x}: fires above %{y:g}x<extra></extra>",
        )
    )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="burn rate (x budget)", rangemode="tozero")
    return _base(fig, height=300, title="Burn rate per alert window")

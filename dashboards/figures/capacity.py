"""Capacity figures: the forecast peak hour of each day against capacity and the margin."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from capacity.report import CapacityRow
from dashboards.figures.palette import BLUE, GREY, ORANGE, PURPLE, VERMILLION


def _day_colour(row_day: object) -> str:
    kind = getattr(row_day, "kind", None)
    if kind is not None and (kind.close_last or kind.close_first):
        return VERMILLION
    if kind is not None and kind.claims:
        return PURPLE
    return BLUE


def forecast_peaks(row: CapacityRow, zone: str) -> go.Figure:
    """One bar per forecast day (its busiest hour), month-end close days vermillion, claims days
    purple, the upper bound as an error bar; capacity and the margin line across."""
    days = row.forecast.days
    tz = ZoneInfo(zone)
    xs = [datetime(d.day.year, d.day.month, d.day.day, tzinfo=tz) for d in days]
    fig = go.Figure(
        go.Bar(
            x=xs,
            y=[d.peak_per_hour for d in days],
            marker={"color": [_day_colour(d) for d in days]},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [d.peak_upper - d.peak_per_hour for d in days],
                "arrayminus": [0.0] * len(days),
                "color": GREY,
            },
            name="peak hour (forecast)",
            hovertemplate="%{x|%a %b %d}: %{y:,.0f} messages in the busiest hour<extra></extra>",
        )
    )
    capacity = row.capacity_per_hour
    if capacity is not None:
        fig.add_hline(
            y=capacity,
            line={"color": VERMILLION, "width": 2},
            annotation_text=f"capacity ({row.capacity_source})",
        )
        fig.add_hline(
            y=capacity * (1 - row.margin),
            line={"color": ORANGE, "dash": "dash"},
            annotation_text=f"margin {row.margin:.0%}",
            annotation_position="bottom right",
        )
    if row.close_peak is not None:
        peak = row.close_peak
        fig.add_annotation(
            x=datetime(peak.day.year, peak.day.month, peak.day.day, tzinfo=tz),
            y=peak.peak_upper,
            text="month-end close",
            showarrow=True,
            arrowhead=2,
        )
    fig.update_layout(
        title={"text": f"{row.name}: busiest hour per day, next {len(days)} days"},
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis_title="messages per hour",
        showlegend=False,
    )
    return fig


__all__ = ["forecast_peaks"]

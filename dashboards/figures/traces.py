"""Trace figures: the waterfall of one trace and a business object's journey across traces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import plotly.graph_objects as go

from dashboards.figures.axes import duration_axis, zone_title
from dashboards.figures.palette import MAX_SERIES, OTHER, VERMILLION, series_colour
from dashboards.timerange import format_duration


@dataclass(frozen=True)
class SpanBar:
    span_id: str
    parent_span_id: str | None
    service: str
    name: str
    start_ns: int
    end_ns: int
    error: bool


def tree_order(bars: Sequence[SpanBar]) -> list[tuple[SpanBar, int]]:
    """Depth-first order (children under their parent, by start), with each span's depth.

    Spans whose parent is missing (not yet arrived, or in another trace) start new roots.
    """
    ids = {b.span_id for b in bars}
    children: dict[str | None, list[SpanBar]] = {}
    for b in bars:
        parent = b.parent_span_id if b.parent_span_id in ids else None
        children.setdefault(parent, []).append(b)
    for group in children.values():
        group.sort(key=lambda b: (b.start_ns, b.span_id))
    out: list[tuple[SpanBar, int]] = []
    seen: set[str] = set()

    def walk(parent: str | None, depth: int) -> None:
        for b in children.get(parent, []):
            if b.span_id in seen:
                continue
            seen.add(b.span_id)
            out.append((b, depth))
            walk(b.span_id, depth + 1)

    walk(None, 0)
    for b in bars:  # cycles (a corrupt parent chain) still show every span
        if b.span_id not in seen:
            out.append((b, 0))
    return out


def waterfall(bars: Sequence[SpanBar], *, title: str = "Trace waterfall") -> go.Figure:
    """Each span a bar from its start to its end (ms from the trace start), nested by parent.

    The axis and the hover write times as durations ("1.2 s", "850 ms"), as the span table does.
    The services that own the most spans get their own colours; past :data:`MAX_SERIES` the rest
    share the grey of "other services" (each bar still names its service on the axis).
    """
    ordered = tree_order(bars)
    origin = min((b.start_ns for b in bars), default=0)
    owned: dict[str, int] = {}
    for b in bars:
        owned[b.service] = owned.get(b.service, 0) + 1
    ranked = sorted(owned, key=lambda s: (-owned[s], s))
    coloured = sorted(ranked[:MAX_SERIES] if len(ranked) > MAX_SERIES + 1 else ranked)
    colours = {s: series_colour(i) for i, s in enumerate(coloured)}
    groups: dict[str, list[str]] = {s: [s] for s in coloured}
    rest = sorted(set(owned) - set(coloured))
    if rest:
        groups[f"other services ({len(rest)})"] = rest
        colours.update(dict.fromkeys(rest, OTHER))
    labels = [f"{'  ' * depth}{b.service}: {b.name}" for b, depth in ordered]
    fig = go.Figure()
    for name, members in groups.items():
        rows = [(i, b) for i, (b, _d) in enumerate(ordered) if b.service in members]
        colour = colours[members[0]]
        fig.add_trace(
            go.Bar(
                base=[(b.start_ns - origin) / 1e6 for _i, b in rows],
                x=[max((b.end_ns - b.start_ns) / 1e6, 0.001) for _i, b in rows],
                y=[labels[i] for i, _b in rows],
                orientation="h",
                name=name,
                marker={
                    "color": colour,
                    "line": {
                        "color": [VERMILLION if b.error else colour for _i, b in rows],
                        "width": 3,
                    },
                },
                customdata=[
                    [
                        b.span_id,
                        "error" if b.error else "ok",
                        format_duration((b.end_ns - b.start_ns) / 1e9),
                        format_duration((b.start_ns - origin) / 1e9),
                    ]
                    for _i, b in rows
                ],
                hovertemplate="%{y}<br>starts at %{customdata[3]}, takes %{customdata[2]}"
                "<br>status %{customdata[1]}<br>span %{customdata[0]}<extra></extra>",
            )
        )
    ends = [(b.end_ns - origin) / 1e9 for b in bars]
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], automargin=True)
    fig.update_xaxes(title_text="since the trace began", **duration_axis(ends, scale=1000))
    fig.update_layout(
        title={"text": title},
        barmode="overlay",
        height=max(220, 80 + 26 * len(ordered)),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "v", "yanchor": "top", "y": 1, "x": 1.02},
    )
    return fig


@dataclass(frozen=True)
class JourneyStep:
    at: datetime
    stage: str
    service: str
    name: str
    trace_id: str
    error: bool


def journey(
    steps: Sequence[JourneyStep], *, tz_label: str, title: str = "Business object journey"
) -> go.Figure:
    """Stages of one object over business time, one marker per span, joined in time order."""
    ordered = sorted(steps, key=lambda s: s.at)
    stages = list(dict.fromkeys(s.stage for s in ordered))
    fig = go.Figure(
        go.Scatter(
            x=[s.at for s in ordered],
            y=[s.stage for s in ordered],
            mode="lines+markers+text",
            text=[s.service for s in ordered],
            textposition="top center",
            line={"color": "#8C8C8C", "width": 1, "dash": "dot"},
            marker={
                "size": 14,
                "color": [VERMILLION if s.error else series_colour(stages.index(s.stage)) for s in ordered],
                "symbol": ["x" if s.error else "circle" for s in ordered],
            },
            # The time as every table writes it, with the zone's abbreviation (plotly's own has none).
            customdata=[[s.name, s.trace_id, s.at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()] for s in ordered],
            hovertemplate="%{y} at %{customdata[2]}<br>%{customdata[0]}"
            "<br>trace %{customdata[1]}<extra></extra>",
        )
    )
    fig.update_yaxes(categoryorder="array", categoryarray=stages, title_text="stage")
    fig.update_xaxes(title_text=zone_title([s.at for s in ordered], tz_label, "business time"))
    fig.update_layout(
        title={"text": title},
        height=max(240, 90 + 40 * len(stages)),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        showlegend=False,
    )
    return fig

"""Operations and business figures: throughput, error rate, queues, lag, denials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

import plotly.graph_objects as go

from dashboards.figures.axes import duration_axis, sparse, time_hover, with_gaps, zone_title
from dashboards.figures.palette import BLUE, GREY, MAX_SERIES, ORANGE, OTHER, VERMILLION, series_colour
from dashboards.thresholds import threshold_text
from dashboards.timerange import format_duration


def _layout(fig: go.Figure, *, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        title={"text": title},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        hovermode="x unified",
        legend={"orientation": "v", "yanchor": "top", "y": 1, "x": 1.02},
    )
    return fig


#: The name of the series that holds the rest: "other (5 series)".
OTHER_NAME = "other ({} series)"


def is_other(name: str) -> bool:
    return name.startswith("other (") and name.endswith(" series)")


def top_series(
    series: Mapping[str, tuple[Sequence[datetime], Sequence[float | None]]],
    *,
    keep: int = MAX_SERIES,
    combine: Literal["sum", "max"] = "sum",
) -> dict[str, tuple[list[datetime], list[float | None]]]:
    """The ``keep`` largest series by name, then one "other (N series)" holding the rest.

    Largest is by the sum of the values; the rest are combined per point (``sum`` for counts,
    ``max`` for a worst-of such as queue depth or age). With at most ``keep + 1`` series nothing
    is folded: every series keeps its own colour and no two share one.
    """
    items = {name: (list(xs), list(ys)) for name, (xs, ys) in series.items()}
    if len(items) <= keep + 1:  # an "other" folded by the caller goes last
        return dict(sorted(items.items(), key=lambda kv: (is_other(kv[0]), kv[0])))

    def size(name: str) -> float:
        return sum(y for y in items[name][1] if y is not None)

    ranked = sorted(items, key=lambda name: (-size(name), name))
    kept, rest = sorted(ranked[:keep]), ranked[keep:]
    folded: dict[datetime, list[float]] = {}
    for name in rest:
        for x, y in zip(*items[name], strict=True):
            if y is not None:
                folded.setdefault(x, []).append(y)
    xs = sorted(folded)
    ys: list[float | None] = [sum(folded[x]) if combine == "sum" else max(folded[x]) for x in xs]
    out = {name: items[name] for name in kept}
    out[OTHER_NAME.format(len(rest))] = (xs, ys)
    return out


def time_series(
    series: Mapping[str, tuple[Sequence[datetime], Sequence[float | None]]],
    *,
    title: str,
    y_title: str,
    tz_label: str,
    percent: bool = False,
    bound: float | None = None,
    bound_label: str = "",
    step_s: float | None = None,
    duration: bool = False,
    combine: Literal["sum", "max"] = "sum",
) -> go.Figure:
    """One line per named series (services, interfaces, queues), each in its own colour.

    Past :data:`MAX_SERIES` series the smallest are folded into a grey "other" (see
    :func:`top_series`); a bucket without data breaks the line (``step_s`` is the bucket size,
    else the usual spacing). ``duration``: the values are seconds, written as the tables write
    durations on the axis and in the hover.
    """
    fig = go.Figure()
    shown = top_series(series, combine=combine)
    all_y: list[float | None] = []
    for index, (name, (xs, ys)) in enumerate(shown.items()):
        gx, gy = with_gaps(list(xs), list(ys), step_s)
        values = [None if y is None else (y * 100 if percent else y) for y in gy]
        all_y += values
        other = index >= MAX_SERIES or is_other(name)
        if duration:
            hover = {
                "customdata": [format_duration(v) if v is not None else None for v in values],
                "hovertemplate": f"%{{customdata}}<extra>{name}</extra>",
            }
        else:
            hover = {"hovertemplate": f"%{{y:,.3~g}}{'%' if percent else ''}<extra>{name}</extra>"}
        fig.add_trace(
            go.Scatter(
                x=gx,
                y=values,
                mode="lines+markers" if sparse(values) else "lines",
                marker={"size": 4},
                name=name,
                connectgaps=False,
                line={
                    "color": OTHER if other else series_colour(index),
                    "width": 2,
                    "dash": "dot" if other else "solid",
                },
                **hover,
            )
        )
    if bound is not None:
        fig.add_hline(
            y=bound * 100 if percent else bound,
            line={"color": VERMILLION, "dash": "dash"},
            annotation_text=bound_label,
        )
    fig.update_yaxes(title_text=y_title, rangemode="tozero", ticksuffix="%" if percent else "")
    if duration:
        fig.update_yaxes(**duration_axis([*all_y, bound]))
    xs_all = [x for xs, _ys in shown.values() for x in xs]
    fig.update_xaxes(title_text=zone_title(xs_all, tz_label), **time_hover(xs_all))
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
    """Completed objects per lag bucket, with the deadline, median and p95 marked.

    The axis is in seconds, its ticks and the hover written as durations ("6h 00m"), as in the
    tables and captions beside the chart.
    """
    fig = go.Figure(
        go.Bar(
            x=[lo + bucket_s / 2 for lo, _n in buckets],
            y=[n for _lo, n in buckets],
            width=[bucket_s] * len(buckets),
            marker_color=[VERMILLION if lo >= within_s else BLUE for lo, _n in buckets],
            name="objects",
            customdata=[f"{format_duration(lo)} to {format_duration(lo + bucket_s)}" for lo, _n in buckets],
            hovertemplate="lag %{customdata}: %{y:,} objects<extra></extra>",
        )
    )

    def mark(label: str, value: float) -> str:
        # The deadline as the SLA file states it ("24 h"); measured marks as durations.
        return f"{label} {threshold_text(value) if label == 'deadline' else format_duration(value)}"

    for value, label, colour, dash in (
        (within_s, "deadline", VERMILLION, "solid"),
        (median_s, "median", GREY, "dot"),
        (p95_s, "p95", ORANGE, "dash"),
    ):
        if value is not None:
            fig.add_vline(
                x=value,
                line={"color": colour, "dash": dash, "width": 2},
                annotation_text=mark(label, value),
            )
    edges = [lo for lo, _n in buckets] + [lo + bucket_s for lo, _n in buckets]
    fig.update_xaxes(title_text="lag", **duration_axis([*edges, within_s, median_s, p95_s]))
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
            text=[f"{n:,} ({n / total:.1%})" if total else f"{n:,}" for _c, n in top][::-1],
            textposition="auto",
            hovertemplate="%{y}: %{x:,} denials<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="denied remits")
    fig.update_layout(hovermode="closest")
    return _layout(fig, title=title, height=max(200, 60 + 28 * len(top)))

"""The dependency map: services left to right in call/queue order, edges sized and coloured."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from dashboards.figures.palette import error_colour
from dashboards.queries.dependencies import Edge, Graph, Node
from dashboards.timerange import format_duration


@dataclass(frozen=True)
class Placed:
    service: str
    x: float
    y: float


def layers(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[str, int]:
    """Each service's column: the longest path that reaches it (cycles broken by visit order)."""
    names = sorted(n.service for n in nodes)
    outgoing: dict[str, list[str]] = {n: [] for n in names}
    incoming: dict[str, int] = dict.fromkeys(names, 0)
    for e in edges:
        if e.source in outgoing and e.target in incoming and e.source != e.target:
            outgoing[e.source].append(e.target)
            incoming[e.target] += 1
    layer = dict.fromkeys(names, 0)
    # Kahn's algorithm; nodes left on a cycle keep the layer they reached.
    ready = [n for n in names if incoming[n] == 0]
    remaining = dict(incoming)
    visited: set[str] = set()
    while ready:
        node = ready.pop(0)
        visited.add(node)
        for target in sorted(outgoing[node]):
            layer[target] = max(layer[target], layer[node] + 1)
            remaining[target] -= 1
            if remaining[target] == 0:
                ready.append(target)
    for node in names:
        if node not in visited:
            for target in outgoing[node]:
                if target not in visited:
                    layer[target] = max(layer[target], layer[node] + 1)
    return layer


def place(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[str, Placed]:
    by_layer: dict[int, list[str]] = {}
    for name, col in layers(nodes, edges).items():
        by_layer.setdefault(col, []).append(name)
    placed = {}
    for col, names in by_layer.items():
        for row, name in enumerate(sorted(names)):
            placed[name] = Placed(name, float(col), (len(names) - 1) / 2 - row)
    return placed


def _width(count: int, largest: int) -> float:
    if largest <= 1:
        return 2.0
    return 1.5 + 8.5 * math.log10(max(count, 1)) / math.log10(largest)


def edge_label(e: Edge) -> str:
    how = f"via queue {e.via}" if e.kind == "queue" else "call"
    return (
        f"{e.source} → {e.target} ({how})<br>{e.count:,} {'messages' if e.kind == 'queue' else 'calls'}, "
        f"{e.error_rate:.2%} failed<br>"
        f"latency mean {format_duration(e.latency_mean_s)}, max {format_duration(e.latency_max_s)}"
    )


def service_graph(graph: Graph, *, title: str = "Service dependency map") -> go.Figure:
    positions = place(graph.nodes, graph.edges)
    largest = max((e.count for e in graph.edges), default=1)
    fig = go.Figure()
    mid_x, mid_y, mid_text, mid_colour = [], [], [], []
    seen_pairs: dict[tuple[str, str], int] = {}
    for e in graph.edges:
        a, b = positions[e.source], positions[e.target]
        # Parallel edges between the same two services (a call and a queue hop) bow apart.
        nth = seen_pairs.get((e.source, e.target), 0)
        seen_pairs[(e.source, e.target)] = nth + 1
        bow = 0.12 * nth
        mx, my = (a.x + b.x) / 2, (a.y + b.y) / 2 + bow
        colour = error_colour(e.error_rate)
        fig.add_trace(
            go.Scatter(
                x=[a.x, mx, b.x],
                y=[a.y, my, b.y],
                mode="lines",
                line={
                    "color": colour,
                    "width": _width(e.count, largest),
                    "dash": "dash" if e.kind == "queue" else "solid",
                    "shape": "spline",
                },
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_annotation(
            # The arrow head stops short of the target's marker.
            x=mx + 0.85 * (b.x - mx),
            y=my + 0.85 * (b.y - my),
            ax=mx,
            ay=my,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=2,
            arrowsize=1.2,
            arrowcolor=colour,
            text="",
        )
        mid_x.append(mx)
        mid_y.append(my)
        mid_text.append(edge_label(e))
        mid_colour.append(colour)
    if mid_x:
        fig.add_trace(
            go.Scatter(
                x=mid_x,
                y=mid_y,
                mode="markers",
                marker={"size": 12, "color": mid_colour, "symbol": "diamond"},
                text=mid_text,
                hovertemplate="%{text}<extra></extra>",
                name="edges",
                showlegend=False,
            )
        )
    nodes = [positions[n.service] for n in graph.nodes]
    by_name = {n.service: n for n in graph.nodes}
    largest_node = max((n.count for n in graph.nodes), default=1)
    fig.add_trace(
        go.Scatter(
            x=[p.x for p in nodes],
            y=[p.y for p in nodes],
            mode="markers+text",
            text=[p.service for p in nodes],
            # Edges leave a lower node upwards: its name goes below it, clear of them.
            textposition=["bottom center" if p.y < 0 else "top center" for p in nodes],
            marker={
                "size": [
                    18 + 22 * math.sqrt(by_name[p.service].count / largest_node) if largest_node else 18
                    for p in nodes
                ],
                "color": [error_colour(by_name[p.service].error_rate) for p in nodes],
                "line": {"width": 2, "color": "#FFFFFF"},
            },
            customdata=[[by_name[p.service].count, by_name[p.service].error_rate] for p in nodes],
            hovertemplate="%{text}<br>%{customdata[0]:,} spans, %{customdata[1]:.2%} failed<extra></extra>",
            name="services",
            showlegend=False,
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(
        title={"text": title},
        height=max(
            360,
            120
            * max(
                (len([p for p in positions.values() if p.x == x]) for x in {p.x for p in positions.values()}),
                default=1,
            ),
        ),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        hovermode="closest",
    )
    return fig

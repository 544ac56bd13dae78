"""The service graph over a range: nodes from the span rollup, edges from the edge rollup."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from dashboards.tables import service_edges, span_rollups
from vitals.kernel.units import NS


@dataclass(frozen=True)
class Node:
    service: str
    count: int
    errors: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # call | queue
    via: str  # the queue for queue hops
    count: int
    errors: int
    latency_mean_s: float
    latency_max_s: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def service_graph(engine: Engine, start_ns: int, end_ns: int, resolution_s: int) -> Graph:
    size = resolution_s * NS
    lo = start_ns // size * size
    e, r = service_edges.c, span_rollups.c
    with engine.connect() as conn:
        edge_rows = conn.execute(
            select(
                e.source,
                e.target,
                e.edge_kind,
                e.via,
                func.sum(e.count),
                func.sum(e.error_count),
                func.sum(e.latency_sum_ns),
                func.max(e.latency_max_ns),
            )
            .where(e.resolution == resolution_s, e.bucket >= lo, e.bucket < end_ns)
            .group_by(e.source, e.target, e.edge_kind, e.via)
        ).all()
        node_rows = conn.execute(
            select(r.service_name, func.sum(r.count), func.sum(r.error_count))
            .where(r.resolution == resolution_s, r.bucket >= lo, r.bucket < end_ns)
            .group_by(r.service_name)
        ).all()
    edges = tuple(
        sorted(
            (
                Edge(
                    source=row[0],
                    target=row[1],
                    kind=row[2],
                    via=row[3],
                    count=int(row[4]),
                    errors=int(row[5]),
                    latency_mean_s=int(row[6]) / int(row[4]) / NS if row[4] else 0.0,
                    latency_max_s=int(row[7]) / NS,
                )
                for row in edge_rows
            ),
            key=lambda x: (x.source, x.target, x.kind, x.via),
        )
    )
    nodes = {row[0]: Node(row[0], int(row[1]), int(row[2])) for row in node_rows}
    for edge in edges:  # a service seen only through an edge still gets a node
        for name in (edge.source, edge.target):
            nodes.setdefault(name, Node(name, 0, 0))
    return Graph(tuple(sorted(nodes.values(), key=lambda n: n.service)), edges)

"""Service-graph edges of new spans: parent/child across services, span links, shared keys."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from collector.tables import span_keys, spans
from dashboards.folds import RESOLUTIONS
from dashboards.sqlexpr import NS, lit, norm_kind

_CHUNK = 400  # ids per IN (...) list


@dataclass(frozen=True)
class _Hop:
    """One side of an edge, as read from ``spans``."""

    service: str
    kind: str
    start: int
    end: int
    duration: int
    error: bool
    destination: str


class EdgeAccumulator:
    def __init__(self) -> None:
        self._acc: dict[tuple[int, int, str, str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        #: consumer spans already joined to a producer (by parent or link): no key join for them.
        self.joined: set[tuple[str, str]] = set()

    def add(self, source: _Hop, target: _Hop) -> None:
        if source.service == target.service:
            return
        queue = source.kind == "producer" and target.kind == "consumer"
        if queue:
            latency = max(0, target.start - source.start)
            via = target.destination or source.destination
        else:
            latency = source.duration if source.kind == "client" else target.duration
            via = ""
        for res in RESOLUTIONS:
            size = res * NS
            key = (
                res,
                target.start // size * size,
                source.service,
                target.service,
                "queue" if queue else "call",
                via,
            )
            cell = self._acc[key]
            cell[0] += 1
            cell[1] += int(target.error)
            cell[2] += latency
            cell[3] = max(cell[3], latency)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "resolution": res,
                "bucket": b,
                "source": src,
                "target": dst,
                "edge_kind": kind,
                "via": via,
                "count": c[0],
                "error_count": c[1],
                "latency_sum_ns": c[2],
                "latency_max_ns": c[3],
            }
            for (res, b, src, dst, kind, via), c in self._acc.items()
        ]


def _hop(prefix: str, row: Any) -> _Hop:
    return _Hop(
        service=getattr(row, f"{prefix}_service"),
        kind=(getattr(row, f"{prefix}_kind") or "").lower().replace("span_kind_", ""),
        start=int(getattr(row, f"{prefix}_start")),
        end=int(getattr(row, f"{prefix}_end")),
        duration=int(getattr(row, f"{prefix}_duration")),
        error=(getattr(row, f"{prefix}_status") or "").lower() in ("error", "status_code_error", "2"),
        destination=getattr(row, f"{prefix}_dest") or "",
    )


def _hop_columns(table: Any, prefix: str) -> list[Any]:
    return [
        table.c.service_name.label(f"{prefix}_service"),
        table.c.kind.label(f"{prefix}_kind"),
        table.c.start_time_unix_nano.label(f"{prefix}_start"),
        table.c.end_time_unix_nano.label(f"{prefix}_end"),
        table.c.duration_ns.label(f"{prefix}_duration"),
        table.c.status_code.label(f"{prefix}_status"),
        table.c.messaging_destination.label(f"{prefix}_dest"),
    ]


def parent_edges(conn: Connection, lo: int, hi: int, edges: EdgeAccumulator) -> None:
    """Parent -> child across services; counted once, when the later of the two is folded in."""
    parent, child = spans.alias("p"), spans.alias("c")
    join = child.join(
        parent, and_(parent.c.trace_id == child.c.trace_id, parent.c.span_id == child.c.parent_span_id)
    )
    columns = [*_hop_columns(parent, "p"), *_hop_columns(child, "c"), child.c.trace_id, child.c.span_id]
    cross = parent.c.service_name != child.c.service_name
    newer_child = (
        select(*columns)
        .select_from(join)
        .where(child.c.id > lo, child.c.id <= hi, parent.c.id < child.c.id, cross)
    )
    newer_parent = (
        select(*columns)
        .select_from(join)
        .where(parent.c.id > lo, parent.c.id <= hi, child.c.id < parent.c.id, cross)
    )
    for query in (newer_child, newer_parent):
        for row in conn.execute(query):
            source, target = _hop("p", row), _hop("c", row)
            edges.add(source, target)
            if source.kind == "producer":
                edges.joined.add((row.trace_id, row.span_id))


def _link_targets(links: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping):
            trace = link.get("trace_id") or link.get("traceId")
            span = link.get("span_id") or link.get("spanId")
            if isinstance(trace, str) and isinstance(span, str):
                out.append((trace.lower(), span.lower()))
    return out


def _fetch_hops(conn: Connection, ids: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, _Hop]]:
    found: dict[tuple[str, str], tuple[int, _Hop]] = {}
    wanted = list(dict.fromkeys(ids))
    wanted_set = set(wanted)
    traces = sorted({trace for trace, _span in wanted})
    # By trace id (the unique index's prefix), then pick the spans: a (trace_id, span_id) IN
    # list is not answered from the index by SQLite.
    for start in range(0, len(traces), _CHUNK):
        rows = conn.execute(
            select(spans.c.id, spans.c.trace_id, spans.c.span_id, *_hop_columns(spans, "s")).where(
                spans.c.trace_id.in_(traces[start : start + _CHUNK])
            )
        )
        for row in rows:
            ref = (row.trace_id, row.span_id)
            if ref in wanted_set:
                found[ref] = (int(row.id), _hop("s", row))
    return found


def link_and_key_edges(conn: Connection, lo: int, hi: int, edges: EdgeAccumulator) -> None:
    """Queue hops that parent/child cannot see: span links, then shared correlation keys.

    Both look backwards only (the linked or keyed producer must already be stored), which is
    how producers and consumers arrive in practice; a producer stored after its consumer is
    not joined.
    """
    linked = conn.execute(
        select(
            spans.c.id,
            spans.c.trace_id,
            spans.c.span_id,
            spans.c.parent_span_id,
            spans.c.links,
            *_hop_columns(spans, "s"),
        ).where(spans.c.id > lo, spans.c.id <= hi, spans.c.links.is_not(None))
    ).all()
    wanted = [t for row in linked for t in _link_targets(row.links)]
    targets = _fetch_hops(conn, wanted) if wanted else {}
    for row in linked:
        me = _hop("s", row)
        for ref in _link_targets(row.links):
            if ref == (row.trace_id, row.parent_span_id) or ref not in targets:
                continue
            other_id, other = targets[ref]
            if other_id < int(row.id):
                edges.add(other, me)
                if other.kind == "producer":
                    edges.joined.add((row.trace_id, row.span_id))

    consumers = conn.execute(
        select(
            spans.c.id, spans.c.trace_id, spans.c.span_id, spans.c.attributes, *_hop_columns(spans, "s")
        ).where(
            spans.c.id > lo,
            spans.c.id <= hi,
            norm_kind(spans.c.kind) == lit("consumer"),
            spans.c.messaging_destination.is_not(None),
        )
    ).all()
    keyed: list[tuple[Any, _Hop, list[tuple[str, str]]]] = []
    for row in consumers:
        if (row.trace_id, row.span_id) in edges.joined:
            continue
        attrs = row.attributes if isinstance(row.attributes, Mapping) else {}
        keys = [(k[len("hc.key.") :], str(v)) for k, v in attrs.items() if k.startswith("hc.key.")]
        if keys:
            keyed.append((row, _hop("s", row), keys))
    if not keyed:
        return
    hashes = list({h for _row, _hop_, keys in keyed for _n, h in keys})
    holders: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for start in range(0, len(hashes), _CHUNK):
        for k in conn.execute(
            select(
                span_keys.c.key_name, span_keys.c.key_hash, span_keys.c.trace_id, span_keys.c.span_id
            ).where(span_keys.c.key_hash.in_(hashes[start : start + _CHUNK]))
        ):
            holders[(k.key_name, k.key_hash)].append((k.trace_id, k.span_id))
    candidates = _fetch_hops(conn, [ref for refs in holders.values() for ref in refs])
    for row, me, keys in keyed:
        best: _Hop | None = None
        for ref in {ref for key in keys for ref in holders.get(key, [])}:
            if ref[0] == row.trace_id or ref not in candidates:
                continue
            other_id, other = candidates[ref]
            if (
                other_id < int(row.id)
                and other.kind == "producer"
                and other.destination == me.destination
                and other.start <= me.start
                and (best is None or other.start > best.start)
            ):
                best = other
        if best is not None:
            edges.add(best, me)

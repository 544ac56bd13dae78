"""Service-graph edges of new spans: parent/child across services, span links, shared keys.

Parent/child edges are counted when the later of the two spans is folded in. Queue hops that
parent/child cannot see are joined from the consumer's side:

- a span that carries **span links** is joined to each linked span, wherever that span is
  stored (before or after it): services export their spans in their own batches, so a consumer
  is often stored before its producer. A link whose target is not stored yet waits in
  ``dashboard_edge_pending`` and is retried on every refresh until ``max_wait`` after the
  consumer was received;
- a consumer **without links** (and not the child of a producer) is joined by a shared
  correlation key (``hc.key.*``) to the producer on the same destination that started last
  before it, at most ``key_window`` earlier. That join waits until ``settle`` after the consumer
  was received, so a producer exported a few seconds later is there to be chosen, rather than
  an older producer of the same business object (the encounter's admission hours earlier).

A join is counted once: in the batch that folds the consumer, or in the refresh that resolves
its pending row (the row is deleted in the transaction that adds the edge).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.engine import Connection

from collector.tables import span_keys, spans
from dashboards.folds import RESOLUTIONS
from dashboards.sqlexpr import lit, norm_kind
from dashboards.tables import edge_pending
from vitals.kernel.units import NS

_CHUNK = 400  # ids per IN (...) list
#: Pending joins resolved per refresh at most (the rest wait for the next one).
MAX_PENDING_PER_REFRESH = 20_000

Ref = tuple[str, str]  # (trace_id, span_id)
PendingKey = tuple[str, str, str, str]  # dashboard_edge_pending's primary key


@dataclass(frozen=True)
class EdgeTiming:
    """How long queue-hop joins wait for the other side (seconds)."""

    #: A key join is made once the consumer was received this long ago.
    settle_s: float = 30.0
    #: Unresolved joins are retried until the consumer was received this long ago, then dropped.
    max_wait_s: float = 600.0
    #: A key-joined producer started at most this long before its consumer (a stalled queue
    #: delivers hours-old messages; an older publication of the same object is usually days old).
    key_window_s: float = 6 * 3600.0

    def ns(self, seconds: float) -> int:
        return int(seconds * NS)


DEFAULT_EDGE_TIMING = EdgeTiming()


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
    #: Spans this one stands for (``sample_weight``): an edge into a sampled span counts them all.
    weight: int = 1


class EdgeAccumulator:
    def __init__(self) -> None:
        self._acc: dict[tuple[int, int, str, str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])

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
            # The child (target) may stand for sampled-out siblings, each with its own call.
            cell[0] += target.weight
            cell[1] += int(target.error) * target.weight
            cell[2] += latency * target.weight
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
        weight=int(getattr(row, f"{prefix}_weight") or 1),
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
        table.c.sample_weight.label(f"{prefix}_weight"),
    ]


def parent_edges(conn: Connection, lo: int, hi: int, edges: EdgeAccumulator) -> None:
    """Parent -> child across services; counted once, when the later of the two is folded in."""
    parent, child = spans.alias("p"), spans.alias("c")
    join = child.join(
        parent, and_(parent.c.trace_id == child.c.trace_id, parent.c.span_id == child.c.parent_span_id)
    )
    columns = [*_hop_columns(parent, "p"), *_hop_columns(child, "c")]
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
            edges.add(_hop("p", row), _hop("c", row))


def _link_targets(links: Any) -> list[Ref]:
    out: list[Ref] = []
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping):
            trace = link.get("trace_id") or link.get("traceId")
            span = link.get("span_id") or link.get("spanId")
            if isinstance(trace, str) and isinstance(span, str):
                out.append((trace.lower(), span.lower()))
    return out


@dataclass(frozen=True)
class _Consumer:
    """The span whose queue hop is being joined (it carries the links or the keys)."""

    ref: Ref
    parent_span_id: str | None
    hop: _Hop
    links: tuple[Ref, ...]  # link targets other than its own parent
    has_links: bool
    keys: tuple[tuple[str, str], ...]  # (key name, hash) of its hc.key.* attributes
    received_ns: int


@dataclass(frozen=True)
class _Join:
    consumer: _Consumer
    link: Ref | None  # None: a key join

    @property
    def key(self) -> PendingKey:
        trace, span = self.link or ("", "")
        return (*self.consumer.ref, trace, span)

    def pending_row(self) -> dict[str, Any]:
        names = ("trace_id", "span_id", "link_trace_id", "link_span_id")
        return {**dict(zip(names, self.key, strict=True)), "received_ns": self.consumer.received_ns}


_CONSUMER_EXTRA = [
    spans.c.parent_span_id,
    spans.c.links,
    spans.c.attributes,
    spans.c.received_at_unix_nano,
    *_hop_columns(spans, "s"),
]
_CONSUMER_COLUMNS = [spans.c.trace_id, spans.c.span_id, *_CONSUMER_EXTRA]


def _consumer(row: Any) -> _Consumer:
    targets = _link_targets(row.links)
    own_parent = (row.trace_id, row.parent_span_id)
    attrs = row.attributes if isinstance(row.attributes, Mapping) else {}
    return _Consumer(
        ref=(row.trace_id, row.span_id),
        parent_span_id=row.parent_span_id,
        hop=_hop("s", row),
        links=tuple(dict.fromkeys(ref for ref in targets if ref != own_parent)),  # each once
        has_links=bool(targets),
        keys=tuple((k[len("hc.key.") :], str(v)) for k, v in attrs.items() if k.startswith("hc.key.")),
        received_ns=int(row.received_at_unix_nano),
    )


def _joins_of(consumer: _Consumer) -> list[_Join]:
    """The queue-hop joins a span asks for: one per link, else one key join (keyed consumers)."""
    if consumer.has_links:
        return [_Join(consumer, ref) for ref in consumer.links]
    if consumer.hop.kind == "consumer" and consumer.hop.destination and consumer.keys:
        return [_Join(consumer, None)]
    return []


def new_joins(conn: Connection, lo: int, hi: int) -> list[_Join]:
    """Joins asked for by the spans with ids in (lo, hi]: spans with links, keyed consumers."""
    rows = conn.execute(
        select(*_CONSUMER_COLUMNS).where(
            spans.c.id > lo,
            spans.c.id <= hi,
            or_(
                spans.c.links.is_not(None),
                and_(norm_kind(spans.c.kind) == lit("consumer"), spans.c.messaging_destination.is_not(None)),
            ),
        )
    ).all()
    return [join for row in rows for join in _joins_of(_consumer(row))]


def _fetch(conn: Connection, ids: Iterable[Ref], columns: Sequence[Any]) -> dict[Ref, Any]:
    """Stored spans by (trace_id, span_id), found through the unique index's trace_id prefix."""
    found: dict[Ref, Any] = {}
    wanted = set(ids)
    traces = sorted({trace for trace, _span in wanted})
    # By trace id, then pick the spans: a (trace_id, span_id) IN list is not answered from the
    # index by SQLite.
    for start in range(0, len(traces), _CHUNK):
        rows = conn.execute(
            select(spans.c.trace_id, spans.c.span_id, *columns).where(
                spans.c.trace_id.in_(traces[start : start + _CHUNK])
            )
        )
        for row in rows:
            ref = (row.trace_id, row.span_id)
            if ref in wanted:
                found[ref] = row
    return found


def _fetch_hops(conn: Connection, ids: Iterable[Ref]) -> dict[Ref, _Hop]:
    return {ref: _hop("s", row) for ref, row in _fetch(conn, ids, _hop_columns(spans, "s")).items()}


def _producers(
    conn: Connection, hashes: Sequence[str]
) -> tuple[dict[tuple[str, str], list[Ref]], dict[Ref, _Hop]]:
    """The producer spans holding these key hashes: ((key name, hash) -> their refs, their hops).

    Only producers can be a key join's other side, so only they are read: every span of a
    business object carries its key (the bench's soak: every renewal of a request), and reading
    them all made each refresh's working set, and the receiver's resident memory, grow with the
    store (issue 15's soak: 146 -> 256 MiB in 4 minutes with the rollups alone).
    """
    holders: dict[tuple[str, str], list[Ref]] = defaultdict(list)
    candidates: dict[Ref, _Hop] = {}
    k = span_keys.c
    on = and_(spans.c.trace_id == k.trace_id, spans.c.span_id == k.span_id)
    for start in range(0, len(hashes), _CHUNK):
        for row in conn.execute(
            select(k.key_name, k.key_hash, k.trace_id, k.span_id, *_hop_columns(spans, "s"))
            .select_from(span_keys.join(spans, on))
            .where(k.key_hash.in_(hashes[start : start + _CHUNK]), norm_kind(spans.c.kind) == lit("producer"))
        ):
            ref = (row.trace_id, row.span_id)
            holders[(row.key_name, row.key_hash)].append(ref)
            candidates[ref] = _hop("s", row)
    return holders, candidates


def resolve(
    conn: Connection, joins: Sequence[_Join], now_ns: int, timing: EdgeTiming, edges: EdgeAccumulator
) -> tuple[list[_Join], list[_Join]]:
    """Make the joins that can be made now; (done, still waiting). Done joins that found no
    partner within ``max_wait`` (or need none: a child of a producer) are dropped."""
    done: list[_Join] = []
    waiting: list[_Join] = []

    def give_up(join: _Join) -> bool:
        return now_ns >= join.consumer.received_ns + timing.ns(timing.max_wait_s)

    links = [j for j in joins if j.link is not None]
    targets = _fetch_hops(conn, [j.link for j in links if j.link is not None])
    for join in links:
        assert join.link is not None
        target = targets.get(join.link)
        if target is not None:
            edges.add(target, join.consumer.hop)
        if target is not None or give_up(join):
            done.append(join)
        else:
            waiting.append(join)

    settle = timing.ns(timing.settle_s)
    keyed = [j for j in joins if j.link is None]
    due = [j for j in keyed if now_ns >= j.consumer.received_ns + settle]
    waiting += [j for j in keyed if now_ns < j.consumer.received_ns + settle]
    if not due:
        return done, waiting
    # A consumer whose parent is a producer is joined by parent/child already.
    parents = _fetch_hops(
        conn, [(j.consumer.ref[0], j.consumer.parent_span_id) for j in due if j.consumer.parent_span_id]
    )
    holders, candidates = _producers(conn, sorted({h for j in due for _n, h in j.consumer.keys}))
    window = timing.ns(timing.key_window_s)
    for join in due:
        me = join.consumer
        parent = parents.get((me.ref[0], me.parent_span_id or ""))
        if parent is not None and parent.kind == "producer":
            done.append(join)
            continue
        best: _Hop | None = None
        for ref in {ref for key in me.keys for ref in holders.get(key, [])}:
            other = candidates.get(ref)
            if (
                other is not None
                and ref[0] != me.ref[0]
                and other.kind == "producer"
                and other.destination == me.hop.destination
                and me.hop.start - window <= other.start <= me.hop.start
                and (best is None or other.start > best.start)
            ):
                best = other
        if best is not None:
            edges.add(best, me.hop)
        if best is not None or give_up(join):
            done.append(join)
        else:
            waiting.append(join)
    return done, waiting


def pending_joins(conn: Connection, now_ns: int, timing: EdgeTiming) -> tuple[list[_Join], list[PendingKey]]:
    """Stored pending joins worth trying now (every link, and key joins that have settled), and
    pending rows whose span is gone (pruned by retention), to delete."""
    settled = now_ns - timing.ns(timing.settle_s)
    p = edge_pending.c
    rows = conn.execute(
        select(p.trace_id, p.span_id, p.link_trace_id, p.link_span_id)
        .where(or_(p.link_trace_id != lit(""), p.received_ns <= settled))
        .order_by(p.received_ns)
        .limit(MAX_PENDING_PER_REFRESH)
    ).all()
    found = _fetch(conn, [(r.trace_id, r.span_id) for r in rows], _CONSUMER_EXTRA)
    consumers = {ref: _consumer(row) for ref, row in found.items()}
    joins: list[_Join] = []
    gone: list[PendingKey] = []
    for r in rows:
        consumer = consumers.get((r.trace_id, r.span_id))
        if consumer is None:
            gone.append((r.trace_id, r.span_id, r.link_trace_id, r.link_span_id))
        else:
            joins.append(_Join(consumer, (r.link_trace_id, r.link_span_id) if r.link_trace_id else None))
    return joins, gone


def delete_pending(conn: Connection, keys: Sequence[PendingKey]) -> int:
    """Delete these pending rows; how many there were."""
    p = edge_pending.c
    deleted = 0
    for start in range(0, len(keys), _CHUNK):
        deleted += conn.execute(
            edge_pending.delete().where(
                tuple_(p.trace_id, p.span_id, p.link_trace_id, p.link_span_id).in_(
                    keys[start : start + _CHUNK]
                )
            )
        ).rowcount
    return deleted

"""Queue hops on the dependency map: joined by span link or shared key, whatever the storage order.

Services export their spans in their own batches, so a consumer is often stored before the
producer it links to. The map must still show the real publish-to-consume latency, never fall
back to an older producer of the same business object.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Engine

from dashboards.folds.edges import EdgeTiming
from dashboards.rollup import refresh
from dashboards.tables import edge_pending, service_edges
from tests.dashboards import estate
from tests.support.factories import insert_spans, span_row
from vitals.kernel.lease import take
from vitals.kernel.units import NS

TIMING = EdgeTiming(settle_s=30, max_wait_s=600, key_window_s=3600)  # a one-hour look-back
T0 = 1_800_000_000.0  # when the consumer was received (Unix s)
ENCOUNTER = estate.key_hash("encounter-1")


def fold_at(engine: Engine, at_s: float, timing: EdgeTiming = TIMING, **kwargs: Any) -> None:
    refresh(engine, horizon_s=0, clock=lambda: int(at_s * NS), edge_timing=timing, **kwargs)


def edges(engine: Engine) -> list[tuple[str, str, str, str, int, float, float]]:
    """Queue and call edges at minute resolution: (source, target, kind, via, count, mean s, max s)."""
    e = service_edges.c
    with engine.connect() as conn:
        rows = conn.execute(select(service_edges).where(e.resolution == 60)).all()
    merged: dict[tuple[str, str, str, str], list[int]] = {}
    for r in rows:
        cell = merged.setdefault((r.source, r.target, r.edge_kind, r.via), [0, 0, 0])
        cell[0] += r._mapping["count"]
        cell[1] += r.latency_sum_ns
        cell[2] = max(cell[2], r.latency_max_ns)
    return sorted((*k, c[0], c[1] / c[0] / NS, c[2] / NS) for k, c in merged.items())


def pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(edge_pending)).all())


def producer(start_s: float, *, message: str = "ADT^A08") -> dict[str, Any]:
    return span_row(
        name="adt-inbound publish",
        service="ehr",
        kind="producer",
        start_s=start_s,
        duration_s=0.001,
        received_s=T0,
        attributes={
            "hc.key.encounter": ENCOUNTER,
            "hc.message.type": message,
            "messaging.destination.name": "adt-inbound",
        },
    )


def consumer(start_s: float, *, links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    row = span_row(
        name="HL7 ADT^A08 process",
        service="integration-engine",
        kind="consumer",
        start_s=start_s,
        received_s=T0,
        attributes={
            "hc.key.encounter": ENCOUNTER,
            "hc.message.type": "ADT^A08",
            "messaging.destination.name": "adt-inbound",
        },
    )
    if links is not None:
        row["links"] = orjson.dumps(links).decode()
    return row


def link_to(span: dict[str, Any]) -> dict[str, Any]:
    return {"trace_id": span["trace_id"], "span_id": span["span_id"], "attributes": {}}


def test_a_link_to_a_producer_stored_after_its_consumer_gives_the_real_latency(engine: Engine) -> None:
    admission = producer(T0 - 3 * 3600, message="ADT^A01")  # the encounter's admission, hours earlier
    update = producer(T0 - 0.038)
    insert_spans(engine, [admission])
    fold_at(engine, T0)
    # The consumer is exported (and stored) before the producer it links to.
    insert_spans(engine, [consumer(T0, links=[link_to(update)])])
    fold_at(engine, T0 + 1)
    assert edges(engine) == []  # its producer is not stored yet: the join waits
    assert pending(engine) == 1
    insert_spans(engine, [update])
    fold_at(engine, T0 + 6)
    fold_at(engine, T0 + 700)  # far past every wait: nothing more may be counted
    ((source, target, kind, via, count, mean_s, max_s),) = edges(engine)
    assert (source, target, kind, via, count) == ("ehr", "integration-engine", "queue", "adt-inbound", 1)
    assert abs(mean_s - 0.038) < 1e-6 and abs(max_s - 0.038) < 1e-6
    assert pending(engine) == 0


def test_a_consumer_with_links_is_never_joined_by_key(engine: Engine) -> None:
    """Even when its linked producer never arrives: the key would only find the wrong one."""
    insert_spans(engine, [producer(T0 - 3 * 3600, message="ADT^A01"), producer(T0 - 1)])
    missing = span_row(service="ehr", kind="producer")  # never stored
    insert_spans(engine, [consumer(T0, links=[link_to(missing)])])
    fold_at(engine, T0 + 1)
    assert pending(engine) == 1
    fold_at(engine, T0 + 601)  # max_wait after it was received: given up
    assert pending(engine) == 0
    assert edges(engine) == []


def test_a_key_join_waits_to_settle_then_takes_the_latest_producer_before_the_consumer(
    engine: Engine,
) -> None:
    insert_spans(engine, [producer(T0 - 3 * 3600, message="ADT^A01")])
    insert_spans(engine, [consumer(T0)])  # no links: joined by the encounter key
    fold_at(engine, T0 + 2)
    assert edges(engine) == [] and pending(engine) == 1
    # Its producer comes in the ehr's next export batch, a few seconds later.
    insert_spans(engine, [producer(T0 - 0.05), producer(T0 + 5)])  # and one published after it
    fold_at(engine, T0 + 10)
    assert edges(engine) == []  # not settled yet
    fold_at(engine, T0 + 31)
    fold_at(engine, T0 + 40)
    ((*_, count, mean_s, _max_s),) = edges(engine)
    assert count == 1 and abs(mean_s - 0.05) < 1e-6
    assert pending(engine) == 0


def test_a_key_join_looks_back_only_within_its_window(engine: Engine) -> None:
    insert_spans(engine, [producer(T0 - 2 * 3600, message="ADT^A01"), consumer(T0)])
    fold_at(engine, T0 + 31)
    assert pending(engine) == 1  # no producer within the hour before it yet
    fold_at(engine, T0 + 601)
    assert edges(engine) == [] and pending(engine) == 0


def test_a_child_of_its_producer_is_counted_once_whatever_the_order(engine: Engine) -> None:
    parent = producer(T0 - 0.02)
    child = consumer(T0)
    child["trace_id"], child["parent_span_id"] = parent["trace_id"], parent["span_id"]
    insert_spans(engine, [producer(T0 - 600, message="ADT^A01"), child])
    fold_at(engine, T0 + 1)
    insert_spans(engine, [parent])
    fold_at(engine, T0 + 31)
    fold_at(engine, T0 + 700)
    ((*_, count, mean_s, _max_s),) = edges(engine)
    assert count == 1 and abs(mean_s - 0.02) < 1e-6


def test_batches_of_one_and_one_batch_give_the_same_edges(sqlite_url: str) -> None:
    """Consumers stored before and after their producers, folded span by span or all at once."""
    from vitals.kernel.db import create_engine, migrate

    stores = []
    for name in ("one.db", "all.db"):
        store = create_engine(sqlite_url.replace("vitals.db", name))
        migrate(store)
        stores.append(store)
    rows: list[dict[str, Any]] = []
    for i in range(12):
        at = T0 - 3600 + i * 240
        p = producer(at - 0.01 * (i + 1))
        c = consumer(at, links=[link_to(p)] if i % 3 else None)
        rows += [c, p] if i % 2 else [p, c]
    for store in stores:
        insert_spans(store, rows)
    fold_at(stores[0], T0 + 1, batch_size=1)
    fold_at(stores[0], T0 + 31, batch_size=1)
    fold_at(stores[1], T0 + 31, batch_size=1_000)
    assert edges(stores[0]) == edges(stores[1])
    ((*_, count, mean_s, max_s),) = edges(stores[1])
    assert count == 12
    assert abs(mean_s - sum(0.01 * (i + 1) for i in range(12)) / 12) < 1e-6 and abs(max_s - 0.12) < 1e-6
    for store in stores:
        store.dispose()


def test_pending_joins_are_resolved_only_by_the_lease_holder(engine: Engine) -> None:
    update = producer(T0 - 0.038)
    insert_spans(engine, [consumer(T0, links=[link_to(update)])])
    fold_at(engine, T0 + 1, owner="me")
    insert_spans(engine, [update])
    with engine.begin() as conn:  # another refresher takes the lease until T0 + 60
        taken = take(conn, "dashboards.rollup.spans", "someone-else", int((T0 + 1) * NS), 59 * NS)
        assert taken is not None
    fold_at(engine, T0 + 2, owner="me")  # the lease is taken: no fold, no retry
    assert edges(engine) == [] and pending(engine) == 1
    fold_at(engine, T0 + 61, owner="me")  # it expired: taken over, the join is made once
    fold_at(engine, T0 + 62, owner="me")
    assert [e[4] for e in edges(engine)] == [1]
    assert pending(engine) == 0


def test_a_key_join_reads_only_the_producers_holding_the_key(engine: Engine) -> None:
    """Every span of a business object carries its key; reading them all for every due key join
    made the refresher's memory grow with the store (issue 15's soak)."""
    from collector.tables import span_keys
    from dashboards.folds.edges import _producers

    bystanders = [consumer(T0 - i) for i in range(1, 30)]  # same key, not producers
    publish = producer(T0 - 0.05)
    insert_spans(engine, [*bystanders, publish])
    with engine.connect() as conn:
        hashes = sorted({h for (h,) in conn.execute(select(span_keys.c.key_hash))})
        holders, candidates = _producers(conn, hashes)
    assert list(candidates) == [(publish["trace_id"], publish["span_id"])]
    assert [ref for refs in holders.values() for ref in refs] == list(candidates)
    assert candidates[(publish["trace_id"], publish["span_id"])].kind == "producer"

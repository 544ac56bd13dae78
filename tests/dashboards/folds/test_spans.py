"""Rollups of sampled spans count what was received: the same figures as from every span.

One generated estate goes into two stores, one as received and one sampled request by request
by ``collector.sampling``; after a refresh, every count the dashboard reads from its rollups
(and the feeds' minute counts read from ``spans``) is the same in both.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.engine import Engine

from collector.rows import SAMPLE_WEIGHT, SPAN_COLUMNS, Row, WriteBatch
from collector.sampling import SampleRule, SamplingPolicy, sample
from collector.sql_sink import SqlSink
from collector.tables import spans
from dashboards.folds.edges import EdgeTiming
from dashboards.queries.operations import feed_history_counts
from dashboards.rollup import refresh
from dashboards.tables import business_rollups, error_groups, feeds, service_edges, span_rollups
from slas import HistoryExpectation
from tests.support.services import postgres_database
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.units import NS

MS = 1_000_000
START_NS = 1_790_000_000 * NS  # a fixed moment: the estate is the same every run
NOW_NS = START_NS + 3 * 3600 * NS
SETTLED = EdgeTiming(settle_s=0, max_wait_s=0)

#: Healthy bulk of the router and the ERP is sampled; client spans are not (their children in
#: other services would lose their parent), producers and consumers never are.
POLICY = SamplingPolicy(
    (
        SampleRule(service="router", one_in=7, kinds=frozenset({"server", "internal"})),
        SampleRule(service="erp", one_in=5),
    ),
    slow_ns=400 * MS,
)


def _row(**values: Any) -> Row:
    values.setdefault("attributes", "{}")
    values.setdefault("resource_attributes", "{}")
    values["end_time_unix_nano"] = values["start_time_unix_nano"] + values["duration_ns"]
    values.setdefault("event_time_unix_nano", values["start_time_unix_nano"])
    values.setdefault("status_code", "unset")
    values.setdefault("received_at_unix_nano", NOW_NS)
    values["sample_weight"] = 1
    return tuple(values.get(column) for column in SPAN_COLUMNS)


def estate(seed: int = 7, traces: int = 600) -> list[list[Row]]:
    """Requests as services export them: gateway -> router (server, internal steps, client) ->
    erp (server, on an HL7 interface, per facility), with errors, slow calls, a business stage
    now and then and a queue hop; each service's spans batched in requests of up to 200."""
    ids = random.Random(seed)
    by_service: dict[str, list[Row]] = {"gateway": [], "router": [], "erp": []}

    def hexid(n: int) -> str:
        return "".join(ids.choice("0123456789abcdef") for _ in range(n))

    for t in range(traces):
        trace = hexid(32)
        start = START_NS + t * NS // 2 + ids.randrange(NS // 2)
        facility = ids.choice(["north", "south", None])
        error = ids.random() < 0.03
        slow = ids.random() < 0.05
        stage = "charge.posted" if ids.random() < 0.1 else None
        g, rs, rc, e = hexid(16), hexid(16), hexid(16), hexid(16)
        dur = (500 if slow else ids.randrange(2, 300)) * MS
        by_service["gateway"].append(
            _row(trace_id=trace, span_id=g, name="POST /charges", service_name="gateway", kind="client",
                 start_time_unix_nano=start, duration_ns=dur + 4 * MS)
        )  # fmt: skip
        by_service["router"].append(
            _row(trace_id=trace, span_id=rs, parent_span_id=g, name="route", service_name="router",
                 kind="server", start_time_unix_nano=start + MS, duration_ns=dur + 2 * MS)
        )  # fmt: skip
        for step in ("validate", "transform"):
            by_service["router"].append(
                _row(trace_id=trace, span_id=hexid(16), parent_span_id=rs, name=step, service_name="router",
                     kind="internal", start_time_unix_nano=start + MS, duration_ns=MS)
            )  # fmt: skip
        by_service["router"].append(
            _row(trace_id=trace, span_id=rc, parent_span_id=rs, name="erp call", service_name="router",
                 kind="client", start_time_unix_nano=start + 2 * MS, duration_ns=dur)
        )  # fmt: skip
        by_service["erp"].append(
            _row(trace_id=trace, span_id=e, parent_span_id=rc, name="post charge", service_name="erp",
                 kind="server", start_time_unix_nano=start + 3 * MS, duration_ns=dur - MS,
                 status_code="error" if error else "ok", status_message="GL closed" if error else None,
                 hc_message_type="DFT^P03", hc_facility=facility, hc_stage=stage,
                 hc_amount=125.0 if stage else None)
        )  # fmt: skip
        if t % 10 == 0:
            by_service["erp"].append(
                _row(trace_id=trace, span_id=hexid(16), parent_span_id=e, name="publish", service_name="erp",
                     kind="producer", start_time_unix_nano=start + 4 * MS, duration_ns=MS,
                     messaging_destination="gl-postings",
                     attributes=orjson.dumps({"hc.key.claim": "c1"}).decode())
            )  # fmt: skip
    return [rows[i : i + 200] for rows in by_service.values() for i in range(0, len(rows), 200)]


@dataclass
class Stores:
    full: Engine
    sampled: Engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    with ExitStack() as stack:
        if request.param == "sqlite":
            urls = [f"sqlite:///{tmp_path / 'full.db'}", f"sqlite:///{tmp_path / 'sampled.db'}"]
        else:
            urls = [stack.enter_context(postgres_database()), stack.enter_context(postgres_database())]
        engines = [create_engine(url) for url in urls]
        for engine in engines:
            migrate(engine)
        yield Stores(*engines)
        for engine in engines:
            engine.dispose()


def _store(engine: Engine, requests: list[WriteBatch]) -> None:
    sink = SqlSink(engine)
    try:
        for batch in requests:
            sink.write(batch)
    finally:
        sink.close()


def _cells(engine: Engine, table: Table, *values: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    key = [c.name for c in table.primary_key.columns]
    with engine.connect() as conn:
        return {
            tuple(r._mapping[k] for k in key): tuple(r._mapping[v] for v in values)
            for r in conn.execute(select(table))
        }


def test_sampled_spans_give_the_rollups_of_every_span(stores: Stores) -> None:
    requests = [WriteBatch(spans=rows) for rows in estate()]
    sampled = [sample(batch, POLICY) for batch in requests]
    _store(stores.full, requests)
    _store(stores.sampled, [s.batch for s in sampled])
    received = sum(len(b.spans) for b in requests)
    kept = sum(len(s.batch.spans) for s in sampled)
    assert kept == received - sum(s.dropped_total for s in sampled)
    assert kept < received * 0.65  # the bulk really is sampled
    assert all(r[SAMPLE_WEIGHT] >= 1 for s in sampled for r in s.batch.spans)
    for engine in (stores.full, stores.sampled):
        assert refresh(engine, horizon_s=0, clock=lambda: NOW_NS, edge_timing=SETTLED).behind == 0
    with stores.sampled.connect() as conn:
        assert conn.execute(select(func.count()).select_from(spans)).scalar_one() == kept
        assert conn.execute(select(func.sum(spans.c.sample_weight))).scalar_one() == received

    full, part = stores.full, stores.sampled
    assert _cells(part, span_rollups, "count", "error_count") == _cells(
        full, span_rollups, "count", "error_count"
    )
    assert _cells(part, business_rollups, "count", "error_count", "amount_sum") == _cells(
        full, business_rollups, "count", "error_count", "amount_sum"
    )
    assert _cells(part, error_groups, "count") == _cells(full, error_groups, "count")
    assert _cells(part, feeds, "count") == _cells(full, feeds, "count")
    assert _cells(part, service_edges, "count", "error_count") == _cells(
        full, service_edges, "count", "error_count"
    )
    history = HistoryExpectation(weeks=1)
    assert feed_history_counts(part, NOW_NS + 7 * 86400 * NS, history) == feed_history_counts(
        full, NOW_NS + 7 * 86400 * NS, history
    )

    # Latency is what sampling makes an estimate of: the sums differ, the slow maxima do not.
    durations = {k: v for k, v in _cells(full, span_rollups, "duration_max_ns").items() if v[0] >= 400 * MS}
    assert durations and all(
        _cells(part, span_rollups, "duration_max_ns")[k] == v for k, v in durations.items()
    )

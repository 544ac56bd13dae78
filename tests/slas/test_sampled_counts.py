"""SLA counts over a sampled store: each kept span counts the received spans it stands for.

The collector's sampling (issue 15) keeps one healthy span in N of a group and stores, on the
kept one, ``spans.sample_weight``. The engine reads it into ``SpanRecord.weight`` and adds that
many events, so ratio SLIs come out the same as over the whole estate.

Latency is exact only where the sampler cannot blur good and bad: spans at least the sampler's
``slow`` threshold are always kept alone, so a latency SLA whose ``under`` is at least ``slow``
sees every bad span and its good and total counts are exact. With ``under`` below ``slow``, a
kept span of a sampled group stands for others whose durations may fall on the other side of
``under``: its total is still exact, its bad count an estimate (``vitals config check`` reports
that combination).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.rows import SPAN_COLUMNS, Row, WriteBatch
from collector.sampling import Sampling, sample
from collector.tables import spans
from slas.engine import SlaEngine
from slas.model import Evaluation
from slas.processing import Batch, Processor
from slas.records import SpanRecord
from slas.source import SqlTelemetrySource
from slas.spec import SLA, EvaluationSettings
from slas.store import MemoryStateStore
from tests.slas.helpers import MIN, T0, Clock, make_sla
from tests.support.factories import insert_spans, span_row
from tests.support.services import postgres_database
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.units import MINUTE_NS, NS

POLICY = Sampling.model_validate(
    {"enabled": True, "slow": "500ms", "rules": [{"service": "adt-router", "one_in": 10}]}
).policy()
END = 40 * MIN
ROUTE = {"service": "adt-router", "span": "route"}


def estate_slas() -> list[SLA]:
    return [
        make_sla(
            id="route-errors",
            sli={"ratio": {"total": ROUTE, "bad": {"status": "error"}}},
        ),
        make_sla(
            id="a01-share",
            sli={"ratio": {"total": ROUTE, "good": {"message_type": "ADT^A01"}}},
            slice_by=["hc.facility"],
        ),
        make_sla(
            id="route-under-slow",
            sli={"latency": {"select": ROUTE, "under": "500ms"}},
        ),
        make_sla(
            id="route-under-100ms",
            sli={"latency": {"select": ROUTE, "under": "100ms"}},
        ),
    ]


def estate(seed: int = 15) -> list[dict[str, Any]]:
    """Half an hour of an ADT router's spans: mostly healthy (sampled), some failed or slow
    (kept), business stages and another service's spans (never sampled)."""
    rng = random.Random(seed)
    rows = []
    for i, at in enumerate(sorted(T0 + rng.uniform(0, 30 * MIN) for _ in range(3000))):
        attributes = {
            "hc.facility": rng.choice(["north", "south", "east"]),
            "hc.message.type": rng.choice(["ADT^A01", "ADT^A01", "ADT^A08"]),
        }
        status = "error" if rng.random() < 0.02 else "unset"
        duration = rng.choice([0.002, 0.02, 0.08, 0.15, 0.3]) if rng.random() < 0.97 else 0.9
        service, name = ("adt-router", "route") if i % 10 else ("fhir-gw", "GET /Patient")
        if i % 50 == 0:
            attributes["hc.stage"] = "adt.routed"
        rows.append(
            span_row(
                name=name,
                service=service,
                start_s=at,
                duration_s=duration,
                status=status,
                attributes=attributes,
                ids=rng,
            )
        )
    return rows


def as_tuple(row: Mapping[str, Any]) -> Row:
    return tuple(row.get(column, 1 if column == "sample_weight" else None) for column in SPAN_COLUMNS)


def sampled(rows: Sequence[Mapping[str, Any]], per_request: int = 500) -> list[dict[str, Any]]:
    """``rows`` as the collector stores them with sampling on, one request of ``per_request``
    spans at a time."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(rows), per_request):
        batch = WriteBatch(spans=[as_tuple(r) for r in rows[start : start + per_request]])
        out.extend(dict(zip(SPAN_COLUMNS, kept, strict=True)) for kept in sample(batch, POLICY).batch.spans)
    return out


def store(url: str, rows: Iterable[Mapping[str, Any]]) -> Engine:
    engine = create_engine(url)
    migrate(engine)
    insert_spans(engine, rows)
    return engine


def evaluations(engine: Engine) -> dict[tuple[str, str | None], Evaluation]:
    sla_engine = SlaEngine(
        estate_slas(),
        MemoryStateStore(),
        SqlTelemetrySource(engine),
        clock=Clock(END),
        settings=EvaluationSettings(batch_rows=700),
    )
    sla_engine.catch_up()  # not tick(): its time budget would make a busy machine's run differ
    return {(ev.sla_id, ev.slice): ev for ev in sla_engine.evaluate(Clock(END)(), only_ready=True)}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """The estate stored whole and stored sampled, in two stores of the same kind."""
    rows = estate()
    with ExitStack() as stack:
        if request.param == "sqlite":
            urls = [f"sqlite:///{tmp_path / 'whole.db'}", f"sqlite:///{tmp_path / 'sampled.db'}"]
        else:
            urls = [stack.enter_context(postgres_database()) for _ in range(2)]
        whole, part = store(urls[0], rows), store(urls[1], sampled(rows))
        yield whole, part
        whole.dispose()
        part.dispose()


def test_the_store_holds_fewer_spans_standing_for_all_of_them(stores: tuple[Engine, Engine]) -> None:
    whole, part = stores
    with whole.connect() as conn:
        received = conn.execute(select(func.count()).select_from(spans)).scalar_one()
    with part.connect() as conn:
        kept, weight = conn.execute(select(func.count(), func.sum(spans.c.sample_weight))).one()
    assert weight == received == 3000
    assert kept < received / 2, kept  # mostly healthy router spans, one in 10 of each group kept


def test_ratio_slas_count_the_same_over_the_whole_and_the_sampled_store(
    stores: tuple[Engine, Engine],
) -> None:
    whole, part = (evaluations(engine) for engine in stores)
    ratio = {key for key in whole if key[0] in {"route-errors", "a01-share"}}
    assert {key for key in part if key[0] in {"route-errors", "a01-share"}} == ratio
    assert len(ratio) == 5  # route-errors; a01-share whole and per facility
    for key in sorted(ratio, key=str):
        assert (part[key].good, part[key].total) == (whole[key].good, whole[key].total), key
    assert whole[("route-errors", None)].total == 2700


def test_latency_counts_are_exact_when_under_is_at_least_the_slow_threshold(
    stores: tuple[Engine, Engine],
) -> None:
    """``under: 500ms`` with ``slow: 500ms``: every bad span is kept alone. ``under: 100ms``:
    the total stays exact, the split between good and bad is an estimate (not asserted)."""
    whole, part = (evaluations(engine) for engine in stores)
    exact = ("route-under-slow", None)
    assert (part[exact].good, part[exact].total) == (whole[exact].good, whole[exact].total)
    assert whole[exact].good < whole[exact].total  # the estate has slow spans to get right
    blurred = ("route-under-100ms", None)
    assert part[blurred].total == whole[blurred].total


def test_a_weighted_span_adds_its_weight_to_events_and_bad_events() -> None:
    ratio, latency, freshness = (
        make_sla(id="r", sli={"ratio": {"total": ROUTE, "bad": {"attributes": {"slow": "yes"}}}}),
        make_sla(id="l", sli={"latency": {"select": ROUTE, "under": "10ms"}}),
        make_sla(id="f", sli={"freshness": {"select": ROUTE, "max_age": "5m"}}),
    )
    at = (T0 + 5 * MIN) * NS
    records = [
        SpanRecord(1, "route", "adt-router", "internal", "unset", at, NS // 100, {"slow": "yes"}, "t1", 7),
        SpanRecord(2, "route", "adt-router", "internal", "unset", at, NS // 1000, {}, "t2"),
    ]
    batch = Batch()
    Processor([ratio, latency, freshness]).spans(batch, records, lambda _sla, _keys: {}, at)
    minute = at // MINUTE_NS
    assert batch.nonzero_deltas() == {
        ("r", "", minute): (8, 7, 0.0),
        ("l", "", minute): (8, 7, 0.0),
        ("f", "", minute): (8, 0, 0.0),  # a feed's messages per minute, as its history counts them
    }
    assert batch.spans_read == 2  # rows read, not spans received

"""The API rollups against the real stores: incremental, weighted, read back by the query module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from analytics.histogram import RELATIVE_ERROR
from analytics.query import api_stats
from analytics.report import SlaScope, precision_for
from analytics.rollup import refresh
from analytics.tables import api_rollups
from collector.tables import spans
from tests.support.factories import insert_spans, span_row

NS = 1_000_000_000
T0 = 1_780_000_020.0  # a minute boundary plus 20 s
CLOCK = int((T0 + 86400) * NS)


def clock() -> int:
    return CLOCK


def _calls(
    n: int, *, start: float, status: int = 200, consumer: str = "portal", ms: float = 10.0
) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield span_row(
            name="GET /fhir/r4/Patient/{id}",
            service="fhir-server",
            kind="server",
            start_s=start + i * 0.5,
            duration_s=ms / 1000 * (1 + i % 10),
            status="error" if status >= 500 else "unset",
            attributes={
                "http.route": "/fhir/r4/Patient/{id}",
                "http.request.method": "GET",
                "http.response.status_code": status,
                "client.id": consumer,
            },
        )


def test_fold_is_incremental_weighted_and_read_back(engine: Engine) -> None:
    insert_spans(engine, _calls(40, start=T0))
    insert_spans(engine, [span_row(service="engine", kind="internal", start_s=T0)])  # not an API call
    first = refresh(engine, clock=clock, horizon_s=0, batch_size=15)
    assert first.claimed and first.behind == 0 and first.processed == 41
    errors = list(_calls(10, start=T0 + 30, status=503, consumer="payer-portal", ms=100))
    for row in errors:
        row["status_message"] = "upstream timed out after 3000 ms"
    insert_spans(engine, errors)
    insert_spans(engine, _calls(10, start=T0 + 31, status=404))
    # A sampled span stands for 5.
    with engine.begin() as conn:
        newest = conn.execute(select(spans.c.id).order_by(spans.c.id.desc()).limit(1)).scalar_one()
        conn.execute(update(spans).where(spans.c.id == newest).values(sample_weight=5))
    second = refresh(engine, clock=clock, horizon_s=0)
    assert second.processed == 20
    assert refresh(engine, clock=clock, horizon_s=0).processed == 0

    start, end = int(T0 * NS) - 20 * NS, int(T0 * NS) + 3600 * NS
    assert precision_for(start, end) == 60
    scope = SlaScope("fhir-read-latency", "FHIR reads", ("fhir-*",), None, ("/fhir/r4/Patient/*",), None)
    (api,) = api_stats(engine, start, end, scopes=[scope])
    assert (api.service, api.route, api.method, api.interaction, api.resource_type) == (
        "fhir-server",
        "/fhir/r4/Patient/{id}",
        "GET",
        "read",
        "Patient",
    )
    assert api.requests == 40 + 10 + 10 + 4
    assert api.error_rate_5xx == pytest.approx(10 / 64)
    assert api.error_rate_4xx == pytest.approx(14 / 64)
    assert api.slas == ("fhir-read-latency",)
    assert [(e.signature, e.error_class, e.occurrences) for e in api.top_errors] == [
        ("404", "4xx", 14),
        ("503 upstream timed out after # ms", "5xx", 10),
    ]
    assert api.p99_s is not None and api.p50_s is not None
    assert abs(api.p99_s - 1.0) / 1.0 <= RELATIVE_ERROR  # the slowest: 100 ms x 10
    consumers = {s.consumer: s.requests for s in api_stats(engine, start, end, by="consumer")}
    assert consumers == {"portal": 54, "payer-portal": 10}
    # Hour rows hold the same counts.
    with engine.connect() as conn:
        detailed = (api_rollups.c.consumer != "*", api_rollups.c.service != "*")
        hourly = select(api_rollups.c["count"]).where(api_rollups.c.width_s == 3600, *detailed)
        hours = conn.execute(hourly).scalars().all()
    assert sum(hours) == 64
    # Each call also counts in its API's row over all consumers and its consumer's over all APIs.
    with engine.connect() as conn:
        daily = select(api_rollups.c["count"]).where(api_rollups.c.width_s == 86400)
        summed = conn.execute(daily).scalars()
        assert sorted(summed) == [10, 10, 54, 54, 64]
    week = api_stats(engine, start, start + 7 * 86400 * NS)
    assert [s.requests for s in week] == [64]


def test_a_second_refresher_waits_for_the_lease(engine: Engine) -> None:
    from vitals.kernel.lease import take

    insert_spans(engine, _calls(3, start=T0))
    with engine.begin() as conn:
        assert take(conn, "analytics.rollup.apis", "someone-else", CLOCK, 60 * NS) is not None
    report = refresh(engine, clock=clock, horizon_s=0)
    assert not report.claimed and report.processed == 0


def test_the_tables_are_documented() -> None:
    from pathlib import Path

    from analytics.tables import api_errors, api_rollup_state, api_rollups

    reference = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "store.md").read_text()
    for table in (api_rollups, api_errors, api_rollup_state):
        assert f"`{table.name}`" in reference
        for column in table.columns:
            assert f"`{column.name}`" in reference, (
                f"{table.name}.{column.name} is not in the store reference"
            )

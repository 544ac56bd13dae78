"""Queue latency from stored spans (SQLite and PostgreSQL), producer/consumer joined each way."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import pytest
from sqlalchemy.engine import Engine

from collector.queues import names
from collector.queues.config import TraceLatencyJob
from collector.queues.trace_latency import SqlSpanReader, TraceLatency
from tests.collector.queues.conftest import ManualClock, StoreWriter, stored
from tests.support.factories import insert_spans, span_row

MINUTE = 60.0
T0 = 1_800_000_000 - 1_800_000_000 % 60  # a minute boundary, in seconds


def producer(trace: str, span: str, start: float, queue: str, **attrs: str) -> dict[str, object]:
    return span_row(
        name=f"{queue} publish",
        service="integration-engine",
        kind="producer",
        trace_id=trace,
        span_id=span,
        start_s=start,
        duration_s=0.005,
        attributes={"messaging.destination.name": queue, "messaging.system": "rabbitmq", **attrs},
    )


def consumer(
    trace: str,
    span: str,
    start: float,
    end: float,
    queue: str,
    parent: str | None = None,
    link: tuple[str, str] | None = None,
    attributes: Mapping[str, str] | None = None,
) -> dict[str, object]:
    row = span_row(
        name="HL7 DFT^P03 process",
        service="billing",
        kind="consumer",
        trace_id=trace,
        span_id=span,
        parent_span_id=parent,
        start_s=start,
        duration_s=end - start,
        attributes={
            "messaging.destination.name": queue,
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "hc.system": "billing",
            **(attributes or {}),
        },
    )
    if link:
        row["links"] = orjson.dumps([{"trace_id": link[0], "span_id": link[1], "attributes": {}}]).decode()
    return row


def hexid(n: int, width: int) -> str:
    return f"{n:0{width}x}"


def job(engine: Engine, clock: ManualClock, **overrides: object) -> tuple[TraceLatency, StoreWriter]:
    writer = StoreWriter(engine)
    config = TraceLatencyJob.model_validate(
        {"type": "trace-latency", "lookback": "1d", "grace": "2m", **overrides}
    )
    return TraceLatency(config, SqlSpanReader(engine), writer, clock=clock), writer


def test_latency_percentiles_per_queue_and_minute_joined_by_link_parent_and_message_id(
    engine: Engine,
) -> None:
    rows = []
    latencies = []
    for i in range(12):
        trace, pspan = hexid(i + 1, 32), hexid(i + 1, 16)
        start = T0 + 5 + i
        latency = 1.0 + i  # 1..12 s, all consumers ending inside the first minute
        latencies.append(latency)
        rows.append(producer(trace, pspan, start, "charges-outbound", **{"messaging.message.id": f"m{i}"}))
        cspan = hexid(1000 + i, 16)
        if i % 3 == 0:  # a link from a consumer trace of its own
            rows.append(
                consumer(
                    hexid(500 + i, 32),
                    cspan,
                    start + latency - 0.5,
                    start + latency,
                    "charges-outbound",
                    link=(trace, pspan),
                )
            )
        elif i % 3 == 1:  # a child of the producer span in the same trace
            rows.append(
                consumer(
                    trace, cspan, start + latency - 0.5, start + latency, "charges-outbound", parent=pspan
                )
            )
        else:  # only the message id in common
            rows.append(
                consumer(
                    hexid(700 + i, 32),
                    cspan,
                    start + latency - 0.5,
                    start + latency,
                    "charges-outbound",
                    attributes={"messaging.message.id": f"m{i}"},
                )
            )
    # Another queue, in the next minute; its consumer is stored before its producer.
    rows.append(
        consumer(hexid(900, 32), hexid(900, 16), T0 + 70, T0 + 72, "gl-postings", parent=hexid(901, 16))
    )
    rows.append(producer(hexid(900, 32), hexid(901, 16), T0 + 69, "gl-postings"))
    # Unrelated spans are ignored.
    rows.append(span_row(name="erp.gl.post", service="erp-finance", start_s=T0 + 1))
    insert_spans(engine, rows)

    clock = ManualClock(T0 + 2 * MINUTE)
    latency_job, _writer = job(engine, clock)
    assert latency_job.run() == 0  # minute 0 ended 1 min ago: inside the 2 min grace
    clock.advance(5 * MINUTE)
    assert latency_job.run() == 6  # two minutes x three percentiles

    charges = {
        p["attributes"]["quantile"]: p for p in stored(engine, names.LATENCY, queue="charges-outbound")
    }
    assert set(charges) == {"0.5", "0.95", "0.99"}
    p50 = charges["0.5"]
    assert p50["value"] == pytest.approx(6.5)
    assert charges["0.95"]["value"] == pytest.approx(11.45)
    assert (p50["count"], p50["min"], p50["max"], p50["sum"]) == (
        12,
        1.0,
        12.0,
        pytest.approx(sum(latencies)),
    )
    assert p50["time_unix_nano"] == T0 * 10**9 and p50["queue"] == "charges-outbound"
    assert p50["attributes"] == {
        "queue": "charges-outbound",
        "broker": "rabbitmq",
        "hc.system": "billing",
        "quantile": "0.5",
    }
    gl = stored(engine, names.LATENCY, queue="gl-postings", quantile="0.5")
    assert [(g["value"], g["time_unix_nano"]) for g in gl] == [(3.0, (T0 + 60) * 10**9)]


def test_incremental_reads_pick_up_only_new_spans_and_pairs_split_across_runs(engine: Engine) -> None:
    clock = ManualClock(T0 + 10 * MINUTE)
    latency_job, _ = job(engine, clock)
    insert_spans(engine, [producer(hexid(1, 32), hexid(1, 16), T0 + 1, "adt-inbound")])
    assert latency_job.run() == 0
    first_cursor = latency_job.cursor
    insert_spans(
        engine, [consumer(hexid(1, 32), hexid(2, 16), T0 + 3, T0 + 4, "adt-inbound", parent=hexid(1, 16))]
    )
    assert latency_job.run() == 0  # the minute just received a pair: it waits out the grace
    clock.advance(3 * MINUTE)
    assert latency_job.run() == 3
    assert latency_job.cursor is not None and first_cursor is not None
    assert latency_job.cursor.passed()[-1][1] > first_cursor.passed()[-1][1]  # read on from there
    assert [p["value"] for p in stored(engine, names.LATENCY, queue="adt-inbound", quantile="0.99")] == [3.0]
    clock.advance(3 * MINUTE)
    assert latency_job.run() == 0  # nothing new: nothing rewritten


def test_restart_reads_back_lookback_and_does_not_duplicate(engine: Engine) -> None:
    insert_spans(
        engine,
        [
            producer(hexid(1, 32), hexid(1, 16), T0 + 1, "inventory-sync"),
            consumer(hexid(1, 32), hexid(2, 16), T0 + 2, T0 + 9, "inventory-sync", parent=hexid(1, 16)),
        ],
    )
    clock = ManualClock(T0 + 5 * MINUTE)
    first, _ = job(engine, clock, lookback="1h")
    first.run()
    clock.advance(3 * MINUTE)
    assert first.run() == 3
    restarted, _ = job(engine, clock, lookback="1h")
    restarted.run()
    clock.advance(3 * MINUTE)
    assert restarted.run() == 3  # the same minute summarised again...
    rows = stored(engine, names.LATENCY, queue="inventory-sync")
    assert len(rows) == 3 and {r["value"] for r in rows} == {8.0}  # ...and stored once


def test_drain_on_stop_reads_every_span_and_writes_ended_minutes_without_the_grace(engine: Engine) -> None:
    rows = []
    for i in range(6):  # three pairs in minute 0, three in minute 1
        start = T0 + 20 * i
        trace, pspan = hexid(i + 1, 32), hexid(i + 1, 16)
        rows.append(producer(trace, pspan, start, "claims-outbound"))
        rows.append(
            consumer(trace, hexid(100 + i, 16), start + 1, start + 2, "claims-outbound", parent=pspan)
        )
    insert_spans(engine, rows)
    clock = ManualClock(T0 + 2 * MINUTE + 30)  # both minutes ended, both inside the 2 min grace
    latency_job, _ = job(engine, clock)
    # Batches far smaller than the config allows, so that one run cannot read the whole table.
    latency_job.config = latency_job.config.model_copy(update={"batch_size": 2})
    latency_job.max_batches = 1
    assert latency_job.run() == 0
    caught_up = [latency_job.caught_up]  # one batch of two spans: far from the end of the table
    assert latency_job.drain() == 6  # two minutes x three percentiles
    caught_up.append(latency_job.caught_up)
    assert caught_up == [False, True]
    medians = stored(engine, names.LATENCY, queue="claims-outbound", quantile="0.5")
    assert [(p["count"], p["value"]) for p in medians] == [(3, 2.0), (3, 2.0)]

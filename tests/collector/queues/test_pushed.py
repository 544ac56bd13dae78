"""``queue.stuck`` derived for queue gauges that an engine pushed (no poller), from the store."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from collector.queues import names
from collector.queues.config import OtlpStuckJob
from collector.queues.pushed import PushedPoint, PushedStuck, PushedStuckJob, SqlPointReader
from tests.collector.queues.conftest import ManualClock, StoreWriter, stored
from tests.support.factories import insert_metric_points, metric_row

T0 = 1_800_000_000.0
ATTRS = {"queue": "charges-outbound", "broker": "rabbitmq", "hc.system": "billing"}


def engine_gauges(
    minute: int, depth: float, consumers: float, attrs: dict[str, str] = ATTRS
) -> list[dict[str, object]]:
    t = T0 + 60 * minute
    return [
        metric_row(name=names.DEPTH, value=depth, time_s=t, attributes=attrs, service="integration-engine"),
        metric_row(
            name=names.CONSUMERS, value=consumers, time_s=t, attributes=attrs, service="integration-engine"
        ),
    ]


def test_stuck_is_derived_next_to_each_pushed_depth_point(engine: Engine) -> None:
    healthy = {**ATTRS, "queue": "gl-postings"}
    rows = []
    for minute in range(16):
        stalled = minute >= 3
        rows += engine_gauges(minute, 10 + (minute if stalled else 0), 0 if stalled else 2)
        rows += engine_gauges(minute, 4, 1, healthy)
    insert_metric_points(engine, rows)
    writer = StoreWriter(engine)
    job = PushedStuckJob(
        OtlpStuckJob(type="otlp", stuck_after=600, lookback=86400 * 365),
        SqlPointReader(engine),
        writer,
        clock=ManualClock(T0 + 16 * 60),
        batch_size=3,  # many batches, split inside one timestamp: history and gauges carry over
    )
    assert job.run() == 32
    charges = stored(engine, names.STUCK, queue="charges-outbound")
    assert [p["value"] for p in charges] == [0.0] * 13 + [
        1.0
    ] * 3  # consumers gone at minute 3, stuck from 13
    assert charges[0]["service_name"] == "integration-engine"
    assert charges[0]["attributes"] == ATTRS and charges[0]["queue"] == "charges-outbound"
    assert {p["value"] for p in stored(engine, names.STUCK, queue="gl-postings")} == {0.0}
    # Its own rows are not read back as engine input; nothing new means nothing written.
    assert job.run() == 0


def test_series_from_pollers_or_that_push_their_own_stuck_are_left_alone() -> None:
    state = PushedStuck(stuck_after_s=60)
    polled = {**ATTRS, "poller": "rabbit"}
    own = {**ATTRS, "queue": "adt-inbound"}
    points = [
        PushedPoint(1, names.DEPTH, "svc", polled, 0, 1.0),
        PushedPoint(2, names.STUCK, "svc", own, 0, 0.0),
        PushedPoint(3, names.DEPTH, "svc", own, 1, 1.0),
        PushedPoint(4, names.DEPTH, "svc", ATTRS, 2, 1.0),
    ]
    rows = state.add(points)
    assert [r["queue"] for r in rows] == ["charges-outbound"]


def test_drain_on_stop_derives_stuck_for_every_stored_gauge(engine: Engine) -> None:
    rows = []
    for minute in range(12):
        rows += engine_gauges(minute, 10 + minute, 0)
    insert_metric_points(engine, rows)
    job = PushedStuckJob(
        OtlpStuckJob(type="otlp", stuck_after=300, lookback=86400 * 365),
        SqlPointReader(engine),
        StoreWriter(engine),
        clock=ManualClock(T0 + 12 * 60),
        batch_size=4,
        max_batches=1,
    )
    first = job.run()
    caught_up = [job.caught_up]
    assert first < 12  # one small batch per run: the table is far from read
    assert first + job.drain() == 12
    caught_up.append(job.caught_up)
    assert caught_up == [False, True]
    values = [p["value"] for p in stored(engine, names.STUCK, queue="charges-outbound")]
    assert values == [0.0] * 5 + [1.0] * 7  # growing with no consumers for 5 min from minute 5 on

from __future__ import annotations

import pytest

from collector.queues.latency import (
    LatencyJoiner,
    MessagingSpan,
    MinuteWindows,
    link_refs,
    percentile,
    role_of,
)
from vitals.kernel.units import MINUTE_NS, NS

T0 = 1_800_000_000 * NS - (1_800_000_000 * NS) % MINUTE_NS  # a minute boundary


def span(
    id: int,
    role: str,
    *,
    trace: str = "t1",
    span_id: str = "",
    parent: str | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
    destination: str | None = "charges-outbound",
    message_id: str | None = None,
    links: tuple[tuple[str, str], ...] = (),
) -> MessagingSpan:
    start = T0 + int(start_s * NS)
    end = T0 + int((end_s if end_s is not None else start_s + 0.01) * NS)
    return MessagingSpan(
        id,
        trace,
        span_id or f"s{id}",
        parent,
        role,
        destination,
        message_id,
        start,
        end,
        links,
        "rabbitmq",
        "billing",
    )


def test_roles_from_span_kind_or_messaging_operation() -> None:
    assert role_of("producer", {}) == "producer"
    assert role_of("SPAN_KIND_CONSUMER", {}) == "consumer"
    assert role_of("internal", {"messaging.operation.type": "process"}) == "consumer"
    assert role_of("client", {"messaging.operation.type": "send"}) == "producer"
    assert role_of("internal", {}) is None


def test_link_refs_accept_both_key_styles() -> None:
    assert link_refs([{"trace_id": "AB", "span_id": "CD"}, {"traceId": "ef", "spanId": "01"}, "junk"]) == (
        ("ab", "cd"),
        ("ef", "01"),
    )


def test_consumers_join_by_link_parent_or_message_id() -> None:
    joiner = LatencyJoiner()
    pairs = joiner.add(
        [
            span(1, "producer", trace="a", span_id="p1", start_s=0),
            span(2, "consumer", trace="b", links=(("a", "p1"),), start_s=1, end_s=2),
            span(3, "producer", trace="c", span_id="p3", start_s=10),
            span(4, "consumer", trace="c", parent="p3", start_s=12, end_s=14),
            span(5, "producer", trace="d", message_id="m-5", start_s=20),
            span(6, "consumer", trace="e", message_id="m-5", start_s=25, end_s=27.5),
            # Same message id on another queue: no join.
            span(7, "consumer", trace="f", message_id="m-5", destination="adt-inbound", end_s=30),
        ]
    )
    assert sorted(p.latency_s for p in pairs) == pytest.approx([2.0, 4.0, 7.5])
    assert {p.destination for p in pairs} == {"charges-outbound"}
    assert joiner.waiting == 1


def test_a_consumer_that_arrives_before_its_producer_waits_for_it() -> None:
    joiner = LatencyJoiner(max_wait_ns=3600 * NS)
    assert joiner.add([span(2, "consumer", trace="x", parent="p", end_s=5)]) == []
    assert joiner.waiting == 1
    pairs = joiner.add([span(3, "producer", trace="x", span_id="p", start_s=1)])
    assert [p.latency_s for p in pairs] == pytest.approx([4.0])
    assert joiner.waiting == 0


def test_waiting_consumers_and_producers_expire_after_max_wait() -> None:
    joiner = LatencyJoiner(max_wait_ns=60 * NS)
    joiner.add(
        [span(1, "consumer", trace="x", parent="gone", end_s=1), span(2, "producer", span_id="p", end_s=2)]
    )
    joiner.add([span(3, "producer", span_id="q", start_s=200, end_s=200)])
    assert joiner.expire() == 2
    assert joiner.waiting == 0
    assert joiner.add([span(4, "consumer", trace="t1", parent="p", end_s=210)]) == []


def test_percentile_interpolates_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 95) == pytest.approx(3.85)
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_minutes_close_after_grace_and_quiet_and_summarise_each_queue() -> None:
    joiner = LatencyJoiner()
    windows = MinuteWindows((50.0, 99.0))
    batch = []
    for i in range(1, 5):  # latencies 1, 2, 3, 4 s, consumers ending in the first minute
        batch += [
            span(2 * i, "producer", span_id=f"p{i}", start_s=10),
            span(2 * i + 1, "consumer", parent=f"p{i}", end_s=10 + i),
        ]
    batch += [span(20, "producer", span_id="late", start_s=65), span(21, "consumer", parent="late", end_s=75)]
    now = T0 + 70 * NS
    windows.add(joiner.add(batch), now)
    assert windows.close(now, 120 * NS) == []  # minute 0 ended 10 s ago; grace is 2 min
    closed = windows.close(now + 120 * NS, 120 * NS)
    assert len(closed) == 1
    minute = closed[0]
    assert (minute.destination, minute.minute_start_ns, minute.count) == ("charges-outbound", T0, 4)
    assert (minute.minimum, minute.maximum, minute.total) == (1.0, 4.0, 10.0)
    assert dict(minute.quantiles) == {50.0: 2.5, 99.0: pytest.approx(3.97)}
    assert windows.open_minutes == 1
    assert [m.count for m in windows.close(now + 300 * NS, 120 * NS)] == [1]

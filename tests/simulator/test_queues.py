from __future__ import annotations

import pytest

from simulator.model import MetricSpec, QueueHop
from simulator.queues import METRIC_NAMES, QueueModel
from vitals.kernel.units import NS

S = NS


def values(samples: list[MetricSpec], queue: str) -> dict[str, float]:
    return {s.name: s.value for s in samples if s.attributes["queue"] == queue}


def test_gauges_follow_the_messages_exactly() -> None:
    model = QueueModel(lambda queue, t: 0 if 30 * S <= t < 90 * S else 2, queues=("charges-outbound",))
    # three messages: published at 10 s, 20 s and 40 s; consumed at 12 s, 100 s and 101 s
    model.add(QueueHop("charges-outbound", 10 * S, 12 * S, 13 * S))
    model.add(QueueHop("charges-outbound", 20 * S, 100 * S, 100 * S + S // 2))
    model.add(QueueHop("charges-outbound", 40 * S, 101 * S, 102 * S))

    first = values(model.sample(60 * S, 60 * S), "charges-outbound")
    assert first == {
        "queue.depth": 2.0,
        "queue.oldest_age_seconds": 40.0,  # the message from 20 s
        "queue.consumers": 0.0,
        "queue.publish_rate": pytest.approx(3 / 60, abs=1e-4),
        "queue.deliver_rate": pytest.approx(1 / 60, abs=1e-4),
        "queue.unacked": 0.0,
    }
    second = values(model.sample(100 * S + S // 4, 60 * S), "charges-outbound")
    assert second["queue.depth"] == 1.0  # 40 s still waits; 20 s is delivered, not yet acked
    assert second["queue.unacked"] == 1.0
    assert second["queue.oldest_age_seconds"] == pytest.approx(80.25)  # unacked still counts
    assert second["queue.consumers"] == 2.0
    third = values(model.sample(160 * S, 60 * S), "charges-outbound")
    assert (
        third["queue.depth"] == 0 and third["queue.unacked"] == 0 and third["queue.oldest_age_seconds"] == 0
    )
    assert third["queue.deliver_rate"] == pytest.approx(1 / 60, abs=1e-4)  # 101 s; 100 s was in the second


def test_every_queue_reports_every_metric_with_its_attributes() -> None:
    model = QueueModel(lambda queue, t: 2)
    samples = model.sample(60 * S, 60 * S)
    assert len(samples) == 5 * len(METRIC_NAMES)
    assert {s.attributes["queue"] for s in samples} == {
        "adt-inbound",
        "charges-outbound",
        "claims-outbound",
        "gl-postings",
        "inventory-sync",
    }
    assert all(set(s.attributes) == {"queue", "broker", "hc.system"} for s in samples)
    assert "queue.stuck" not in {s.name for s in samples}  # the collector derives it


def test_samples_must_move_forward() -> None:
    model = QueueModel(lambda queue, t: 2)
    model.sample(120 * S, 60 * S)
    with pytest.raises(ValueError, match="time order"):
        model.sample(60 * S, 60 * S)


def test_rates_count_only_the_last_interval_even_on_the_first_sample() -> None:
    model = QueueModel(lambda queue, t: 2, queues=("gl-postings",))
    for second in range(0, 600, 10):  # a message every 10 s for ten minutes before the first sample
        model.add(QueueHop("gl-postings", second * S, second * S + S // 10, second * S + S // 5))
    first = values(model.sample(600 * S, 60 * S), "gl-postings")
    # (540 s, 600 s]: published at 550..590 (5), delivered at 540.1..590.1 (6)
    assert first["queue.publish_rate"] == pytest.approx(5 / 60, abs=1e-4)
    assert first["queue.deliver_rate"] == pytest.approx(6 / 60, abs=1e-4)

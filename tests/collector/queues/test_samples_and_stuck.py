from __future__ import annotations

import pytest

from collector.queues import names
from collector.queues.samples import QueueReading, derive, rate
from collector.queues.stuck import StuckPoint, is_stuck, prune, window


def test_rates_come_from_counter_differences_over_the_poll_interval() -> None:
    first = QueueReading("q", depth=5, published_total=100, delivered_total=40, publish_rate=9.0)
    second = QueueReading("q", depth=7, published_total=130, delivered_total=52, publish_rate=9.0)
    sample = derive(second, 1060.0, first, 1000.0)
    assert sample.values[names.PUBLISH_RATE] == pytest.approx(0.5)
    assert sample.values[names.DELIVER_RATE] == pytest.approx(0.2)
    assert sample.values[names.DEPTH] == 7


def test_first_poll_falls_back_to_the_brokers_rate_and_a_reset_counter_gives_none() -> None:
    assert (
        derive(QueueReading("q", published_total=10, publish_rate=2.5), 5.0).values[names.PUBLISH_RATE] == 2.5
    )
    assert rate(100, 20, 10) is None
    assert rate(None, 20, 10) is None
    assert rate(10, 20, 0) is None


def test_oldest_age_from_timestamp_or_reported_age_and_zero_for_an_empty_queue() -> None:
    assert (
        derive(QueueReading("q", depth=3, oldest_timestamp_s=1000.0), 1090.0).values[names.OLDEST_AGE] == 90
    )
    assert derive(QueueReading("q", depth=3, oldest_age_s=12.0), 1090.0).values[names.OLDEST_AGE] == 12
    # Publisher clock slightly ahead: never a negative age.
    assert derive(QueueReading("q", depth=3, oldest_timestamp_s=1091.0), 1090.0).values[names.OLDEST_AGE] == 0
    assert derive(QueueReading("q", depth=0, unacked=0), 5.0).values[names.OLDEST_AGE] == 0
    assert names.OLDEST_AGE not in derive(QueueReading("q", depth=0, unacked=2), 5.0).values


def points(*rows: tuple[float, float, float | None, float | None, float | None]) -> list[StuckPoint]:
    return [StuckPoint(*row) for row in rows]


def test_growing_with_no_consumers_for_the_whole_window_is_stuck() -> None:
    history = points((0, 5, 0, None, None), (300, 8, 0, None, None), (600, 11, 0, None, None))
    assert is_stuck(history, 600, 600)
    # Not yet N minutes of history: not stuck.
    assert not is_stuck(history[1:], 600, 600)
    assert not is_stuck(history, 599, 600)


def test_a_consumer_during_the_window_or_a_flat_depth_is_not_stuck() -> None:
    assert not is_stuck(
        points((0, 5, 0, None, None), (300, 8, 1, None, None), (600, 11, 0, None, None)), 600, 600
    )
    assert not is_stuck(points((0, 5, 0, None, None), (600, 5, 0, None, None)), 600, 600)
    assert not is_stuck(points((0, 5, 0, None, None), (600, 4, 0, None, None)), 600, 600)


def test_zero_throughput_with_consumers_attached_is_stuck() -> None:
    history = points((0, 5, 2, 1.0, None), (300, 8, 2, 0.0, None), (600, 11, 2, 0.0, None))
    assert is_stuck(history, 600, 600)
    history = points((0, 5, 2, 1.0, None), (300, 8, 2, 0.5, None), (600, 11, 2, 0.0, None))
    assert not is_stuck(history, 600, 600)


def test_without_rates_a_head_that_ages_with_the_clock_means_zero_throughput() -> None:
    ageing = points((0, 5, None, None, 100), (300, 8, None, None, 400), (600, 11, None, None, 700))
    assert is_stuck(ageing, 600, 600)
    # The head changed (age dropped): something was consumed.
    moving = points((0, 5, None, None, 100), (300, 8, None, None, 30), (600, 11, None, None, 330))
    assert not is_stuck(moving, 600, 600)
    # Nothing known about consumption: never claim stuck.
    assert not is_stuck(points((0, 5, None, None, None), (600, 11, None, None, None)), 600, 600)


def test_window_keeps_a_baseline_and_prune_keeps_what_the_next_check_needs() -> None:
    history = points(*((t, t / 100, 0, None, None) for t in (0, 100, 200, 700, 800)))
    assert [p.time_s for p in window(history, 800, 600)] == [200, 700, 800]
    kept = prune(history, 800, 600)
    assert [p.time_s for p in kept] == [200, 700, 800]
    assert is_stuck(kept, 800, 600) == is_stuck(history, 800, 600) is True

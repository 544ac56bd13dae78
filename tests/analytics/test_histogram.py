from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.histogram import RELATIVE_ERROR, Histogram, bucket_of, decode, encode, merge_all

durations = st.lists(st.integers(min_value=1, max_value=10**13), min_size=1, max_size=300)


def exact(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered) - 1e-9)) - 1]


@settings(max_examples=200, deadline=None)
@given(durations, st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]))
def test_percentile_error_is_bounded(values: list[int], q: float) -> None:
    estimate = Histogram.of(values).percentile(q)
    truth = exact(values, q)
    assert estimate is not None
    assert abs(estimate - truth) / truth <= RELATIVE_ERROR + 1e-12


@settings(max_examples=200, deadline=None)
@given(st.lists(durations, min_size=1, max_size=6))
def test_merging_parts_is_the_histogram_of_the_whole(parts: list[list[int]]) -> None:
    whole = Histogram.of([v for part in parts for v in part])
    merged = merge_all(Histogram.of(part) for part in parts)
    assert merged.counts == whole.counts
    pairwise = Histogram()
    for part in reversed(parts):
        pairwise = Histogram.of(part).merge(pairwise)
    assert pairwise.counts == whole.counts


@given(durations)
def test_encoding_round_trips(values: list[int]) -> None:
    histogram = Histogram.of(values)
    assert decode(encode(histogram)).counts == histogram.counts


@given(st.integers(min_value=1, max_value=10**15))
def test_bucket_bounds_hold_the_value(value: int) -> None:
    index = bucket_of(value)
    assert 2 ** (index / 8) <= value < 2 ** ((index + 1) / 8) or value == 1


def test_weights_count_as_many_spans() -> None:
    histogram = Histogram.of([1_000_000, 9_000_000], weights=[9, 1])
    assert histogram.total == 10
    p50 = histogram.percentile(0.5)
    assert p50 is not None and abs(p50 - 1_000_000) / 1_000_000 <= RELATIVE_ERROR
    assert Histogram().percentile(0.5) is None


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=2 * 10**18),
    st.integers(min_value=1, max_value=400 * 86400 * 10**9),
)
def test_cover_tiles_the_range_with_aligned_buckets(start: int, length: int) -> None:
    from analytics.report import cover, precision_for

    end = start + length
    step = precision_for(start, end) * 10**9
    segments = cover(start, end)
    assert segments[0].lo_ns == start // step * step
    assert segments[-1].hi_ns == -(-end // step) * step
    for before, after in itertools.pairwise(segments):
        assert before.hi_ns == after.lo_ns
    for segment in segments:
        size = segment.width_s * 10**9
        assert segment.lo_ns % size == 0 and segment.hi_ns % size == 0 and segment.lo_ns < segment.hi_ns
    buckets = sum((s.hi_ns - s.lo_ns) // (s.width_s * 10**9) for s in segments)
    assert buckets <= 2 * 59 + 2 * 23 + 401

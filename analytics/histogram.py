"""A mergeable latency histogram: fixed log-scaled buckets, so minutes and workers add up.

Every histogram uses the same bucket boundaries, ``2 ** (i / 8)`` nanoseconds: bucket ``i`` holds
durations in ``[2**(i/8), 2**((i+1)/8))``. Two histograms merge by adding counts bucket by bucket,
which is what lets a per-minute row, an hour, a worker's batch and a page's range combine without
keeping a single raw duration. A percentile is read as the geometric middle of the bucket that
holds the sample of that rank (nearest rank), so its relative error is at most
``2 ** (1/16) - 1`` (about 4.4 %) whatever the distribution: :data:`RELATIVE_ERROR`.

Counts may be weighted (a sampled span stands for ``sample_weight`` spans).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "BUCKETS_PER_OCTAVE",
    "RELATIVE_ERROR",
    "Histogram",
    "bucket_of",
    "bucket_value",
    "decode",
    "encode",
    "merge_all",
]

#: Buckets per doubling of the duration.
BUCKETS_PER_OCTAVE = 8
#: The bound on a percentile's relative error (for durations of at least 1 ns).
RELATIVE_ERROR = 2 ** (1 / (2 * BUCKETS_PER_OCTAVE)) - 1


def bucket_of(duration_ns: float) -> int:
    """The bucket of a duration; durations under 1 ns count as 1 ns (bucket 0)."""
    if duration_ns <= 1:
        return 0
    index = math.floor(math.log2(duration_ns) * BUCKETS_PER_OCTAVE)
    # log2 rounds: keep the boundary rule exact (bucket i starts at 2**(i/8)).
    if 2 ** (index / BUCKETS_PER_OCTAVE) > duration_ns:
        index -= 1
    elif 2 ** ((index + 1) / BUCKETS_PER_OCTAVE) <= duration_ns:
        index += 1
    return index


def bucket_value(index: int) -> float:
    """The duration (ns) a bucket stands for: the geometric middle of its bounds."""
    return float(2 ** ((index + 0.5) / BUCKETS_PER_OCTAVE))


@dataclass(frozen=True)
class Histogram:
    """Counts per bucket index (absent buckets are empty)."""

    counts: Mapping[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, durations_ns: Iterable[float], weights: Iterable[int] | None = None) -> Histogram:
        out: dict[int, int] = {}
        values = list(durations_ns)
        for value, weight in zip(values, weights if weights is not None else [1] * len(values), strict=True):
            index = bucket_of(value)
            out[index] = out.get(index, 0) + weight
        return cls(out)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: Histogram) -> Histogram:
        out = dict(self.counts)
        for index, count in other.counts.items():
            out[index] = out.get(index, 0) + count
        return Histogram(out)

    def percentile(self, q: float) -> float | None:
        """The ``q`` quantile (0 < q <= 1) in ns, nearest rank; None when empty."""
        total = self.total
        if total <= 0:
            return None
        rank = max(1, math.ceil(q * total - 1e-9))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return bucket_value(index)
        return bucket_value(max(self.counts))


def merge_all(histograms: Iterable[Histogram]) -> Histogram:
    out: dict[int, int] = {}
    for histogram in histograms:
        for index, count in histogram.counts.items():
            out[index] = out.get(index, 0) + count
    return Histogram(out)


def encode(histogram: Histogram) -> list[list[int]]:
    """As stored: ``[[bucket, count], ...]`` by bucket (compact JSON, any store)."""
    return [[index, count] for index, count in sorted(histogram.counts.items()) if count]


def decode(stored: Sequence[Sequence[int]] | None) -> Histogram:
    return Histogram({int(index): int(count) for index, count in stored or ()})

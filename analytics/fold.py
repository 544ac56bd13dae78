"""Folding API spans into rollup cells: pure, so a batch, a minute and an hour add up the same way.

A cell is one (bucket start, width, :class:`~analytics.identity.ApiKey`). Counts are weighted by
``sample_weight``: a span kept by sampling stands for the healthy spans of its group left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from analytics.histogram import Histogram, bucket_of
from analytics.identity import (
    ALL,
    DEFAULT_CONSUMER_ATTRIBUTES,
    ApiKey,
    api_of,
    error_class,
    http_status,
    signature,
)

__all__ = ["WIDTHS", "Cell", "CellKey", "ErrorCell", "ErrorKey", "Fold", "SpanFacts", "variants"]

#: Rollup widths in seconds: minutes, hours and days (a range reads the widest that fit).
WIDTHS = (60, 3600, 86400)
NS = 1_000_000_000


class SpanFacts(NamedTuple):
    """What the fold reads of a stored span."""

    service: str
    kind: str
    start_ns: int
    duration_ns: int
    span_error: bool
    status_message: str | None
    attributes: Mapping[str, Any]
    weight: int
    trace_id: str


class CellKey(NamedTuple):
    bucket_start_ns: int
    width_s: int
    api: ApiKey


class ErrorKey(NamedTuple):
    bucket_start_ns: int
    width_s: int
    api: ApiKey
    signature: str


def variants(api: ApiKey) -> tuple[ApiKey, ApiKey, ApiKey]:
    """The cells one call counts in: the API and consumer, the API over all consumers
    (``consumer`` = ``*``), and the consumer over all APIs (every API column ``*``). Pages per API
    or per consumer then read one row per bucket instead of summing every consumer's or API's."""
    return api, api._replace(consumer=ALL), ApiKey(ALL, ALL, ALL, ALL, ALL, ALL, api.consumer)


@dataclass
class Cell:
    count: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    errors_other: int = 0
    duration_sum_ns: int = 0
    histogram: Histogram = field(default_factory=Histogram)

    def merge(self, other: Cell) -> Cell:
        return Cell(
            self.count + other.count,
            self.errors_4xx + other.errors_4xx,
            self.errors_5xx + other.errors_5xx,
            self.errors_other + other.errors_other,
            self.duration_sum_ns + other.duration_sum_ns,
            self.histogram.merge(other.histogram),
        )


@dataclass
class ErrorCell:
    error_class: str
    count: int
    last_seen_ns: int
    example_trace_id: str

    def merge(self, other: ErrorCell) -> ErrorCell:
        newer = other if other.last_seen_ns >= self.last_seen_ns else self
        count = self.count + other.count
        return ErrorCell(newer.error_class, count, newer.last_seen_ns, newer.example_trace_id)


@dataclass
class Fold:
    """A batch's cells, built span by span."""

    consumer_attributes: Sequence[str] = DEFAULT_CONSUMER_ATTRIBUTES
    widths: Sequence[int] = WIDTHS
    cells: dict[CellKey, Cell] = field(default_factory=dict)
    errors: dict[ErrorKey, ErrorCell] = field(default_factory=dict)
    _buckets: dict[CellKey, dict[int, int]] = field(default_factory=dict)

    def add_all(self, spans: Iterable[SpanFacts]) -> Fold:
        for span in spans:
            self.add(span)
        return self

    def add(self, span: SpanFacts) -> bool:
        """Count one span; False when it is not an API call."""
        api = api_of(span.service, span.kind, span.attributes, self.consumer_attributes)
        if api is None:
            return False
        status = http_status(span.attributes)
        klass = error_class(status, span.span_error)
        weight = max(1, int(span.weight))
        index = bucket_of(span.duration_ns)
        sig = signature(status, span.status_message) if klass is not None else ""
        for width in self.widths:
            size = width * NS
            start = span.start_ns // size * size
            for variant in variants(api):
                self._count(CellKey(start, width, variant), span, klass, sig, weight, index)
        return True

    def _count(  # noqa: PLR0917 - one span's facts into one cell
        self, key: CellKey, span: SpanFacts, klass: str | None, sig: str, weight: int, index: int
    ) -> None:
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = Cell()
            self._buckets[key] = {}
        cell.count += weight
        cell.duration_sum_ns += weight * max(0, span.duration_ns)
        buckets = self._buckets[key]
        buckets[index] = buckets.get(index, 0) + weight
        if klass == "4xx":
            cell.errors_4xx += weight
        elif klass == "5xx":
            cell.errors_5xx += weight
        elif klass == "other":
            cell.errors_other += weight
        if klass is not None:
            ekey = ErrorKey(key.bucket_start_ns, key.width_s, key.api, sig)
            new = ErrorCell(klass, weight, span.start_ns, span.trace_id)
            old = self.errors.get(ekey)
            self.errors[ekey] = new if old is None else old.merge(new)

    def finished(self) -> dict[CellKey, Cell]:
        """The cells with their histograms filled in."""
        for key, buckets in self._buckets.items():
            self.cells[key].histogram = self.cells[key].histogram.merge(Histogram(buckets))
        self._buckets = {}
        return self.cells

"""The pure, seeded generator: business objects per time slot -> time-ordered spans and gauges.

Time is cut into fixed 15-minute slots aligned on the epoch. For each slot, stream and facility a
seeded generator decides how many business objects start (Poisson around the volume curve) and each
object's journey is drawn from its own seeded generator, so any slot's content depends only on the
seed, never on the window asked for. Journeys can last days; their spans wait in a heap and are
released in end-time order once no later slot can produce anything earlier. Queue gauges are
sampled from the messages' hops at fixed instants and merged into the same ordered stream.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from simulator.calendar import rate_factor
from simulator.estate import FACILITIES, QUEUES, STREAM_VOLUMES, Facility
from simulator.ids import poisson, stream_rng
from simulator.incidents import Effects
from simulator.model import Item, MetricSpec, SpanSpec
from simulator.queues import QueueModel
from simulator.workflows import STREAMS, Context, Journey, Stream
from vitals.kernel.units import NS

SLOT_S = 900
SLOT_NS = SLOT_S * NS
DEFAULT_SAMPLE_INTERVAL_S = 60


@dataclass
class Generator:
    """Everything the simulator emits from ``start_ns`` on, for one seed and one set of incidents."""

    seed: int
    start_ns: int
    effects: Effects = field(default_factory=Effects)
    rate_scale: float = 1.0
    facilities: tuple[Facility, ...] = FACILITIES
    streams: tuple[Stream, ...] = STREAMS
    queue_metrics: bool = True
    sample_interval_s: int = DEFAULT_SAMPLE_INTERVAL_S

    def __post_init__(self) -> None:
        if self.rate_scale <= 0:
            raise ValueError("rate_scale must be positive")
        if self.sample_interval_s <= 0:
            raise ValueError("sample_interval_s must be positive")
        self._streams_by_name = {s.name: s for s in self.streams}
        self._count = lru_cache(maxsize=65536)(self._count_uncached)
        self.context = Context(self.seed, self.start_ns, self.effects, self.count, SLOT_NS)

    # -- arrivals ----------------------------------------------------------------------------------
    def expected(self, stream: str, facility: Facility, slot: int) -> float:
        """Mean number of ``stream`` objects starting at ``facility`` during ``slot``."""
        hospital, asc = STREAM_VOLUMES[stream]
        daily = asc if facility.is_asc else hospital * facility.scale
        if not daily:
            return 0.0
        middle = (slot * SLOT_NS + SLOT_NS // 2) / NS
        return daily * rate_factor(stream, middle, facility.is_asc) * SLOT_S / 86400 * self.rate_scale

    def origins(self, stream: Stream, facility: Facility, slot: int) -> list[int]:
        start = slot * SLOT_NS
        if stream.origins is not None:
            return stream.origins(facility, start, start + SLOT_NS)
        rng = stream_rng(self.seed, stream.name, facility.name, slot, "n")
        count = poisson(rng, self.expected(stream.name, facility, slot))
        return sorted(start + int(rng.random() * SLOT_NS) for _ in range(count))

    def count(self, stream: str, facility: Facility, slot: int) -> int:
        return int(self._count(stream, facility, slot))

    def _count_uncached(self, stream: str, facility: Facility, slot: int) -> int:
        if stream not in self._streams_by_name:
            return 0
        return len(self.origins(self._streams_by_name[stream], facility, slot))

    def journeys(self, slot: int) -> Iterator[Journey]:
        """Every journey that starts in ``slot`` and may still emit inside the window."""
        slot_start = slot * SLOT_NS
        for stream in self.streams:
            if slot_start + stream.horizon_s * NS < self.start_ns:
                continue
            for facility in self.facilities:
                for index, origin in enumerate(self.origins(stream, facility, slot)):
                    rng = stream_rng(self.seed, stream.name, facility.name, slot, index)
                    journey = Journey(self.context, rng, facility, stream.name, slot, index, origin)
                    stream.build(journey)
                    yield journey

    # -- the ordered stream --------------------------------------------------------------------------
    def items(self, until_ns: int | None = None) -> Iterator[Item]:
        """Spans (by end time) and queue samples (by sample time) from the window start on.

        Stops before the first item at or after ``until_ns``; runs forever without it (live mode).
        """
        horizon = max(stream.horizon_s for stream in self.streams) * NS
        slot = int((self.start_ns - horizon) // SLOT_NS)
        interval = self.sample_interval_s * NS
        queues = QueueModel(self._consumers)
        next_sample = -(-self.start_ns // interval) * interval
        pending: list[tuple[int, int, Item]] = []
        sequence = 0
        while True:
            slot_end = (slot + 1) * SLOT_NS
            for journey in self.journeys(slot):
                for span in journey.spans:
                    sequence += 1
                    heapq.heappush(pending, (span.end_ns, sequence, span))
                if self.queue_metrics:
                    for hop in journey.hops:
                        queues.add(hop)
            if self.queue_metrics:
                while next_sample < slot_end:
                    if next_sample >= self.start_ns:
                        for metric in queues.sample(next_sample, interval):
                            sequence += 1
                            heapq.heappush(pending, (metric.time_ns, sequence, metric))
                    next_sample += interval
            while pending and pending[0][0] < slot_end:
                time_ns, _, item = heapq.heappop(pending)
                if until_ns is not None and time_ns >= until_ns:
                    return
                yield item
            if until_ns is not None and slot_end >= until_ns:
                return  # later slots only produce items at or after slot_end
            slot += 1

    def _consumers(self, queue: str, t_ns: int) -> int:
        if queue == "charges-outbound" and self.effects.charge_consumers_down(t_ns):
            return 0
        return QUEUES[queue].consumers


def spans_only(items: Iterable[Item]) -> Iterator[SpanSpec]:
    return (item for item in items if isinstance(item, SpanSpec))


def metrics_only(items: Iterable[Item]) -> Iterator[MetricSpec]:
    return (item for item in items if isinstance(item, MetricSpec))


__all__ = ["SLOT_NS", "SLOT_S", "Generator", "metrics_only", "spans_only"]

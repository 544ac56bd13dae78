"""Queue gauges of the simulated engine, computed exactly from the messages that went through.

The demo has no broker, so the simulated integration engine reports its own queues the way a real
engine would push them over OTLP: depth, age of the oldest unacknowledged message, consumers,
publish/deliver rates and unacked count, every sample interval. The values are not invented: they
follow from each message's publish, delivery and acknowledgement times (:class:`QueueHop`).
``queue.stuck`` is deliberately absent: the collector derives it from these gauges.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from simulator.estate import BROKER, ENGINE, QUEUES
from simulator.model import MetricSpec, QueueHop
from vitals.kernel.units import NS

UNITS = {
    "queue.depth": "{message}",
    "queue.oldest_age_seconds": "s",
    "queue.consumers": "{consumer}",
    "queue.publish_rate": "{message}/s",
    "queue.deliver_rate": "{message}/s",
    "queue.unacked": "{message}",
}
METRIC_NAMES = tuple(UNITS)

#: (queue, time) -> consumers connected; the healthy count unless an incident says otherwise.
ConsumersFn = Callable[[str, int], int]


@dataclass
class _QueueState:
    incoming: list[tuple[int, int, int]] = field(default_factory=list)  # (published, consumed, acked)
    waiting: list[tuple[int, int, int]] = field(default_factory=list)  # by consumed
    unacked: list[tuple[int, int]] = field(default_factory=list)  # (acked, published)
    oldest: list[tuple[int, int]] = field(default_factory=list)  # (published, acked), lazily pruned
    published: int = 0
    delivered: int = 0


class QueueModel:
    """Replays message hops in time order and samples each queue at given instants."""

    def __init__(self, consumers: ConsumersFn, queues: Iterable[str] = QUEUES) -> None:
        self._consumers = consumers
        self._states = {name: _QueueState() for name in queues}
        self._last_sample_ns: int | None = None

    def add(self, hop: QueueHop) -> None:
        state = self._states[hop.queue]
        heapq.heappush(state.incoming, (hop.published_ns, hop.consumed_ns, hop.acked_ns))

    def sample(self, t_ns: int, interval_ns: int) -> list[MetricSpec]:
        """Every queue's gauges at ``t_ns``; rates are over the ``interval_ns`` before it.

        Samples must be taken in increasing time, after every hop published up to ``t_ns`` was added.
        """
        if self._last_sample_ns is not None and t_ns < self._last_sample_ns:
            raise ValueError("queue samples must be taken in time order")
        self._last_sample_ns = t_ns
        out: list[MetricSpec] = []
        for name, state in self._states.items():
            self._advance(state, t_ns, t_ns - interval_ns)
            while state.oldest and state.oldest[0][1] <= t_ns:
                heapq.heappop(state.oldest)
            oldest_age = (t_ns - state.oldest[0][0]) / NS if state.oldest else 0.0
            seconds = interval_ns / NS
            values = {
                "queue.depth": float(len(state.waiting)),
                "queue.oldest_age_seconds": round(max(0.0, oldest_age), 3),
                "queue.consumers": float(self._consumers(name, t_ns)),
                "queue.publish_rate": round(state.published / seconds, 4),
                "queue.deliver_rate": round(state.delivered / seconds, 4),
                "queue.unacked": float(len(state.unacked)),
            }
            state.published = state.delivered = 0
            attributes = {"queue": name, "broker": BROKER, "hc.system": QUEUES[name].system}
            out.extend(
                MetricSpec(metric, UNITS[metric], ENGINE, t_ns, value, attributes)
                for metric, value in values.items()
            )
        return out

    @staticmethod
    def _advance(state: _QueueState, t_ns: int, since_ns: int) -> None:
        """Move messages along up to ``t_ns``; count what happened after ``since_ns`` for the rates."""
        while state.incoming and state.incoming[0][0] <= t_ns:
            published, consumed, acked = heapq.heappop(state.incoming)
            state.published += published > since_ns
            heapq.heappush(state.waiting, (consumed, published, acked))
            heapq.heappush(state.oldest, (published, acked))
        while state.waiting and state.waiting[0][0] <= t_ns:
            consumed, published, acked = heapq.heappop(state.waiting)
            state.delivered += consumed > since_ns
            heapq.heappush(state.unacked, (acked, published))
        while state.unacked and state.unacked[0][0] <= t_ns:
            heapq.heappop(state.unacked)


__all__ = ["METRIC_NAMES", "UNITS", "ConsumersFn", "QueueModel"]

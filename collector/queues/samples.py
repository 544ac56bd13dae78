"""What a broker says about one queue, and the sample Vitals derives from it (pure).

Brokers report different things: RabbitMQ's management API gives cumulative publish/deliver
counters, Redis gives ``entries-read``, JetStream gives sequence numbers, a SQL store only a count
and a timestamp. Sources translate their answer into a :class:`QueueReading`; :func:`derive` turns
two consecutive readings into rates and ages with one set of rules, so every broker's samples mean
the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from collector.queues import names

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class QueueReading:
    """One queue (or one consumer group / consumer of a stream) as a broker reported it.

    ``labels`` are the extra attributes that tell series of one queue apart (``vhost``, ``group``,
    ``consumer``). Counters are cumulative totals since the queue was created; rates are what the
    broker itself computed, used only when there is no previous reading to difference against.
    """

    queue: str
    labels: Labels = ()
    depth: float | None = None
    unacked: float | None = None
    consumers: float | None = None
    published_total: float | None = None
    delivered_total: float | None = None
    publish_rate: float | None = None
    deliver_rate: float | None = None
    #: Unix seconds of the oldest message not yet acknowledged (None: empty or unknowable).
    oldest_timestamp_s: float | None = None
    #: Set when the broker itself reports the age (e.g. idle time), instead of a timestamp.
    oldest_age_s: float | None = None
    #: Other standard metrics (name -> value), e.g. ``queue.redelivered``.
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, Labels]:
        return (self.queue, self.labels)


@dataclass(frozen=True)
class QueueSample:
    """Derived, standard-named values for one queue at one poll."""

    time_s: float
    queue: str
    labels: Labels
    values: Mapping[str, float]

    @property
    def key(self) -> tuple[str, Labels]:
        return (self.queue, self.labels)


def rate(previous: float | None, current: float | None, elapsed_s: float) -> float | None:
    """Per-second increase of a cumulative counter; None when unknown or the counter was reset."""
    if previous is None or current is None or elapsed_s <= 0 or current < previous:
        return None
    return (current - previous) / elapsed_s


def derive(
    reading: QueueReading,
    now_s: float,
    previous: QueueReading | None = None,
    previous_time_s: float | None = None,
) -> QueueSample:
    """The standard sample for ``reading`` taken at ``now_s``.

    Rates come from the difference of the broker's counters between two polls when both exist
    (exact over the poll interval), else from the broker's own rate. The oldest age never goes
    negative (clocks of publisher and poller can disagree by a little).
    """
    values: dict[str, float] = {}
    if reading.depth is not None:
        values[names.DEPTH] = float(reading.depth)
    if reading.unacked is not None:
        values[names.UNACKED] = float(reading.unacked)
    if reading.consumers is not None:
        values[names.CONSUMERS] = float(reading.consumers)

    elapsed = now_s - previous_time_s if previous_time_s is not None else 0.0
    for name, total, prev_total, broker_rate in (
        (
            names.PUBLISH_RATE,
            reading.published_total,
            previous.published_total if previous else None,
            reading.publish_rate,
        ),
        (
            names.DELIVER_RATE,
            reading.delivered_total,
            previous.delivered_total if previous else None,
            reading.deliver_rate,
        ),
    ):
        value = rate(prev_total, total, elapsed)
        if value is None:
            value = broker_rate
        if value is not None:
            values[name] = float(value)

    age = oldest_age(reading, now_s)
    if age is not None:
        values[names.OLDEST_AGE] = age
    elif reading.depth is not None and reading.depth == 0 and not reading.unacked:
        # An empty queue has no old message: age 0 keeps an "oldest < 30 min" SLA green.
        values[names.OLDEST_AGE] = 0.0
    for name, value in reading.extra.items():
        values[name] = float(value)
    return QueueSample(now_s, reading.queue, reading.labels, values)


def oldest_age(reading: QueueReading, now_s: float) -> float | None:
    if reading.oldest_age_s is not None:
        return max(0.0, float(reading.oldest_age_s))
    if reading.oldest_timestamp_s is not None:
        return max(0.0, now_s - reading.oldest_timestamp_s)
    return None


def renamed(reading: QueueReading, rename: Mapping[str, str]) -> QueueReading:
    """The reading under the queue name Vitals uses (``rename`` in the poller config)."""
    target = rename.get(reading.queue)
    if target is None:
        return reading
    return replace(reading, queue=target)


__all__ = ["Labels", "QueueReading", "QueueSample", "derive", "oldest_age", "rate", "renamed"]

"""One configured poller: fetch, derive samples, detect stuck and vanished queues, make rows.

The poller never raises: a broker that is down becomes ``queue.poller_up = 0`` (and a
``collector.poll_errors`` count through ``on_error``), so one dead broker cannot stop the
scheduler's other jobs. A queue that was there last poll and is gone now is logged and written as
``queue.present = 0`` once; a queue named exactly in the config that the broker lacks is written as
``queue.present = 0`` on every poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from collector.queues import names
from collector.queues.config import BrokerPollerConfig
from collector.queues.points import point_row, sample_rows
from collector.queues.samples import Labels, QueueReading, QueueSample, derive, renamed
from collector.queues.source import QueueSource, redact_url
from collector.queues.stuck import StuckPoint, is_stuck, prune

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    poller: str
    broker: str
    time_s: float
    ok: bool
    duration_s: float
    error: str | None = None
    samples: tuple[QueueSample, ...] = ()
    #: Queue names the broker does not have: configured by exact name, or gone since the last poll.
    missing: tuple[str, ...] = ()
    disappeared: tuple[str, ...] = ()
    rows: tuple[dict[str, Any], ...] = field(default=(), repr=False)


class Poller:
    """Turns one source's fetches into samples; keeps the little history stuck detection needs."""

    def __init__(
        self,
        config: BrokerPollerConfig,
        source: QueueSource,
        *,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[str], None] | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.clock = clock
        self.on_error = on_error
        #: Applied to the queue names the broker reports (after ``rename``), before they are
        #: logged, remembered or written: brokers name queues as integrations chose.
        self.redact = redact
        self._lock = threading.Lock()
        self._previous: dict[tuple[str, Labels], tuple[QueueReading, float]] = {}
        self._history: dict[tuple[str, Labels], list[StuckPoint]] = {}
        self._present: set[str] = set()
        self._missing: set[str] = set()
        self._failing = False

    @property
    def name(self) -> str:
        return self.config.name

    def _base(self) -> dict[str, str | None]:
        return {
            names.ATTR_BROKER: self.source.broker,
            names.ATTR_POLLER: self.config.name,
            names.ATTR_SYSTEM: self.config.system,
        }

    def poll(self) -> PollResult:
        """Fetch once; never raises (errors are part of the result). Serialised per poller."""
        with self._lock:
            return self._poll()

    def _poll(self) -> PollResult:
        started = time.monotonic()
        now = self.clock()
        base = self._base()
        up_attrs = {k: v for k, v in base.items() if k != names.ATTR_QUEUE}
        try:
            snapshot = self.source.fetch()
        except Exception as exc:
            # Credentials masked, and short: a store's error could quote a row it choked on.
            message = redact_url(f"{type(exc).__name__}: {exc}")[:300]
            if self.on_error is not None:
                self.on_error(self.config.name)
            level = logging.DEBUG if self._failing else logging.ERROR
            log.log(level, "poller %s (%s) failed: %s", self.config.name, self.source.broker, message)
            self._failing = True
            row = point_row(names.POLLER_UP, 0.0, now, up_attrs)
            return PollResult(
                self.config.name,
                self.source.broker,
                now,
                False,
                time.monotonic() - started,
                message,
                rows=(row,),
            )
        if self._failing:
            log.info("poller %s (%s) recovered", self.config.name, self.source.broker)
        self._failing = False

        samples = [self._sample(self._named(r), now) for r in snapshot.readings]
        present = {s.queue for s in samples}
        configured_missing = {self.config.rename.get(q, q) for q in snapshot.missing} - present
        vanished = sorted(self._present - present - configured_missing)
        for queue in vanished:
            log.warning(
                "queue %s disappeared from poller %s (%s)", queue, self.config.name, self.source.broker
            )
        for queue in sorted(configured_missing - self._missing):
            log.warning(
                "queue %s is configured for poller %s but %s does not have it%s",
                queue,
                self.config.name,
                self.source.broker,
                " any more" if queue in self._present else "",
            )
        for queue in (*vanished, *configured_missing):
            self._forget(queue)
        rows: list[dict[str, Any]] = [point_row(names.POLLER_UP, 1.0, now, up_attrs)]
        for sample in samples:
            rows.extend(sample_rows(sample, base))
        for queue in sorted(present):
            rows.append(point_row(names.PRESENT, 1.0, now, {**up_attrs, names.ATTR_QUEUE: queue}))
        for queue in sorted(set(vanished) | configured_missing):
            rows.append(point_row(names.PRESENT, 0.0, now, {**up_attrs, names.ATTR_QUEUE: queue}))
        self._present, self._missing = present, configured_missing
        return PollResult(
            self.config.name,
            self.source.broker,
            now,
            True,
            time.monotonic() - started,
            samples=tuple(samples),
            missing=tuple(sorted(configured_missing)),
            disappeared=tuple(vanished),
            rows=tuple(rows),
        )

    def _named(self, reading: QueueReading) -> QueueReading:
        reading = renamed(reading, self.config.rename)
        if self.redact is None:
            return reading
        name = self.redact(reading.queue)
        return reading if name == reading.queue else replace(reading, queue=name)

    def _sample(self, reading: QueueReading, now: float) -> QueueSample:
        key = reading.key
        previous = self._previous.get(key)
        sample = derive(reading, now, *(previous if previous else (None, None)))
        self._previous[key] = (reading, now)
        if names.DEPTH not in sample.values:
            return sample
        values = sample.values
        point = StuckPoint(
            now,
            values.get(names.DEPTH),
            values.get(names.CONSUMERS),
            values.get(names.DELIVER_RATE),
            values.get(names.OLDEST_AGE),
        )
        history = prune([*self._history.get(key, []), point], now, self.config.stuck_after)
        self._history[key] = history
        stuck = is_stuck(history, now, self.config.stuck_after)
        return QueueSample(sample.time_s, sample.queue, sample.labels, {**values, names.STUCK: float(stuck)})

    def _forget(self, queue: str) -> None:
        for store in (self._previous, self._history):
            for key in [k for k in store if k[0] == queue]:
                del store[key]

    def close(self) -> None:
        try:
            self.source.close()
        except Exception:  # closing a broken connection must not stop shutdown
            log.debug("closing poller %s failed", self.config.name, exc_info=True)


__all__ = ["PollResult", "Poller"]

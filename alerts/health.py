"""Receiver health: when a receiver counts as down, when to try it again, how long to wait.

A receiver that has failed for ``fallback_after`` is *down*: its new notifications go to its
fallback at once instead of each waiting out ``fallback_after`` again. Down is not forever: one
notification at a time is sent to the receiver as a *probe*, at growing intervals
(``retry_initial``, doubling up to ``retry_max``, with jitter), and the first one that arrives
brings the receiver back. Without probes nothing would ever be sent to it again, and a primary
channel would stay dark until a restart.

Retry delays grow with how long a row has been failing as well as with its attempts: before
re-sending after an uncertain failure the dispatcher first asks the receiver whether the earlier
attempt arrived, and a failed look-up is not an attempt, so counting attempts alone would retry
at the first interval forever while Slack is down.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field

from alerts.config import DeliverySettings
from alerts.outbox import backoff


def retry_delay(
    settings: DeliverySettings, attempts: int, failing_for: float, rng: random.Random | None = None
) -> float:
    """The wait before the next try: exponential in attempts or in time spent failing, whichever is more.

    A row that has been failing for ``failing_for`` seconds has had about ``log2(failing_for /
    retry_initial + 1)`` waits of doubling length, so the next one doubles again even when none
    of the tries counted as an attempt.
    """
    steps = max(attempts, 1)
    if settings.retry_initial > 0 and failing_for > 0:
        steps = max(steps, 1 + int(math.log2(1 + failing_for / settings.retry_initial)))
    return backoff(settings, min(steps, 64), rng)


@dataclass
class ReceiverHealth:
    """Which receivers are down (per dispatcher), and when each may be probed next.

    Lanes are delivered by several threads; the lock makes "is a probe due, and book the next"
    one step, so two lanes of one receiver never both take the same probe.
    """

    rng: random.Random = field(default_factory=random.Random)
    down_since: dict[str, float] = field(default_factory=dict)
    _probe_at: dict[str, float] = field(default_factory=dict)
    _probes: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self, receiver: str, since: float) -> None:
        """A retryable failure; ``since`` is when the failing row first failed."""
        with self._lock:
            self.down_since.setdefault(receiver, since)

    def succeeded(self, receiver: str) -> None:
        """Something arrived: the receiver is up again and its notifications go to it."""
        with self._lock:
            self.down_since.pop(receiver, None)
            self._probe_at.pop(receiver, None)
            self._probes.pop(receiver, None)

    def is_down(self, receiver: str, now: float, settings: DeliverySettings) -> bool:
        """Failing for at least ``fallback_after``: its notifications belong on the fallback."""
        down = self.down_since.get(receiver)
        return down is not None and now - down >= settings.fallback_after

    def probe_due(self, receiver: str, now: float, settings: DeliverySettings) -> bool:
        """Whether one notification should try the down receiver now (and books the next probe).

        The first probe is due as soon as the receiver counts as down, later ones after a
        doubling delay, so a long outage costs a request every ``retry_max`` at most.
        """
        with self._lock:
            down = self.down_since.get(receiver)
            if down is None:
                return True
            due = self._probe_at.get(receiver, down + settings.fallback_after)
            if now < due:
                return False
            probes = self._probes.get(receiver, 0) + 1
            self._probes[receiver] = probes
            self._probe_at[receiver] = now + backoff(settings, probes, self.rng)
            return True

    def next_probe(self, receiver: str) -> float | None:
        """When the receiver will be tried again (None: not down, or no probe made yet)."""
        return self._probe_at.get(receiver)

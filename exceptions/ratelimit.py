"""The replay rate limit: a token bucket per target, rebuilt from the attempts already made.

The bucket is not held in memory: the CLI, the API and the dashboard each replay from their own
process, so the one shared truth is the store's list of attempts. Replaying the bucket over the
recent attempts' times gives the tokens left now, whichever process asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    #: Tokens added per second.
    rate: float
    #: Most tokens held (the largest burst).
    burst: int

    def tokens(self, taken_at: Iterable[float], now: float) -> float:
        """Tokens left at ``now`` after one was taken at each of ``taken_at`` (a full bucket at
        the start of the history)."""
        level = float(self.burst)
        last: float | None = None
        for at in sorted(t for t in taken_at if t <= now):
            if last is not None:
                level = min(self.burst, level + (at - last) * self.rate)
            level = max(0.0, level - 1)
            last = at
        if last is not None:
            level = min(self.burst, level + (now - last) * self.rate)
        return level

    def allowed(self, taken_at: Iterable[float], now: float) -> int:
        """How many sends may go out now."""
        return int(self.tokens(taken_at, now) + 1e-9)

    @property
    def horizon(self) -> float:
        """How far back attempts matter: an older one has been refilled for by now."""
        return self.burst / self.rate if self.rate > 0 else float("inf")


__all__ = ["Bucket"]

"""The edge every broker sits behind: ``fetch()`` what the queues hold right now.

Each broker has a real implementation (``rabbitmq``, ``redis_streams``, ``jetstream``, ``sqlstore``)
and tests use :class:`InMemorySource`, in the spirit of OpenTelemetry's ``InMemorySpanExporter``.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from collector.queues.config import is_glob
from collector.queues.samples import QueueReading


@dataclass(frozen=True)
class Snapshot:
    """One successful fetch: the queues found, and configured names the broker does not have."""

    readings: tuple[QueueReading, ...]
    missing: tuple[str, ...] = ()


class QueueSource(Protocol):
    """A broker or message store that can say what its queues hold. ``fetch`` raises when it cannot."""

    broker: str

    def fetch(self) -> Snapshot: ...

    def close(self) -> None: ...


class InMemorySource:
    """A source whose answer the test sets: readings, or an error to raise."""

    def __init__(self, broker: str = "memory") -> None:
        self.broker = broker
        self._lock = threading.Lock()
        self._snapshot = Snapshot(())
        self._error: Exception | None = None
        self.fetches = 0
        self.closed = False

    def set(self, readings: Iterable[QueueReading], missing: Sequence[str] = ()) -> None:
        with self._lock:
            self._snapshot = Snapshot(tuple(readings), tuple(missing))
            self._error = None

    def fail(self, error: Exception) -> None:
        with self._lock:
            self._error = error

    def fetch(self) -> Snapshot:
        with self._lock:
            self.fetches += 1
            if self._error is not None:
                raise self._error
            return self._snapshot

    def close(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class NameFilter:
    """Which queue names a poller watches: exact names and globs, minus exclusions."""

    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    @property
    def exact(self) -> tuple[str, ...]:
        return tuple(p for p in self.include if not is_glob(p))

    def matches(self, name: str) -> bool:
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.exclude):
            return False
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.include)

    def missing(self, found: Iterable[str]) -> tuple[str, ...]:
        present = set(found)
        return tuple(name for name in self.exact if name not in present)


_USERINFO = re.compile(r"(//)[^/@\s]+@")


def redact_url(text: str) -> str:
    """Drop credentials from URLs inside error messages before they reach logs or the store."""
    return _USERINFO.sub(r"\1***@", text)


__all__ = ["InMemorySource", "NameFilter", "QueueSource", "Snapshot", "redact_url"]

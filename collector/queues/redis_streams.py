"""Redis Streams: each consumer group of a stream is a queue.

Per group: ``depth`` is the group's ``lag`` (entries not yet delivered to it, Redis 7+), ``unacked``
its pending entries list, ``consumers`` the consumers active within ``active_within``. The oldest
unprocessed entry is the older of the oldest pending entry and the first entry after the group's
``last-delivered-id``; stream ids start with the millisecond the server added the entry, so its age
needs no cooperation from the publisher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from collector.queues import names
from collector.queues.config import RedisPoller, is_glob
from collector.queues.samples import QueueReading
from collector.queues.source import NameFilter, Snapshot
from vitals.kernel.units import optional_float


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def id_time_s(entry_id: Any) -> float | None:
    """Unix seconds encoded in a stream id (``<ms>-<seq>``); None for ``0-0`` or garbage."""
    if entry_id is None:
        return None
    text = _text(entry_id)
    ms, _, _seq = text.partition("-")
    if not ms.isdigit() or text == "0-0":
        return None
    return int(ms) / 1000.0


def stream_reading(stream: str, info: Mapping[str, Any]) -> QueueReading:
    """The stream itself (from ``XINFO STREAM``): its length and how many entries were ever added."""
    return QueueReading(
        queue=stream,
        published_total=optional_float(info.get("entries-added")),
        extra={names.STREAM_LENGTH: float(info.get("length", 0))},
    )


def group_reading(
    stream: str,
    group: Mapping[str, Any],
    *,
    consumers: Sequence[Mapping[str, Any]],
    oldest_pending: Mapping[str, Any] | None,
    first_undelivered_id: Any,
    entries_added: Any,
    active_within_s: float,
) -> QueueReading:
    """One consumer group (pure): from ``XINFO GROUPS``/``XINFO CONSUMERS``/``XPENDING``/``XRANGE``."""
    pending = float(group.get("pending", 0))
    lag = optional_float(group.get("lag"))
    active = sum(1 for c in consumers if float(c.get("idle", 0)) / 1000.0 < active_within_s)
    stamps = [
        t
        for t in (
            id_time_s(oldest_pending.get("message_id")) if oldest_pending else None,
            id_time_s(first_undelivered_id),
        )
        if t is not None
    ]
    extra = {names.CONSUMERS_REGISTERED: float(len(consumers))}
    if oldest_pending is not None:
        extra[names.PENDING_IDLE] = float(oldest_pending.get("time_since_delivered", 0)) / 1000.0
    elif pending == 0:
        extra[names.PENDING_IDLE] = 0.0
    return QueueReading(
        queue=stream,
        labels=(("group", _text(group.get("name", ""))),),
        depth=lag,
        unacked=pending,
        consumers=float(active),
        published_total=optional_float(entries_added),
        delivered_total=_entries_read(group),
        oldest_timestamp_s=min(stamps) if stamps else None,
        extra=extra,
    )


def _entries_read(group: Mapping[str, Any]) -> float | None:
    value = optional_float(group.get("entries-read"))
    if value is None and _text(group.get("last-delivered-id", "")) == "0-0":
        return 0.0  # a group created at the start that has read nothing yet
    return value


class RedisStreamsSource:
    broker = "redis"

    def __init__(self, config: RedisPoller) -> None:
        import redis

        self.config = config
        self.filter = NameFilter(tuple(config.streams), tuple(config.exclude))
        self.client = redis.Redis.from_url(
            config.url.reveal(),
            socket_timeout=config.timeout,
            socket_connect_timeout=config.timeout,
            retry_on_timeout=False,
        )

    def _stream_names(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.filter.include:
            if is_glob(pattern):
                for key in self.client.scan_iter(match=pattern, _type="STREAM", count=500):
                    found.add(_text(key))
            elif _text(self.client.type(pattern)) == "stream":
                found.add(pattern)
        return sorted(name for name in found if self.filter.matches(name))

    def fetch(self) -> Snapshot:
        import redis

        readings: list[QueueReading] = []
        for stream in self._stream_names():
            try:
                info = self.client.xinfo_stream(stream)
                groups = self.client.xinfo_groups(stream)
            except redis.ResponseError:
                continue  # deleted between SCAN and XINFO: reported as disappeared next poll
            readings.append(stream_reading(stream, info))
            for group in groups:
                name = _text(group["name"])
                consumers = self.client.xinfo_consumers(stream, name)
                oldest = None
                if int(group.get("pending", 0)) > 0:
                    rows = self.client.xpending_range(stream, name, "-", "+", 1)
                    oldest = rows[0] if rows else None
                last = _text(group.get("last-delivered-id", "0-0"))
                nxt = self.client.xrange(stream, min=f"({last}", count=1)
                readings.append(
                    group_reading(
                        stream,
                        group,
                        consumers=consumers,
                        oldest_pending=oldest,
                        first_undelivered_id=nxt[0][0] if nxt else None,
                        entries_added=info.get("entries-added"),
                        active_within_s=self.config.active_within,
                    )
                )
        return Snapshot(tuple(readings), self.filter.missing(r.queue for r in readings))

    def close(self) -> None:
        self.client.close()


__all__ = ["RedisStreamsSource", "group_reading", "id_time_s", "stream_reading"]

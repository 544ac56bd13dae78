"""NATS JetStream: each durable consumer of a stream is a queue.

Per consumer: ``depth`` is ``num_pending`` (not yet delivered), ``unacked`` is ``num_ack_pending``,
``queue.redelivered`` is ``num_redelivered``; throughput is the growth of the consumer's delivered
sequence. The oldest unprocessed message is the first one after the consumer's ack floor (matching
its filter subject), whose stream timestamp the server set when it stored the message.
A work-queue stream also gets a stream-level reading (its messages wait for any consumer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from collector.queues import names
from collector.queues.config import NatsPoller
from collector.queues.samples import QueueReading
from collector.queues.source import NameFilter, Snapshot


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return None


def consumer_reading(stream: str, info: Mapping[str, Any], oldest_time: Any) -> QueueReading:
    """One consumer (pure), from the fields of ``$JS.API.CONSUMER.INFO`` as a mapping."""
    delivered = info.get("delivered") or {}
    return QueueReading(
        queue=stream,
        labels=(("consumer", str(info.get("name", ""))),),
        depth=float(info.get("num_pending") or 0),
        unacked=float(info.get("num_ack_pending") or 0),
        delivered_total=float(delivered.get("consumer_seq") or 0),
        oldest_timestamp_s=_timestamp(oldest_time),
        extra={names.REDELIVERED: float(info.get("num_redelivered") or 0)},
    )


def stream_reading(stream: str, state: Mapping[str, Any], workqueue: bool, first_time: Any) -> QueueReading:
    """The stream itself (pure): its length; depth and age only for a work-queue stream."""
    messages = float(state.get("messages") or 0)
    return QueueReading(
        queue=stream,
        depth=messages if workqueue else None,
        published_total=float(state.get("last_seq") or 0),
        consumers=float(state.get("consumer_count") or 0) if workqueue else None,
        oldest_timestamp_s=_timestamp(first_time) if workqueue and messages else None,
        extra={names.STREAM_LENGTH: messages},
    )


class JetStreamSource:
    broker = "nats"

    def __init__(self, config: NatsPoller) -> None:
        self.config = config
        self.streams = NameFilter(tuple(config.streams), tuple(config.exclude))
        self.consumers = NameFilter(tuple(config.consumers))

    def fetch(self) -> Snapshot:
        # A bound on the whole exchange: a half-open server must not hold a scheduler thread.
        return asyncio.run(asyncio.wait_for(self._fetch(), timeout=self.config.timeout * 6))

    async def _fetch(self) -> Snapshot:
        import nats
        from nats.js.errors import NotFoundError

        async def quiet(_error: Exception) -> None:
            return None

        nc = await nats.connect(
            [server.reveal() for server in self.config.servers],
            connect_timeout=self.config.timeout,
            allow_reconnect=False,
            # 0 would mean "retry the first connect forever" in nats-py; 1 fails after one retry.
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            error_cb=quiet,
        )
        try:
            js = nc.jetstream(timeout=self.config.timeout)
            readings: list[QueueReading] = []
            for info in await js.streams_info():
                stream = info.config.name or ""
                if not self.streams.matches(stream):
                    continue
                state = info.state
                workqueue = str(getattr(info.config.retention, "value", info.config.retention)) == "workqueue"
                first_time = None
                if workqueue and state.messages:
                    first_time = await self._message_time(js, stream, state.first_seq, None)
                readings.append(stream_reading(stream, state.as_dict(), workqueue, first_time))
                for consumer in await js.consumers_info(stream):
                    if not consumer.name or not self.consumers.matches(consumer.name):
                        continue
                    oldest = None
                    if (consumer.num_pending or 0) + (consumer.num_ack_pending or 0) > 0:
                        floor = consumer.ack_floor.stream_seq if consumer.ack_floor else 0
                        subject = consumer.config.filter_subject
                        try:
                            oldest = await self._message_time(js, stream, (floor or 0) + 1, subject)
                        except NotFoundError:
                            oldest = None
                    readings.append(consumer_reading(stream, consumer.as_dict(), oldest))
            return Snapshot(tuple(readings), self.streams.missing(r.queue for r in readings))
        finally:
            await nc.close()

    @staticmethod
    async def _message_time(js: Any, stream: str, seq: int, subject: str | None) -> Any:
        message = await js.get_msg(stream, seq=seq, subject=subject or ">", next=True)
        return message.time

    def close(self) -> None:
        return None


__all__ = ["JetStreamSource", "consumer_reading", "stream_reading"]

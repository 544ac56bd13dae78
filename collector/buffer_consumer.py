"""The buffer's writers: fetch batches from the stream, commit them to the store, then acknowledge.

Every ``vitals serve`` with a ``buffer:`` section runs this component (``buffer.consumers`` fetch
loops, 0 for a process that only publishes). All of them share one durable pull consumer, so
JetStream hands each message to one of them; a message is acknowledged only after its rows are
committed. A writer that dies between the commit and the acknowledgement leaves the message to
be delivered again (after ``ack_wait``), and the store's unique constraints skip what it already
holds: what the collector acknowledged is stored exactly once. A store that refuses or is away
leaves its messages in the stream (retried after ``retry_delay``): lag, not loss.

The lag (messages and bytes waiting) is in ``/readyz`` (``buffer``) and ``/metrics``
(``vitals_buffer_pending_messages``, ``vitals_buffer_pending_bytes``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector as MetricsCollector

from collector.buffer import BufferSettings, FrameError, decode, lag_view
from collector.jetstream_buffer import LoopThread, open_stream
from collector.rows import WriteBatch
from collector.sql_sink import SqlSink
from collector.writer import GroupCommitWriter, Writer, describe_error
from collector.writer_process import ProcessWriter
from vitals.kernel.runtime import ServiceContext

log = logging.getLogger(__name__)

#: How long a fetch waits for messages before it looks again (and notices a stop).
FETCH_WAIT_S = 1.0
#: Empty fetches in a row after which a writer loop binds to the consumer afresh.
REBIND_AFTER_EMPTY = 5
#: Longest a lag reading (for /readyz or a scrape) waits for JetStream.
LAG_TIMEOUT_S = 2.0
#: A stop waits this long for the batches being committed, then leaves them to be redelivered.
STOP_TIMEOUT_S = 15.0


def _store_writer(ctx: ServiceContext) -> Writer:
    engine = ctx.engine
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return GroupCommitWriter(SqlSink(engine), max_in_flight_bytes=1 << 62)
    return ProcessWriter(ctx.settings.db_url, max_in_flight_bytes=1 << 62)


class _LagMetrics(MetricsCollector):
    """The buffer's lag as gauges, read from JetStream at each scrape."""

    def __init__(self, consumer: BufferConsumer) -> None:
        self._consumer = consumer

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            lag = self._consumer.lag()
        except Exception as exc:
            log.warning("ingest buffer: no lag reading for /metrics: %s", exc)
            return
        stream = self._consumer.settings.stream
        for name, key, text in (
            (
                "vitals_buffer_pending_messages",
                "pending_messages",
                "Messages in the ingest buffer not yet stored.",
            ),
            ("vitals_buffer_pending_bytes", "pending_bytes", "Bytes in the ingest buffer not yet stored."),
        ):
            gauge = GaugeMetricFamily(name, text, labels=["stream"])
            gauge.add_metric([stream], float(lag[key]))
            yield gauge


class BufferConsumer:
    """The ``vitals serve`` component that writes the buffer's stream into the store."""

    __name__ = "collector.buffer"

    def __init__(self, settings: BufferSettings) -> None:
        self.settings = settings
        self._loop = LoopThread("vitals-buffer-consume")
        self._stopping = threading.Event()
        self._nc: Any = None
        self._js: Any = None
        self._writer: Writer | None = None
        self._loops: concurrent.futures.Future[None] | None = None
        self.stored_messages: Counter | None = None
        self.retried_messages: Counter | None = None

    def install(self, ctx: ServiceContext) -> None:
        settings = self.settings
        self.stored_messages = Counter(
            "vitals_buffer_stored_messages",
            "Buffer messages committed to the store and acknowledged by this process.",
            registry=ctx.registry,
        )
        self.retried_messages = Counter(
            "vitals_buffer_retried_messages",
            "Buffer messages the store did not take (left in the stream and retried later).",
            registry=ctx.registry,
        )
        self._loop.start()
        self._nc, self._js = self._loop.run(
            open_stream(settings, "vitals-buffer-writer", consumer=True), 60.0
        )
        if settings.consumers:
            writer = self._writer = _store_writer(ctx)
            writer.start()
            self._loops = self._loop.submit(self._run(writer))
        ctx.registry.register(_LagMetrics(self))
        ctx.readiness.append(self.readiness)
        ctx.on_stop.append(self.stop)
        ctx.status["buffer"] = (
            f"ingest buffer: stream {settings.stream} ({settings.replicas} replica(s)); "
            + (
                f"{settings.consumers} writer loop(s) on consumer {settings.consumer}"
                if settings.consumers
                else "publish only"
            )
        )

    # -- writing ----------------------------------------------------------------------------

    async def _run(self, writer: Writer) -> None:
        await asyncio.gather(*(self._fetch_loop(writer) for _ in range(self.settings.consumers)))

    async def _fetch_loop(self, writer: Writer) -> None:
        import nats.errors

        settings = self.settings
        subscription: Any = None
        empty = 0
        while not self._stopping.is_set():
            try:
                if subscription is None:
                    subscription = await self._js.pull_subscribe_bind(
                        durable=settings.consumer, stream=settings.stream
                    )
                messages = await subscription.fetch(settings.fetch_batch, timeout=FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                # Nothing to fetch, or a pull request that went to a consumer leader which has
                # since moved (a node lost) and is never answered: bind afresh now and then.
                empty += 1
                if empty >= REBIND_AFTER_EMPTY:
                    await _unbind(subscription)
                    subscription = None
                    empty = 0
                continue
            except Exception as exc:  # a node lost, a leader election: bind afresh shortly
                log.warning("ingest buffer: fetch failed (%s); retrying", describe_error(exc))
                await _unbind(subscription)
                subscription = None
                await asyncio.sleep(0.5)
                continue
            empty = 0
            await self._store(writer, messages)

    async def _store(self, writer: Writer, messages: list[Any]) -> None:
        batches: list[tuple[Any, WriteBatch]] = []
        for message in messages:
            try:
                batches.append((message, decode(message.data)))
            except FrameError as exc:
                # Written by a newer (or broken) publisher: keep it for a writer that reads it.
                log.error("ingest buffer: message %s left in the stream: %s", _seq(message), exc)
                await message.nak(delay=max(self.settings.retry_delay, 60.0))
        outcomes = await asyncio.gather(
            *(writer.write(batch, 0) for _, batch in batches), return_exceptions=True
        )
        failed = 0
        for (message, _), outcome in zip(batches, outcomes, strict=True):
            try:
                if outcome is None:
                    await message.ack()
                else:
                    failed += 1
                    await message.nak(delay=self.settings.retry_delay)
            except Exception as exc:  # the ack is lost with the connection: redelivered, deduplicated
                log.warning("ingest buffer: acknowledgement not sent (%s)", describe_error(exc))
        if failed:
            first = next(o for o in outcomes if o is not None)
            assert isinstance(first, BaseException)
            log.warning(
                "ingest buffer: %d message(s) not stored, retried in %gs: %s",
                failed,
                self.settings.retry_delay,
                describe_error(first),
            )
            assert self.retried_messages is not None
            self.retried_messages.inc(failed)
        if len(batches) > failed:
            assert self.stored_messages is not None
            self.stored_messages.inc(len(batches) - failed)

    # -- lag --------------------------------------------------------------------------------

    async def _lag(self) -> dict[str, Any]:
        info = await self._js.stream_info(self.settings.stream)
        try:
            consumer = (await self._js.consumer_info(self.settings.stream, self.settings.consumer)).as_dict()
        except Exception:
            consumer = None
        view = lag_view(info.state.as_dict(), consumer)
        view["stream"] = self.settings.stream
        cluster = getattr(info, "cluster", None)
        if cluster is not None:
            view["leader"] = getattr(cluster, "leader", None)
        return view

    def lag(self) -> dict[str, Any]:
        """Messages and bytes waiting in the stream (blocking; from a worker thread)."""
        return self._loop.run(self._lag(), LAG_TIMEOUT_S)

    def readiness(self) -> dict[str, Any]:
        return {"buffer": self.lag()}

    # -- stopping ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the batches being committed (and acknowledge them), then let go of the stream."""
        self._stopping.set()
        if self._loops is not None:
            try:
                self._loops.result(STOP_TIMEOUT_S)
            except Exception as exc:
                log.warning("ingest buffer: writers did not stop cleanly (%s); JetStream redelivers", exc)
        if self._nc is not None and self._loop.alive:
            try:
                self._loop.run(self._nc.close(), 5)
            except Exception as exc:
                log.warning("ingest buffer: closing the NATS connection: %s", exc)
        self._loop.stop()
        if self._writer is not None:
            self._writer.close(STOP_TIMEOUT_S)


def _seq(message: Any) -> str:
    try:
        return str(message.metadata.sequence.stream)
    except Exception:
        return "?"


def components(settings: BufferSettings | None) -> tuple[BufferConsumer, ...]:
    """What ``vitals serve`` installs for the buffer: its writers, when there is a buffer."""
    return () if settings is None else (BufferConsumer(settings),)


async def _unbind(subscription: Any) -> None:
    """Drop a pull subscription (its inbox may point at a consumer leader that is gone); the
    fetch loop binds a new one. Never raises: the connection itself may be what failed."""
    if subscription is not None:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()


__all__ = ["BufferConsumer", "components"]

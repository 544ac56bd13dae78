"""The buffer's NATS edge: the stream, the consumer, and ``BufferPublisher``, the collector's writer
when collector.yaml has a ``buffer:`` section.

``BufferPublisher`` keeps the ``Writer`` contract of ``collector.writer`` (admission by bytes in
flight, an answer only once the data is durable), with "durable" meaning JetStream's publish
acknowledgement (PubAck) from a replicated stream instead of a database commit. Anything short
of a PubAck for every message of a batch fails the request with a retryable error (503 /
``UNAVAILABLE``): the exporter sends it again, and whatever of it was already stored is
deduplicated by the store's unique constraints, so nothing acknowledged is lost or doubled.

The NATS client runs on its own event loop in a thread (``LoopThread``): the receivers' loop and
the components' scheduler threads hand work over to it, and a slow or lost JetStream node never
stalls the receivers' loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from collector.buffer import BufferSettings, TooLarge, encode
from collector.rows import WriteBatch
from collector.service import StartupError
from collector.writer import Done, StoreError, WriterBase, WriterClosed

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long the start waits for the cluster (connect, create the stream) before giving up.
START_TIMEOUT_S = 30.0
#: Pause between publishes of a message while the stream has no leader.
RETRY_PAUSE_S = 0.2
#: At most one log line per this many seconds about batches JetStream did not confirm.
FAILURE_LOG_INTERVAL_S = 10.0


class BufferUnavailable(StartupError):
    """JetStream could not be reached, or refused the stream, at start."""


class LoopThread:
    """An asyncio loop on a daemon thread, for a NATS client that outlives any caller's loop."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(f"{self._name} has not been started")
        return self._loop

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self._name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, work: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    def run(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``work`` on the loop and wait for it (from any other thread)."""
        future = self.submit(work)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g}s") from None

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        if not thread.is_alive() and not loop.is_closed():
            loop.close()


async def connect(settings: BufferSettings, name: str) -> Any:
    """A client that reconnects for ever, to any node of the cluster."""
    import nats

    async def quiet(error: Exception) -> None:
        # Connection trouble is reported by the requests that fail; the log gets one line each.
        log.debug("NATS: %s", error)

    async def disconnected() -> None:
        log.warning("ingest buffer: disconnected from NATS; reconnecting")

    async def reconnected() -> None:
        log.info("ingest buffer: reconnected to NATS")

    return await nats.connect(
        [server.reveal() for server in settings.servers],
        name=name,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        error_cb=quiet,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
    )


async def ensure_stream(js: Any, settings: BufferSettings) -> None:
    """Create the stream, or bring an existing one to the configured limits.

    A work queue (a message is deleted once acknowledged, so the stream holds exactly the lag),
    on disk, replicated; when full it refuses new messages rather than dropping old ones.
    """
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import BadRequestError

    config = StreamConfig(
        name=settings.stream,
        subjects=[settings.subject],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        num_replicas=settings.replicas,
        max_bytes=settings.max_bytes,
        max_msg_size=settings.max_message,
        discard=DiscardPolicy.NEW,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:  # it exists with other limits
        await js.update_stream(config)


async def ensure_consumer(js: Any, settings: BufferSettings) -> None:
    """The durable pull consumer every writer shares (created once, then found)."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    from nats.js.errors import BadRequestError

    config = ConsumerConfig(
        durable_name=settings.consumer,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.ack_wait,
        max_deliver=-1,
        max_ack_pending=max(1000, settings.fetch_batch * 64),
        num_replicas=settings.replicas,
    )
    try:
        await js.add_consumer(settings.stream, config)
    except BadRequestError:  # it exists with other settings: keep it, the messages are its
        log.info("ingest buffer: using the existing consumer %s", settings.consumer)


async def _retrying(what: str, work: Any, deadline: float) -> None:
    """Cluster start-up and leader elections answer 503 for a few seconds: retry until ``deadline``."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            await work()
            return
        except Exception as exc:
            if loop.time() > deadline:
                raise BufferUnavailable(f"ingest buffer: cannot {what}: {type(exc).__name__}: {exc}") from exc
            await asyncio.sleep(0.5)


async def open_stream(settings: BufferSettings, name: str, *, consumer: bool) -> tuple[Any, Any]:
    """A connected client and its JetStream context, with the stream (and consumer) in place."""
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
    try:
        nc = await connect(settings, name)
    except Exception as exc:
        raise BufferUnavailable(
            f"ingest buffer: cannot connect to NATS ({len(settings.servers)} server(s) in "
            f"collector.yaml buffer.servers): {type(exc).__name__}: {exc}"
        ) from exc
    try:
        js = nc.jetstream(timeout=5)
        await _retrying(f"create the stream {settings.stream}", lambda: ensure_stream(js, settings), deadline)
        if consumer:
            await _retrying(
                f"create the consumer {settings.consumer}", lambda: ensure_consumer(js, settings), deadline
            )
    except BaseException:
        await nc.close()
        raise
    return nc, js


class BufferPublisher(WriterBase):
    """The collector's writer with a buffer: a request is answered once JetStream holds it."""

    def __init__(self, settings: BufferSettings, *, max_in_flight_bytes: int) -> None:
        super().__init__(max_in_flight_bytes)
        self.settings = settings
        self._loop = LoopThread("vitals-buffer-publish")
        self._nc: Any = None
        self._js: Any = None
        self._pending = 0
        self._pending_rows = 0
        self._max_message = settings.max_message
        #: Batches answered with a retryable error since the start (their senders retry them).
        self.failed_batches = 0
        self._logged_at = float("-inf")

    @property
    def queue_depth(self) -> int:
        """Batches published and waiting for their PubAck."""
        return self._pending

    @property
    def queued_rows(self) -> int:
        return self._pending_rows

    @property
    def alive(self) -> bool:
        return self._loop.alive and not self._closing

    def start(self) -> None:
        self._loop.start()
        self._nc, self._js = self._loop.run(
            open_stream(self.settings, "vitals-collector", consumer=False), START_TIMEOUT_S + 10
        )
        # The server's own limit wins over collector.yaml's.
        self._max_message = min(self.settings.max_message, int(self._nc.max_payload or self._max_message))
        log.info(
            "ingest buffer: requests are acknowledged once stream %s (%d replica(s)) holds them",
            self.settings.stream,
            self.settings.replicas,
        )

    def submit(self, batch: WriteBatch, weight: int, done: Done) -> None:
        """Publish ``batch`` (its ``weight`` already reserved); ``done`` runs on the buffer's loop
        once JetStream acknowledged every message of it, or with the error that kept one out."""
        try:
            frames = encode(batch, self._max_message, self.settings.compress)
        except (TooLarge, TypeError) as exc:
            self.release(weight)
            raise StoreError(f"the ingest buffer cannot carry this batch: {exc}", False) from None
        with self._cond:
            if self._closing:
                self._in_flight -= weight
                raise WriterClosed("the collector is shutting down")
            self._pending += 1
            self._pending_rows += batch.rows
        rows = batch.rows
        future = self._loop.submit(self._publish(frames))

        def finished(outcome: concurrent.futures.Future[None]) -> None:
            error: BaseException | None = None
            if outcome.cancelled():
                error = StoreError("the ingest buffer stopped before JetStream confirmed the batch", True)
            elif (failure := outcome.exception()) is not None:
                error = StoreError(
                    f"JetStream did not confirm the batch: {type(failure).__name__}: {failure}"[:300], True
                )
                self._failed(error)
            with self._cond:
                self._in_flight -= weight
                self._pending -= 1
                self._pending_rows -= rows
                self._cond.notify_all()
            try:
                done(error)
            except Exception:
                log.exception("buffer completion callback failed")

        future.add_done_callback(finished)

    async def _publish(self, frames: list[bytes]) -> None:
        deadline = asyncio.get_running_loop().time() + self.settings.publish_timeout
        await asyncio.gather(*(self._publish_one(frame, deadline) for frame in frames))

    async def _publish_one(self, frame: bytes, deadline: float) -> None:
        """Publish until JetStream acknowledges or ``deadline`` passes.

        A stream whose leader was just lost answers "no responders" or 503 until another node
        is elected (a few seconds): publishing again within ``publish_timeout`` rides that out
        instead of failing the request. The message id lets the stream drop a second copy of a
        message whose first PubAck was lost (within its two-minute duplicate window).
        """
        import nats.errors
        import nats.js.errors

        transient = (
            nats.errors.NoRespondersError,
            nats.errors.ConnectionReconnectingError,
            nats.js.errors.NoStreamResponseError,
            nats.js.errors.ServiceUnavailableError,
        )
        loop = asyncio.get_running_loop()
        headers = {"Nats-Msg-Id": uuid.uuid4().hex}
        settings = self.settings
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no PubAck within {settings.publish_timeout:g}s")
            try:
                await self._js.publish(
                    settings.subject, frame, timeout=left, stream=settings.stream, headers=headers
                )
                return
            except transient:
                if deadline - loop.time() <= RETRY_PAUSE_S:
                    raise
                await asyncio.sleep(RETRY_PAUSE_S)

    def _failed(self, error: StoreError) -> None:
        """Count a batch answered 503, and say so in the log now and then (not once per request)."""
        with self._cond:
            self.failed_batches += 1
            now = time.monotonic()
            if now - self._logged_at < FAILURE_LOG_INTERVAL_S:
                return
            self._logged_at = now
            failed = self.failed_batches
        log.warning("ingest buffer: %s (%d batch(es) answered 503 so far)", error, failed)

    def close(self, timeout: float | None = None) -> bool:
        """Take no more batches, wait for the PubAcks of those published, close the client."""
        with self._cond:
            self._closing = True
            self._cond.wait_for(lambda: self._pending == 0, timeout)
            drained = self._pending == 0
        if self._nc is not None and self._loop.alive:
            try:
                self._loop.run(self._nc.close(), 5)
            except Exception as exc:
                log.warning("ingest buffer: closing the NATS connection: %s", exc)
        self._loop.stop()
        return drained


__all__ = [
    "BufferPublisher",
    "BufferUnavailable",
    "LoopThread",
    "connect",
    "ensure_consumer",
    "ensure_stream",
    "open_stream",
]

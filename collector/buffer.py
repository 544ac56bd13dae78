"""The durable ingest buffer's pure core: its ``buffer:`` section, the message framing, the lag view.

With a buffer, a request is acknowledged once its rows are in a replicated JetStream stream, not
once they are committed to the store: consumers (``collector.buffer_consumer``) write the stream
into the store at their own pace, so a burst or a database pause becomes lag, not refused
telemetry. The messages carry the rows the writer would have stored, after redaction: raw
payloads never reach the stream.

A message is a version byte, a flags byte, the CRC-32 of the row layout (the three tables'
column names, so a writer never stores rows of another Vitals' layout into the wrong columns) and
the ``marshal`` of ``(spans, span_keys, metric_points)`` (the same tuples
``collector.writer_process`` sends its child), optionally zlib-compressed. A batch larger than
the largest message is split; a span travels with its ``span_keys`` rows, so a redelivered
message is deduplicated whole by the store (a span already stored brings no second copy of its
keys).
"""

from __future__ import annotations

import marshal
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from collector.queues.config import BrokerUrl
from collector.rows import (
    METRIC_COLUMNS,
    SPAN_COLUMNS,
    SPAN_INDEX,
    SPAN_KEY_COLUMNS,
    SPAN_KEY_INDEX,
    Row,
    WriteBatch,
)
from vitals.kernel.secrets import Secret
from vitals.kernel.units import Duration, Size

VERSION = 1
FLAG_ZLIB = 1
#: The row layout this Vitals writes: messages of another layout are refused, never mis-stored.
LAYOUT = zlib.crc32("|".join(",".join(c) for c in (SPAN_COLUMNS, SPAN_KEY_COLUMNS, METRIC_COLUMNS)).encode())
_HEADER = struct.Struct("!BBI")
#: marshal's format 4 (Python 3.4+): later Pythons still read it, so a stream survives an upgrade.
_MARSHAL_VERSION = 4
#: Room left in a message for NATS headers and the subject.
_ENVELOPE = 1024
_SUBJECT = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
_NAME = r"^[A-Za-z0-9_-]+$"


class FrameError(ValueError):
    """A message that is not a buffer frame this version reads."""


class TooLarge(ValueError):
    """One row is larger than the largest message: it cannot be buffered."""


class BufferSettings(BaseModel):
    """The durable ingest buffer on NATS JetStream (absent: requests are answered after the commit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: NATS URLs of the JetStream cluster, every node (credentials in the URL): the clients move
    #: to another node when theirs goes away.
    servers: list[BrokerUrl] = Field(default_factory=lambda: [Secret.inline("nats://127.0.0.1:4222")])
    #: The stream that holds accepted batches; created (or updated) at start.
    stream: str = Field(default="VITALS_INGEST", pattern=_NAME, max_length=64)
    #: The subject batches are published on (the stream's only subject).
    subject: str = Field(default="vitals.ingest", pattern=_SUBJECT, max_length=128)
    #: Copies of each message (1, 3 or 5 JetStream nodes); 3 survives the loss of any one node.
    replicas: int = Field(default=3, ge=1, le=5)
    #: Bytes the stream may hold; when it is full new requests get 503 / ``UNAVAILABLE`` (none is
    #: dropped), so size it for the longest database outage to ride out.
    max_bytes: Size = 8 * 1024**3
    #: Largest message; a larger batch is split. At most the server's ``max_payload`` (1MiB
    #: unless raised).
    max_message: Size = 1024 * 1024
    #: zlib-compress messages: fewer bytes stored (three times, with 3 replicas) for some CPU.
    compress: bool = False
    #: Longest a publish waits for JetStream's acknowledgement before the request gets a
    #: retryable 503 / ``UNAVAILABLE``.
    publish_timeout: Duration = 10.0
    #: The durable pull consumer that every ``vitals serve`` shares: each message is written by
    #: one of them.
    consumer: str = Field(default="vitals-writer", pattern=_NAME, max_length=64)
    #: Fetch loops this process runs on the shared consumer (0: this process only publishes).
    consumers: int = Field(default=2, ge=0, le=32)
    #: Messages one fetch takes; they are committed in one transaction, then acknowledged.
    fetch_batch: int = Field(default=64, ge=1, le=10_000)
    #: How long JetStream waits for a fetched message's acknowledgement before it hands the
    #: message to another consumer (a writer that died mid-commit).
    ack_wait: Duration = 60.0
    #: How long a message the store could not take (a database pause) waits before it is retried.
    retry_delay: Duration = 2.0

    @field_validator("servers")
    @classmethod
    def _some_server(cls, value: list[Secret]) -> list[Secret]:
        if not value:
            raise ValueError("list at least one server, e.g. nats://127.0.0.1:4222")
        return value

    @field_validator("max_message")
    @classmethod
    def _room(cls, value: int) -> int:
        if value < 16 * 1024:
            raise ValueError("must be at least 16KiB")
        return value

    @field_validator("publish_timeout", "ack_wait", "retry_delay")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0s")
        return value


# -- framing -------------------------------------------------------------------------------------


def _frame(spans: list[Row], keys: list[Row], points: list[Row], compress: bool) -> bytes:
    body = marshal.dumps((spans, keys, points), _MARSHAL_VERSION)
    if compress:
        return _HEADER.pack(VERSION, FLAG_ZLIB, LAYOUT) + zlib.compress(body, 1)
    return _HEADER.pack(VERSION, 0, LAYOUT) + body


def _units(batch: WriteBatch) -> list[tuple[list[Row], list[Row], list[Row]]]:
    """The batch as indivisible pieces: each span with its key rows, each metric point."""
    ti, si = SPAN_INDEX["trace_id"], SPAN_INDEX["span_id"]
    kti, ksi = SPAN_KEY_INDEX["trace_id"], SPAN_KEY_INDEX["span_id"]
    keys: dict[tuple[Any, Any], list[Row]] = {}
    for key in batch.span_keys:
        keys.setdefault((key[kti], key[ksi]), []).append(key)
    units: list[tuple[list[Row], list[Row], list[Row]]] = []
    for span in batch.spans:
        units.append(([span], keys.pop((span[ti], span[si]), []), []))
    orphans = [key for rows in keys.values() for key in rows]
    if orphans:  # keys without their span in this batch (not produced today): keep them whole
        units.append(([], orphans, []))
    units.extend(([], [], [point]) for point in batch.metric_points)
    return units


def _join(units: Sequence[tuple[list[Row], list[Row], list[Row]]]) -> tuple[list[Row], list[Row], list[Row]]:
    spans: list[Row] = []
    keys: list[Row] = []
    points: list[Row] = []
    for s, k, p in units:
        spans.extend(s)
        keys.extend(k)
        points.extend(p)
    return spans, keys, points


def encode(batch: WriteBatch, max_message: int, compress: bool = False) -> list[bytes]:
    """``batch`` as one message, or as several when it is larger than ``max_message`` bytes.

    Raises ``TooLarge`` when a single row (a span with its keys) does not fit in a message, and
    ``TypeError`` for a value ``marshal`` cannot carry.
    """
    limit = max_message - _ENVELOPE
    try:
        whole = _frame(batch.spans, batch.span_keys, batch.metric_points, compress)
    except ValueError as exc:
        raise TypeError(f"rows for the store must hold str, int, float, bool or None: {exc}") from None
    if len(whole) <= limit:
        return [whole]
    units = _units(batch)
    return _split(units, math.ceil(len(whole) / limit), limit, compress)


def _split(
    units: Sequence[tuple[list[Row], list[Row], list[Row]]], parts: int, limit: int, compress: bool
) -> list[bytes]:
    if len(units) == 1:
        frame = _frame(*units[0], compress)
        if len(frame) > limit:
            raise TooLarge(f"one row takes {len(frame):,} bytes, more than the buffer's largest message")
        return [frame]
    parts = max(2, min(parts, len(units)))
    size = math.ceil(len(units) / parts)
    frames: list[bytes] = []
    for start in range(0, len(units), size):
        chunk = units[start : start + size]
        frame = _frame(*_join(chunk), compress)
        frames.extend([frame] if len(frame) <= limit else _split(chunk, 2, limit, compress))
    return frames


def decode(message: bytes) -> WriteBatch:
    """The rows of one message; ``FrameError`` for anything this version does not read."""
    if len(message) < _HEADER.size or message[0] != VERSION:
        raise FrameError(f"not a version {VERSION} buffer message (first byte {message[:1].hex() or 'none'})")
    _, flags, layout = _HEADER.unpack_from(message)
    if layout != LAYOUT:
        raise FrameError(f"rows of another Vitals' columns (layout {layout:08x}, this one {LAYOUT:08x})")
    body = message[_HEADER.size :]
    try:
        if flags & FLAG_ZLIB:
            body = zlib.decompress(body)
        spans, keys, points = marshal.loads(body)
    except (ValueError, EOFError, TypeError, zlib.error) as exc:
        raise FrameError(f"a damaged buffer message: {exc}") from None
    return WriteBatch(list(spans), list(keys), list(points))


# -- lag -----------------------------------------------------------------------------------------


def lag_view(stream_state: Mapping[str, Any], consumer: Mapping[str, Any] | None) -> dict[str, Any]:
    """What ``/readyz`` says about the buffer (pure): what waits to be written, in messages and
    bytes (a work-queue stream keeps exactly the messages not yet acknowledged)."""
    view: dict[str, Any] = {
        "pending_messages": int(stream_state.get("messages") or 0),
        "pending_bytes": int(stream_state.get("bytes") or 0),
    }
    if consumer is not None:
        view["undelivered"] = int(consumer.get("num_pending") or 0)
        view["being_written"] = int(consumer.get("num_ack_pending") or 0)
        view["redelivered"] = int(consumer.get("num_redelivered") or 0)
    return view


__all__ = [
    "FLAG_ZLIB",
    "LAYOUT",
    "VERSION",
    "BufferSettings",
    "FrameError",
    "TooLarge",
    "decode",
    "encode",
    "lag_view",
]

"""Request bodies: which OTLP encoding they use, and decompression that cannot be abused.

A gzip bomb (a few KiB that inflate to gigabytes) is stopped as soon as the inflated size
passes the limit: we inflate at most ``limit + 1`` bytes, never the whole thing.
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Callable


class Encoding(enum.Enum):
    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


class BodyError(Exception):
    """The body cannot be used; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_MEDIA_TYPES = {
    "application/x-protobuf": Encoding.PROTOBUF,
    "application/protobuf": Encoding.PROTOBUF,
    "application/json": Encoding.JSON,
}

#: Content-Encoding -> zlib window bits (gzip header, zlib header, raw deflate is not OTLP).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_STEP = 1 << 20


def encoding_of(content_type: str | None) -> Encoding:
    """The OTLP encoding of a ``Content-Type`` header (parameters such as charset ignored)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        return _MEDIA_TYPES[media]
    except KeyError:
        # The sender's header is not echoed (exporters log error bodies).
        raise BodyError(
            415, "unsupported content type; use application/x-protobuf or application/json"
        ) from None


def check_content_encoding(content_encoding: str | None) -> str | None:
    """The compression to undo (None for identity); 415 for one we do not speak."""
    value = (content_encoding or "").strip().lower()
    if value in ("", "identity"):
        return None
    if value in _WBITS:
        return value
    raise BodyError(415, "unsupported content encoding; use gzip, deflate or none")


def decompress(
    data: bytes, content_encoding: str | None, limit: int, admit: Callable[[int], bool] | None = None
) -> bytes:
    """The inflated body; 400 if it is corrupt, 413 as soon as it grows past ``limit`` bytes.

    ``admit(n)`` is asked before each inflated chunk is kept (the in-flight memory budget);
    when it says no, the request is refused with 503 and may be retried.
    """
    if content_encoding is None:
        if len(data) > limit:
            raise BodyError(413, f"the body is larger than the limit of {limit} bytes")
        return data
    parts: list[bytes] = []
    size = 0
    pending = data
    inflater = zlib.decompressobj(_WBITS[content_encoding])
    try:
        while pending:
            chunk = inflater.decompress(pending, min(_STEP, limit + 1 - size))
            size += len(chunk)
            if size > limit:
                raise BodyError(413, f"the decompressed body is larger than the limit of {limit} bytes")
            if admit is not None and chunk and not admit(len(chunk)):
                raise BodyError(503, "the collector is saturated; retry later")
            parts.append(chunk)
            if inflater.eof:
                # Concatenated gzip members are one stream to HTTP; keep inflating.
                pending = inflater.unused_data
                if pending:
                    inflater = zlib.decompressobj(_WBITS[content_encoding])
            else:
                pending = inflater.unconsumed_tail
                if not chunk and not pending:
                    break
        tail = b"" if inflater.eof else inflater.flush()
        if not inflater.eof:
            raise BodyError(400, f"the {content_encoding} body is truncated")
        if tail:
            if admit is not None and not admit(len(tail)):
                raise BodyError(503, "the collector is saturated; retry later")
            parts.append(tail)
    except zlib.error as exc:
        raise BodyError(400, f"the body is not valid {content_encoding}: {exc}") from None
    return b"".join(parts)


__all__ = ["BodyError", "Encoding", "check_content_encoding", "decompress", "encoding_of"]

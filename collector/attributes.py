"""OTLP attribute values as plain Python values, and the JSON text they are stored as.

``AnyValue`` maps to JSON the way the OTLP/JSON encoding reads: strings, booleans, numbers,
arrays and key/value lists as objects. Bytes that are UTF-8 text become that text (so the
redactor scans it as text); other bytes stay ``bytes``, which the redactor drops or turns into
base64 (JSON has no bytes), so nothing opaque reaches the store unseen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

_PLAIN = (str, int, float, bool)
#: A JSON ``\u0000`` escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def any_value(value: AnyValue) -> Any:
    """The Python value of an ``AnyValue`` (None when no value is set)."""
    fields = value.ListFields()
    if not fields:
        return None
    descriptor, inner = fields[0]
    if isinstance(inner, _PLAIN):
        return inner
    name = descriptor.name
    if name == "array_value":
        return [any_value(item) for item in inner.values]
    if name == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in inner.values}
    if name == "bytes_value":
        try:
            return inner.decode("utf-8")
        except UnicodeDecodeError:
            return inner
    return None


def attributes(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    """A repeated ``KeyValue`` field as a dict; a repeated key keeps its last value."""
    out: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        # Most values are non-empty strings: one attribute read instead of a oneof lookup.
        text = value.string_value
        out[kv.key] = text if text else any_value(value)
    return out


def json_text(value: Any) -> str:
    """JSON text for a stored document.

    PostgreSQL's JSONB (and TEXT) cannot hold the NUL character that OTLP strings may carry, and
    one such row would fail a whole group commit; it becomes U+FFFD on both databases.
    """
    text = orjson.dumps(value).decode()
    if "\\u0000" in text:
        text = _NUL_ESCAPE.sub(r"\1\\ufffd", text)
    return text


def clean_text(value: str) -> str:
    """A string safe for a TEXT column on every database (no NUL characters)."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


__all__ = ["any_value", "attributes", "clean_text", "json_text"]

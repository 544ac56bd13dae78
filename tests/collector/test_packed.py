"""``collector.packed``: the stored form of a span's JSON columns reads back exactly, is smaller
than the JSON for the attributes telemetry carries, and its dictionary never changes."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.attributes import json_text
from collector.packed import DICTIONARY_V1, PackedError, pack, unpack
from tests.support.properties import PROPERTIES

#: Scalars an OTLP attribute can carry once converted (no NaN: JSON has none).
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=40), inner, max_size=8),
    max_leaves=30,
)
_ATTRIBUTES = st.dictionaries(st.text(max_size=60), _JSON, max_size=20)


@PROPERTIES
@given(_ATTRIBUTES)
def test_any_attributes_read_back_as_stored(attributes: dict[str, Any]) -> None:
    text = json_text(attributes)
    stored = pack(text)
    assert stored[0] == 1
    assert unpack(stored) == text
    assert orjson.loads(unpack(memoryview(stored))) == orjson.loads(text)


@pytest.mark.parametrize(
    "value",
    [
        "x" * (512 * 1024),
        "".join(chr(c) for c in range(0x20, 0x2FFF)) * 40,  # ~460 KiB of text, much of it multibyte
        "\U0001f600 Zoë 東京 " * 40_000,
    ],
)
def test_large_and_unicode_values_read_back(value: str) -> None:
    text = json_text({"exception.stacktrace": value, "n": 1})
    assert unpack(pack(text)) == text


def test_text_with_a_lone_surrogate_reads_back() -> None:
    assert unpack(pack('"\ud800"')) == '"\ud800"'


def test_plain_json_text_reads_as_itself() -> None:
    # What the migration writes on the way through, and what another writer may store.
    for text in ('{"a": 1}', "[1,2]", "null", '"x"', "", " {}"):
        assert unpack(text.encode()) == text


def test_an_unknown_version_or_damaged_value_is_refused() -> None:
    with pytest.raises(PackedError, match="unknown version 2"):
        unpack(b"\x02abc")
    with pytest.raises(PackedError):
        unpack(b"\x01\xff\xff\xff")
    with pytest.raises(PackedError, match="truncated"):
        unpack(pack(json_text({"hc.key.charge": "ab" * 32}))[:-3])


def test_telemetry_attributes_take_a_fraction_of_their_json() -> None:
    attributes = {
        "net.peer.name": "billing-db.corp.example",
        "code.function": "handle_charge_posted",
        "thread.id": 17,
        "retry.count": 0,
        "messaging.system": "rabbitmq",
        "messaging.destination.name": "charges-outbound",
        "messaging.operation.type": "process",
        "hc.key.charge": hashlib.sha256(b"C-1").hexdigest(),
    }
    text = json_text(attributes)
    assert len(pack(text)) < len(text) / 2


def test_the_version_1_dictionary_never_changes() -> None:
    """Stored values can only be read with the dictionary they were packed with: a different
    dictionary is a new version byte, never an edit of this one."""
    pinned = "e59328a949d8f41b28894520da10198ba8be77e56645246f2ccf5b5c665666f1"
    assert hashlib.sha256(DICTIONARY_V1).hexdigest() == pinned


def test_bytes_that_inflate_to_no_utf_8_are_refused() -> None:
    # A random 16-byte id can start with the version byte and even inflate; it is not text.
    with pytest.raises(PackedError, match="damaged"):
        unpack(b"\x01Cc\xce\x13\x87\x98\n\xe0\xe2u\x89\x14\x84\xd5\xb3")

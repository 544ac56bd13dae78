"""The buffer's framing, its config section and its lag view, with the in-memory sink."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from collector.buffer import (
    FLAG_ZLIB,
    LAYOUT,
    VERSION,
    BufferSettings,
    FrameError,
    TooLarge,
    decode,
    encode,
    lag_view,
)
from collector.config import load_collector_config
from collector.rows import (
    SPAN_COLUMNS,
    SPAN_INDEX,
    SPAN_KEY_COLUMNS,
    SPAN_KEY_INDEX,
    WriteBatch,
    metric_row_tuple,
)
from collector.sink import InMemorySink
from vitals.kernel.configfile import ConfigError


def span(i: int, text: str = "x") -> tuple[object, ...]:
    values: dict[str, object] = {column: None for column in SPAN_COLUMNS}
    values.update(
        trace_id=f"{i:032x}",
        span_id=f"{i:016x}",
        name=f"op-{i}",
        service_name="billing",
        kind="internal",
        start_time_unix_nano=1_000 + i,
        end_time_unix_nano=2_000 + i,
        duration_ns=1_000,
        event_time_unix_nano=2_000 + i,
        status_code="unset",
        attributes=orjson.dumps({"note": text}).decode(),
        received_at_unix_nano=3_000,
    )
    if "sample_weight" in values:
        values["sample_weight"] = 1
    return tuple(values[column] for column in SPAN_COLUMNS)


def key(i: int) -> tuple[object, ...]:
    values = {
        "key_name": "charge",
        "key_hash": f"{i:064x}",
        "trace_id": f"{i:032x}",
        "span_id": f"{i:016x}",
        "hc_stage": "charge.posted",
        "event_time_unix_nano": 2_000 + i,
    }
    return tuple(values[column] for column in SPAN_KEY_COLUMNS)


def batch(n: int, text: str = "x", points: int = 0) -> WriteBatch:
    return WriteBatch(
        spans=[span(i, text) for i in range(n)],
        span_keys=[key(i) for i in range(0, n, 2)],
        metric_points=[
            metric_row_tuple({"name": "depth", "time_unix_nano": t, "value": 1.0}) for t in range(points)
        ],
    )


def test_a_small_batch_is_one_message_that_reads_back_the_same() -> None:
    original = batch(10, points=3)
    (message,) = encode(original, 1024 * 1024)
    assert message[0] == VERSION and message[1] == 0
    assert decode(message) == original


def test_compressed_messages_are_smaller_and_read_back_the_same() -> None:
    original = batch(200)
    (plain,) = encode(original, 1024 * 1024)
    (packed,) = encode(original, 1024 * 1024, compress=True)
    assert packed[1] & FLAG_ZLIB and len(packed) < len(plain) / 2
    assert decode(packed) == original


def test_a_large_batch_is_split_with_each_span_beside_its_keys() -> None:
    original = batch(2000, text="y" * 400, points=50)
    messages = encode(original, 64 * 1024)
    assert len(messages) > 10 and all(len(m) <= 64 * 1024 for m in messages)
    parts = [decode(m) for m in messages]
    assert WriteBatch.concat(parts).spans == original.spans
    assert sorted(WriteBatch.concat(parts).span_keys) == sorted(original.span_keys)
    assert WriteBatch.concat(parts).metric_points == original.metric_points
    ti, si = SPAN_INDEX["trace_id"], SPAN_INDEX["span_id"]
    kti, ksi = SPAN_KEY_INDEX["trace_id"], SPAN_KEY_INDEX["span_id"]
    for part in parts:
        here = {(row[ti], row[si]) for row in part.spans}
        assert all((row[kti], row[ksi]) in here for row in part.span_keys)


def test_redelivered_messages_are_stored_once_keys_included() -> None:
    """A writer that died before its acknowledgement: the same messages come again, in any order."""
    messages = encode(batch(500, text="z" * 300), 32 * 1024)
    sink = InMemorySink()
    for message in messages[::2] + messages + messages[::-1]:
        sink.write(decode(message))
    assert len(sink.spans) == 500 and len(sink.span_keys) == 250


def test_a_row_larger_than_a_message_is_refused() -> None:
    with pytest.raises(TooLarge, match="one row takes"):
        encode(WriteBatch(spans=[span(1, "w" * 40_000)]), 32 * 1024)


def test_values_marshal_cannot_carry_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="str, int, float"):
        encode(WriteBatch(metric_points=[(object(),)]), 1024 * 1024)


LAYOUT_BYTES = LAYOUT.to_bytes(4, "big")


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"\x01",
        b"\x02\x00" + LAYOUT_BYTES + b"abc",
        b"\x01\x00" + LAYOUT_BYTES + b"not marshal",
        b"\x01\x01" + LAYOUT_BYTES + b"zz",
        b"\x01\x00" + LAYOUT_BYTES + b"\xe9",
    ],
)
def test_anything_else_is_a_frame_error(message: bytes) -> None:
    with pytest.raises(FrameError):
        decode(message)


def test_rows_of_another_column_layout_are_refused_not_stored() -> None:
    (message,) = encode(batch(3), 1024 * 1024)
    other = message[:2] + (LAYOUT ^ 1).to_bytes(4, "big") + message[6:]
    with pytest.raises(FrameError, match="another Vitals' columns"):
        decode(other)


def test_the_lag_is_what_the_work_queue_holds() -> None:
    consumer = {"num_pending": 7, "num_ack_pending": 3, "num_redelivered": 1}
    assert lag_view({"messages": 10, "bytes": 4096}, consumer) == {
        "pending_messages": 10,
        "pending_bytes": 4096,
        "undelivered": 7,
        "being_written": 3,
        "redelivered": 1,
    }
    assert lag_view({}, None) == {"pending_messages": 0, "pending_bytes": 0}


def test_no_buffer_section_means_no_buffer(tmp_path: Path) -> None:
    assert load_collector_config(tmp_path, {}).buffer is None


def test_the_buffer_section_is_read_with_its_defaults(tmp_path: Path) -> None:
    (tmp_path / "collector.yaml").write_text(
        "buffer:\n  servers: [nats://127.0.0.1:4222, {env: NATS_B}]\n  max_message: 256KiB\n"
    )
    settings = load_collector_config(tmp_path, {"NATS_B": "nats://127.0.0.1:4223"}).buffer
    assert settings is not None
    assert [s.reveal() for s in settings.servers] == ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
    assert settings.max_message == 256 * 1024 and settings.replicas == 3 and settings.consumers == 2
    assert settings.stream == "VITALS_INGEST" and settings.publish_timeout == 10.0


def test_buffer_errors_name_the_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "collector.yaml").write_text("limits: {}\nbuffer:\n  replicas: 0\n  stream: bad name\n")
    with pytest.raises(ConfigError) as error:
        load_collector_config(tmp_path, {})
    text = str(error.value)
    assert "collector.yaml" in text and "buffer.replicas" in text and "buffer.stream" in text
    assert ":3" in text


def test_settings_are_checked_in_code_too() -> None:
    with pytest.raises(ValueError, match="at least one server"):
        BufferSettings.model_validate({"servers": []})
    with pytest.raises(ValueError, match="16KiB"):
        BufferSettings.model_validate({"max_message": "1KiB"})

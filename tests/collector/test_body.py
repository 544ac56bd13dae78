"""Content types, content encodings and bounded decompression."""

from __future__ import annotations

import gzip
import zlib

import pytest

from collector.body import BodyError, Encoding, check_content_encoding, decompress, encoding_of


@pytest.mark.parametrize(
    ("header", "encoding"),
    [
        ("application/x-protobuf", Encoding.PROTOBUF),
        ("application/protobuf", Encoding.PROTOBUF),
        ("application/json", Encoding.JSON),
        ("Application/JSON; charset=utf-8", Encoding.JSON),
    ],
)
def test_known_content_types(header: str, encoding: Encoding) -> None:
    assert encoding_of(header) is encoding


@pytest.mark.parametrize("header", [None, "", "text/plain", "application/grpc", "application/xml"])
def test_unknown_content_types_are_415(header: str | None) -> None:
    with pytest.raises(BodyError) as caught:
        encoding_of(header)
    assert caught.value.status == 415


def test_content_encodings() -> None:
    assert check_content_encoding(None) is None
    assert check_content_encoding("identity") is None
    assert check_content_encoding("GZIP") == "gzip"
    with pytest.raises(BodyError) as caught:
        check_content_encoding("br")
    assert caught.value.status == 415


def test_gzip_and_deflate_round_trip() -> None:
    data = b"otlp" * 10_000
    assert decompress(gzip.compress(data), "gzip", 1 << 20) == data
    assert decompress(zlib.compress(data), "deflate", 1 << 20) == data
    assert decompress(gzip.compress(data[:7]) + gzip.compress(data[7:]), "gzip", 1 << 20) == data


def test_a_gzip_bomb_is_stopped_at_the_limit() -> None:
    bomb = gzip.compress(bytes(1 << 30), compresslevel=9)  # 1 GiB of zeros in about 1 MiB
    admitted: list[int] = []

    def admit(size: int) -> bool:
        admitted.append(size)
        return True

    limit = 8 << 20
    with pytest.raises(BodyError) as caught:
        decompress(bomb, "gzip", limit, admit)
    assert caught.value.status == 413
    # Nothing beyond the limit was ever inflated into memory.
    assert sum(admitted) <= limit


def test_bodies_over_the_limit() -> None:
    with pytest.raises(BodyError) as caught:
        decompress(b"x" * 101, None, 100)
    assert caught.value.status == 413
    assert decompress(b"x" * 100, None, 100) == b"x" * 100


@pytest.mark.parametrize("body", [b"not gzip at all", gzip.compress(b"x" * 1000)[:20], b""])
def test_corrupt_or_truncated_gzip_is_400(body: bytes) -> None:
    with pytest.raises(BodyError) as caught:
        decompress(body, "gzip", 1 << 20)
    assert caught.value.status == 400


def test_saturation_while_inflating_is_retryable() -> None:
    with pytest.raises(BodyError) as caught:
        decompress(gzip.compress(b"x" * 100_000), "gzip", 1 << 20, lambda size: False)
    assert caught.value.status == 503

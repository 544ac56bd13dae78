"""OTLP/gRPC memory bounds: refusals are decided before a message is read, and every reservation
of the in-flight budget is given back.

The observable for "not read": the calls here are client-streaming calls whose one request message
is held back by the test (on the wire an OTLP export is one message either way). A collector that
reads the message before deciding cannot answer until the message arrives; one that decides first
answers while the message is still held.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from collector.service import Collector
from tests.collector.harness import metric_value, metrics_text, running_collector, wait_until
from tests.collector.otlp import span, trace_request
from tests.collector.test_http_receiver import CountingExporter
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

TOKEN = "engine-token-0123456789abcdef"
AUTHORIZED = (("authorization", f"Bearer {TOKEN}"),)
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
TOKENS = f"tokens:\n  - name: engine\n    token: {TOKEN}\n"
#: A message bigger than anything the collector would hold unread (6 MiB, as in issue 12).
BIG = b"\x0a" + b"\xff" * (6 * 1024 * 1024)


class HeldCall:
    """A call whose one request message is sent only when ``release`` is called."""

    def __init__(self, channel: grpc.Channel, message: bytes, metadata: tuple[tuple[str, str], ...]) -> None:
        self._release = threading.Event()
        self._message = message
        self.future = channel.stream_unary(EXPORT).future(self._requests(), metadata=metadata, timeout=30)

    def _requests(self) -> Iterator[bytes]:
        self._release.wait(30)
        yield self._message

    def release(self) -> None:
        self._release.set()

    def error(self) -> grpc.RpcError:
        try:
            self.future.result()
        except grpc.RpcError as error:
            return error
        raise AssertionError("the call succeeded")


@pytest.fixture
def channels() -> Iterator[list[grpc.Channel]]:
    opened: list[grpc.Channel] = []
    yield opened
    for channel in opened:
        channel.close()


def channel_to(running: Collector, channels: list[grpc.Channel]) -> grpc.Channel:
    channel = grpc.insecure_channel(
        f"127.0.0.1:{running.grpc_port}", options=[("grpc.max_send_message_length", -1)]
    )
    channels.append(channel)
    return channel


def retry_delay(error: grpc.RpcError) -> int:
    trailer = dict(error.trailing_metadata())
    return int(RetryInfo.FromString(trailer["google.rpc.retryinfo-bin"]).retry_delay.seconds)


def all_given_back(running: Collector) -> None:
    wait_until(lambda: running.writer.in_flight_bytes == 0, message="in-flight budget given back")
    wait_until(lambda: running.parts.grpc.calls == 0, message="no call in progress")


def test_unauthenticated_calls_are_refused_before_their_message_is_read(
    sqlite_url: str, tmp_path: Path, channels: list[grpc.Channel]
) -> None:
    with running_collector(sqlite_url, tmp_path, TOKENS) as running:
        channel = channel_to(running, channels)
        calls = [
            HeldCall(channel, BIG, metadata)
            for metadata in ((), (("authorization", "Bearer not-the-token-123456"),))
        ]
        try:
            # Answered while the 6 MiB message is still held by the client: it was never read.
            for call in calls:
                assert call.error().code() is grpc.StatusCode.UNAUTHENTICATED
        finally:
            for call in calls:
                call.release()
        text = metrics_text(running)
        assert metric_value(text, "vitals_collector_unauthenticated_total", transport="grpc") == 2
        assert running.writer.in_flight_bytes == 0
        assert running.parts.grpc.calls == 0


def test_calls_beyond_the_limit_are_resource_exhausted_with_retry_info(
    sqlite_url: str, tmp_path: Path, channels: list[grpc.Channel]
) -> None:
    with running_collector(sqlite_url, tmp_path, TOKENS + "limits: {max_grpc_calls: 2}\n") as running:
        channel = channel_to(running, channels)
        body = trace_request(span("held")).SerializeToString()
        held = [HeldCall(channel, body, AUTHORIZED) for _ in range(2)]
        try:
            wait_until(lambda: running.parts.grpc.calls == 2, message="two calls in progress")
            # The limit holds whatever the budget: two reservations of 4 MiB leave most of 128 MiB.
            assert running.writer.in_flight_bytes == 2 * 4 * 1024 * 1024
            third = HeldCall(channel, body, AUTHORIZED)
            try:
                error = third.error()
            finally:
                third.release()
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert retry_delay(error) == 1
        finally:
            for call in held:
                call.release()
        for call in held:
            call.future.result()
        all_given_back(running)
        text = metrics_text(running)
        assert metric_value(text, "vitals_collector_throttled_total", transport="grpc") == 1
        assert metric_value(text, "vitals_collector_requests_total", transport="grpc", status="OK") == 2


def test_the_largest_message_is_reserved_before_reading_and_the_rest_given_back(
    sqlite_url: str, tmp_path: Path, channels: list[grpc.Channel]
) -> None:
    limits = "limits: {max_body: 256KiB, max_in_flight: 256KiB, max_grpc_message: 128KiB}\n"
    with running_collector(sqlite_url, tmp_path, TOKENS + limits) as running:
        channel = channel_to(running, channels)
        held = [
            HeldCall(
                channel,
                trace_request(span(f"fits {i}", span_id=bytes([i + 1]) * 8)).SerializeToString(),
                AUTHORIZED,
            )
            for i in range(2)
        ]
        try:
            wait_until(lambda: running.writer.in_flight_bytes == 256 * 1024, message="two reservations")
            # The budget is spent on two messages not yet read: a third is refused unread.
            third = HeldCall(channel, BIG, AUTHORIZED)
            try:
                error = third.error()
            finally:
                third.release()
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert retry_delay(error) == 1
            assert "saturated" in str(error.details())
        finally:
            for call in held:
                call.release()
        for call in held:
            call.future.result()
        all_given_back(running)
        engine = create_engine(sqlite_url)
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM spans").scalar_one() == 2
        finally:
            engine.dispose()


def test_every_path_gives_its_reservation_back(
    sqlite_url: str, tmp_path: Path, channels: list[grpc.Channel]
) -> None:
    with running_collector(sqlite_url, tmp_path, TOKENS + "limits: {max_grpc_message: 64KiB}\n") as running:
        channel = channel_to(running, channels)
        export = channel.unary_unary(EXPORT)
        # Over the message limit.
        with pytest.raises(grpc.RpcError) as caught:
            export(BIG, metadata=AUTHORIZED, timeout=30)
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        # Over the message limit once decompressed (a gzip bomb).
        bomb = trace_request(span("bomb", attributes={"hc.note": "a" * (1 << 20)})).SerializeToString()
        with pytest.raises(grpc.RpcError) as caught:
            export(bomb, metadata=AUTHORIZED, timeout=30, compression=grpc.Compression.Gzip)
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        # Not an OTLP request.
        with pytest.raises(grpc.RpcError) as caught:
            export(b"\xff\xff\xff not protobuf", metadata=AUTHORIZED, timeout=30)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        # No message at all.
        with pytest.raises(grpc.RpcError) as caught:
            channel.stream_unary(EXPORT)(iter(()), metadata=AUTHORIZED, timeout=30)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        # The message does not arrive in time: the reservation is not held forever.
        running.parts.grpc.message_timeout = 0.2
        stalled = HeldCall(channel, b"", AUTHORIZED)
        try:
            assert stalled.error().code() is grpc.StatusCode.DEADLINE_EXCEEDED
        finally:
            stalled.release()
        running.parts.grpc.message_timeout = 30
        all_given_back(running)
        # The client gives up while its message is awaited.
        abandoned = HeldCall(channel, b"", AUTHORIZED)
        wait_until(lambda: running.parts.grpc.calls == 1, message="call in progress")
        assert running.writer.in_flight_bytes == 64 * 1024
        abandoned.future.cancel()
        abandoned.release()
        all_given_back(running)
        # And a real exporter's export is stored.
        endpoint = f"127.0.0.1:{running.grpc_port}"
        exporter = CountingExporter(
            OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=dict(AUTHORIZED))
        )
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.get_tracer("t").start_span("after all that").end()
        provider.shutdown()
        assert exporter.acknowledged == 1
        all_given_back(running)

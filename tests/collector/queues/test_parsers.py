"""The pure translations from each broker's answer to a reading (plain values, no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from collector.queues import names
from collector.queues.jetstream import consumer_reading
from collector.queues.jetstream import stream_reading as js_stream_reading
from collector.queues.rabbitmq import head_timestamp_from_get, reading_from_api
from collector.queues.redis_streams import group_reading, id_time_s
from collector.queues.sqlstore import reading_from_row, timestamp_s


def test_rabbitmq_api_entry() -> None:
    entry = {
        "name": "charges-outbound",
        "vhost": "/",
        "messages": 7,
        "messages_ready": 5,
        "messages_unacknowledged": 2,
        "consumers": 1,
        "head_message_timestamp": 1_800_000_000,
        "message_stats": {"publish": 30, "publish_details": {"rate": 1.5}, "deliver_get": 23},
    }
    reading = reading_from_api(entry)
    assert (reading.depth, reading.unacked, reading.consumers) == (5, 2, 1)
    assert (reading.published_total, reading.delivered_total, reading.publish_rate) == (30, 23, 1.5)
    assert reading.oldest_timestamp_s == 1_800_000_000
    published_only = reading_from_api({"name": "p", "messages_ready": 4, "message_stats": {"publish": 4}})
    assert (published_only.published_total, published_only.delivered_total) == (4, 0)
    no_stats = reading_from_api(
        {"name": "new", "messages": 0, "messages_ready": 0, "messages_unacknowledged": 0}
    )
    assert (no_stats.published_total, no_stats.delivered_total) == (None, None)
    assert head_timestamp_from_get([{"properties": {"timestamp": 1_799_999_999}}]) == 1_799_999_999
    assert head_timestamp_from_get([]) is None


def test_redis_group_counts_and_oldest_unprocessed_entry() -> None:
    assert id_time_s(b"1800000000123-4") == pytest.approx(1_800_000_000.123)
    assert id_time_s("0-0") is None
    reading = group_reading(
        "charges-outbound",
        {"name": b"billing", "pending": 3, "lag": 6, "entries-read": 4, "last-delivered-id": b"x"},
        consumers=[{"name": b"c1", "idle": 1_000}, {"name": b"c2", "idle": 900_000}],
        oldest_pending={"message_id": b"1800000000000-1", "time_since_delivered": 42_000},
        first_undelivered_id=b"1800000005000-0",
        entries_added=10,
        active_within_s=300,
    )
    assert reading.labels == (("group", "billing"),)
    assert (reading.depth, reading.unacked, reading.consumers) == (6, 3, 1)
    assert reading.extra[names.CONSUMERS_REGISTERED] == 2
    assert reading.extra[names.PENDING_IDLE] == 42
    assert (
        reading.oldest_timestamp_s == 1_800_000_000.0
    )  # the pending entry is older than the undelivered one
    assert (reading.published_total, reading.delivered_total) == (10, 4)


def test_jetstream_consumer_and_workqueue_stream() -> None:
    when = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
    reading = consumer_reading(
        "CLAIMS",
        {
            "name": "worker",
            "num_pending": 6,
            "num_ack_pending": 3,
            "num_redelivered": 1,
            "delivered": {"consumer_seq": 9},
        },
        when,
    )
    assert (reading.depth, reading.unacked, reading.delivered_total) == (6, 3, 9)
    assert reading.extra[names.REDELIVERED] == 1 and reading.oldest_timestamp_s == when.timestamp()
    work = js_stream_reading("JOBS", {"messages": 4, "last_seq": 10, "consumer_count": 0}, True, when)
    assert (work.depth, work.consumers, work.oldest_timestamp_s) == (4, 0, when.timestamp())
    log = js_stream_reading("LOG", {"messages": 4, "last_seq": 10}, False, None)
    assert log.depth is None and log.extra[names.STREAM_LENGTH] == 4


def test_sql_rows_any_case_and_every_timestamp_shape() -> None:
    chicago = ZoneInfo("America/Chicago")
    naive = datetime(2027, 1, 15, 6, 0)
    assert timestamp_s(naive, chicago) == datetime(2027, 1, 15, 12, 0, tzinfo=UTC).timestamp()
    aware = datetime(2027, 1, 15, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    assert timestamp_s(aware, chicago) == aware.timestamp()
    assert (
        timestamp_s("2027-01-15T12:00:00+00:00", chicago) == datetime(2027, 1, 15, 12, tzinfo=UTC).timestamp()
    )
    assert timestamp_s(1_800_000_000_000, chicago, "ms") == 1_800_000_000
    reading = reading_from_row({"QUEUE": "adt-inbound", "Depth": Decimal(12), "oldest": None}, chicago)
    assert (reading.queue, reading.depth, reading.oldest_timestamp_s) == ("adt-inbound", 12, None)
    with pytest.raises(ValueError, match="must return the columns queue and depth"):
        reading_from_row({"channel": "x", "n": 1}, chicago)
    with pytest.raises(ValueError, match="'depth' must be a number"):
        reading_from_row({"queue": "x", "depth": "many"}, chicago)

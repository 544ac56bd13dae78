"""The API rollups: per minute and per hour, per API and consumer; their error signatures; the
fold's position in ``spans``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from vitals.kernel.db import JsonDocument, metadata

__all__ = ["KEY_COLUMNS", "api_errors", "api_rollup_state", "api_rollups"]

#: The columns that name one API and consumer (every rollup row's key besides its time bucket).
KEY_COLUMNS = ("service", "side", "route", "method", "interaction", "resource_type", "consumer")


def _key() -> list[Column[object]]:
    return [
        Column("bucket_start_ns", BigInteger, primary_key=True),
        Column("width_s", Integer, primary_key=True),
        Column("service", Text, primary_key=True),
        Column("side", String(8), primary_key=True),
        Column("route", Text, primary_key=True),
        Column("method", String(16), primary_key=True),
        Column("interaction", String(16), primary_key=True),
        Column("resource_type", String(64), primary_key=True),
        Column("consumer", Text, primary_key=True),
    ]


api_rollups = Table(
    "analytics_api_rollups",
    metadata,
    *_key(),
    Column("count", BigInteger, nullable=False),
    Column("errors_4xx", BigInteger, nullable=False),
    Column("errors_5xx", BigInteger, nullable=False),
    Column("errors_other", BigInteger, nullable=False),
    Column("duration_sum_ns", BigInteger, nullable=False),
    Column("histogram", JsonDocument, nullable=False),
    Index(None, "width_s", "bucket_start_ns"),
)

api_errors = Table(
    "analytics_api_errors",
    metadata,
    *_key(),
    Column("signature", Text, primary_key=True),
    Column("error_class", String(8), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("last_seen_ns", BigInteger, nullable=False),
    Column("example_trace_id", String(32), nullable=False),
    Index(None, "width_s", "bucket_start_ns"),
)

api_rollup_state = Table(
    "analytics_rollup_state",
    metadata,
    Column("family", String(32), primary_key=True),
    Column("watermark", BigInteger, nullable=False),
    Column("signature", Text, nullable=False),
    Column("updated_at_unix_nano", BigInteger, nullable=False),
    Column("seen", JsonDocument, nullable=False),
)

"""SQL message stores: integration engines (Mirth Connect and its kin) keep queues in tables.

The user writes one query returning a row per queue with the columns ``queue`` and ``depth``, and
optionally ``oldest`` (timestamp of the oldest queued message: a timestamp, an ISO-8601 string, or a
number of seconds/ms/us/ns since the epoch per ``epoch_unit``), ``oldest_age_seconds``, ``unacked``
and ``consumers``. Column names are matched without regard to case.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from collector.queues.config import SqlPoller
from collector.queues.samples import QueueReading
from collector.queues.source import NameFilter, Snapshot

_EPOCH_DIVISOR = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
REQUIRED_COLUMNS = ("queue", "depth")


def _number(value: Any, column: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"column {column!r} must be a number, got {type(value).__name__} {value!r}")


def timestamp_s(value: Any, zone: ZoneInfo, epoch_unit: str = "s") -> float | None:
    """Unix seconds from what a database returns for a timestamp column (pure)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"column 'oldest': cannot read {value!r} as a timestamp") from exc
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return float(value.timestamp())
    number = _number(value, "oldest")
    assert number is not None
    return number / _EPOCH_DIVISOR[epoch_unit]


def reading_from_row(row: Mapping[str, Any], zone: ZoneInfo, epoch_unit: str = "s") -> QueueReading:
    """One result row (column name -> value, any case) as a reading (pure)."""
    columns = {str(k).lower(): v for k, v in row.items()}
    absent = [c for c in REQUIRED_COLUMNS if c not in columns]
    if absent:
        raise ValueError(
            f"the query must return the columns queue and depth (missing: {', '.join(absent)}); "
            f"it returned: {', '.join(columns) or 'no columns'}"
        )
    if columns["queue"] is None:
        raise ValueError("column 'queue' is NULL in a result row")
    return QueueReading(
        queue=str(columns["queue"]),
        depth=_number(columns["depth"], "depth") or 0.0,
        unacked=_number(columns.get("unacked"), "unacked"),
        consumers=_number(columns.get("consumers"), "consumers"),
        oldest_timestamp_s=timestamp_s(columns.get("oldest"), zone, epoch_unit),
        oldest_age_s=_number(columns.get("oldest_age_seconds"), "oldest_age_seconds"),
    )


def _connect_args(url: str, timeout: float) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"timeout": timeout}
    if url.startswith(("postgresql", "postgres", "mysql", "mariadb")):
        return {"connect_timeout": max(1, round(timeout))}
    return {}


class SqlStoreSource:
    broker = "sql"

    def __init__(self, config: SqlPoller) -> None:
        from sqlalchemy import create_engine, text

        from vitals.kernel.db import normalize_url

        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self.filter = NameFilter(("*",), tuple(config.exclude))
        url = normalize_url(config.url.reveal())
        options: dict[str, Any] = {"connect_args": _connect_args(url, config.timeout)}
        if not url.startswith("sqlite"):
            options.update(pool_pre_ping=True, pool_size=1, max_overflow=1)
        self.engine = create_engine(url, **options)
        self.statement = text(config.query)

    def fetch(self) -> Snapshot:
        with self.engine.connect() as connection:
            result = connection.execute(self.statement)
            rows = [dict(row._mapping) for row in result]
        readings = []
        for row in rows:
            reading = reading_from_row(row, self.zone, self.config.epoch_unit)
            if self.filter.matches(reading.queue):
                readings.append(reading)
        return Snapshot(tuple(readings))

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["REQUIRED_COLUMNS", "SqlStoreSource", "reading_from_row", "timestamp_s"]

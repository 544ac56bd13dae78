"""The SQL message-store poller against tables shaped like an engine's (Mirth-style) message store,
on PostgreSQL, MariaDB and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from collector.queues import names
from collector.queues.config import SqlPoller
from collector.queues.poller import Poller, PollResult
from collector.queues.sqlstore import SqlStoreSource
from tests.collector.queues.conftest import ManualClock
from tests.support.services import free_port, mariadb_database, postgres_database
from vitals.kernel.db import normalize_url

# Channels and their connector messages; status 'Q' = queued for the destination, 'S' = sent.
SCHEMA = [
    "CREATE TABLE channel (id INTEGER PRIMARY KEY, name VARCHAR(80) NOT NULL)",
    "CREATE TABLE connector_message (message_id INTEGER, channel_id INTEGER, status CHAR(1), "
    "received_date TIMESTAMP)",
]
QUERY = """
SELECT c.name AS queue, COUNT(m.message_id) AS depth, MIN(m.received_date) AS oldest
FROM channel c LEFT JOIN connector_message m ON m.channel_id = c.id AND m.status = 'Q'
GROUP BY c.name
"""
CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'engine.db'}"
    elif request.param == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        with mariadb_database() as url:
            yield url


def execute(url: str, *statements: str, **params: object) -> None:
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)
    engine.dispose()


def values(result: PollResult, queue: str) -> dict[str, float]:
    assert result.ok, result.error
    return next(dict(s.values) for s in result.samples if s.queue == queue)


def queued(url: str, message_id: int, channel: int, at: datetime, status: str = "Q") -> None:
    # Naive local time in the engine's zone (America/Chicago), as many engines store it.
    local = at.astimezone(CHICAGO).replace(tzinfo=None)
    execute(
        url,
        "INSERT INTO connector_message VALUES (:m, :c, :s, :t)",
        m=message_id,
        c=channel,
        s=status,
        t=local,
    )


def test_depth_and_oldest_per_queue_equal_the_store_and_age_grows(store: str, clock: ManualClock) -> None:
    execute(store, *SCHEMA, "INSERT INTO channel VALUES (1, 'charges-outbound'), (2, 'adt-inbound')")
    now = datetime.fromtimestamp(clock.now, UTC)
    for i, minutes_ago in enumerate([50, 40, 30]):
        queued(store, i, 1, now - timedelta(minutes=minutes_ago))
    queued(store, 9, 1, now - timedelta(minutes=90), status="S")  # already sent: not queued
    config = SqlPoller.model_validate(
        {
            "type": "sql",
            "name": "mirth",
            "url": store,
            "query": QUERY,
            "timezone": "America/Chicago",
            "stuck_after": "5m",
        }
    )
    source = SqlStoreSource(config)
    p = Poller(config, source, clock=clock)
    result = p.poll()
    charges = values(result, "charges-outbound")
    assert charges[names.DEPTH] == 3
    assert charges[names.OLDEST_AGE] == pytest.approx(50 * 60)
    adt = values(result, "adt-inbound")
    assert (adt[names.DEPTH], adt[names.OLDEST_AGE]) == (0, 0)

    # Nothing is sent any more while messages keep arriving: the head ages with the clock -> stuck.
    stuck = []
    for minute in range(1, 7):
        clock.advance(60)
        queued(store, 100 + minute, 1, datetime.fromtimestamp(clock.now, UTC))
        sample = values(p.poll(), "charges-outbound")
        assert sample[names.DEPTH] == 3 + minute
        assert sample[names.OLDEST_AGE] == pytest.approx(50 * 60 + minute * 60)
        stuck.append(sample[names.STUCK])
    assert stuck == [0, 0, 0, 0, 1, 1]
    source.close()


def test_a_query_missing_required_columns_is_a_poll_error(store: str, clock: ManualClock) -> None:
    execute(store, *SCHEMA)
    config = SqlPoller.model_validate(
        {"type": "sql", "name": "bad", "url": store, "query": "SELECT name AS channel FROM channel"}
    )
    execute(store, "INSERT INTO channel VALUES (1, 'x')")
    source = SqlStoreSource(config)
    result = Poller(config, source, clock=clock).poll()
    source.close()
    assert not result.ok and "must return the columns queue and depth" in (result.error or "")


@pytest.mark.postgres
def test_postgres_on_a_closed_port_is_a_recorded_error(clock: ManualClock) -> None:
    errors: list[str] = []
    config = SqlPoller.model_validate(
        {
            "type": "sql",
            "name": "down",
            "url": f"postgresql://root:secret@127.0.0.1:{free_port()}/x",
            "query": QUERY,
            "timeout": "2s",
        }
    )
    source = SqlStoreSource(config)
    result = Poller(config, source, clock=clock, on_error=errors.append).poll()
    source.close()
    assert not result.ok and errors == ["down"]
    assert "secret" not in (result.error or "")

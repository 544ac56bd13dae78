from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from collector.queues import names
from collector.queues.config import RedisPoller
from collector.queues.poller import Poller
from collector.queues.samples import QueueReading
from collector.queues.source import InMemorySource
from tests.collector.queues.conftest import ManualClock


def config(**overrides: object) -> RedisPoller:
    base: dict[str, object] = {"type": "redis", "name": "mem", "stuck_after": 600, "system": "billing"}
    return RedisPoller.model_validate({**base, **overrides})


def rows_named(result_rows: tuple[dict[str, Any], ...], name: str) -> list[tuple[dict[str, object], float]]:
    return [(orjson.loads(str(r["attributes"])), float(r["value"])) for r in result_rows if r["name"] == name]


def test_samples_become_rows_with_standard_names_attributes_and_queue_column() -> None:
    source, clock = InMemorySource("redis"), ManualClock(1000.0)
    source.set([QueueReading("charges-outbound", (("group", "billing"),), depth=4, unacked=1, consumers=2)])
    result = Poller(config(), source, clock=clock).poll()
    assert result.ok
    depth = [r for r in result.rows if r["name"] == names.DEPTH]
    assert len(depth) == 1
    row = depth[0]
    assert row["value"] == 4 and row["queue"] == "charges-outbound" and row["time_unix_nano"] == 1000 * 10**9
    assert orjson.loads(str(row["attributes"])) == {
        "queue": "charges-outbound",
        "group": "billing",
        "broker": "redis",
        "poller": "mem",
        "hc.system": "billing",
    }
    assert rows_named(result.rows, names.POLLER_UP)[0][1] == 1.0
    assert rows_named(result.rows, names.STUCK)[0][1] == 0.0
    # The same series keeps its id from poll to poll.
    clock.advance(30)
    again = next(r for r in Poller(config(), source, clock=clock).poll().rows if r["name"] == names.DEPTH)
    assert again["series_id"] == row["series_id"] and again["time_unix_nano"] != row["time_unix_nano"]


def test_a_failing_broker_is_recorded_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    errors: list[str] = []
    source = InMemorySource("redis")
    source.fail(ConnectionRefusedError("[Errno 111] redis://user:pw@127.0.0.1:1 refused"))
    poller = Poller(config(), source, clock=ManualClock(5.0), on_error=errors.append)
    with caplog.at_level(logging.ERROR):
        result = poller.poll()
        poller.poll()
    assert not result.ok and "ConnectionRefusedError" in (result.error or "")
    assert "pw" not in (result.error or "") and "***@" in (result.error or "")
    assert errors == ["mem", "mem"]
    assert rows_named(result.rows, names.POLLER_UP) == [
        ({"broker": "redis", "poller": "mem", "hc.system": "billing"}, 0.0)
    ]
    assert (
        sum("failed" in r.message for r in caplog.records) == 1
    )  # logged once per outage, counted every time
    source.set([QueueReading("q", depth=1)])
    assert poller.poll().ok


def test_a_queue_that_disappears_is_reported_once_and_a_configured_missing_one_every_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, clock = InMemorySource("redis"), ManualClock(0.0)
    poller = Poller(config(), source, clock=clock)
    source.set([QueueReading("a", depth=1), QueueReading("b", depth=2)], missing=["c"])
    first = poller.poll()
    assert first.missing == ("c",)
    assert sorted((a["queue"], v) for a, v in rows_named(first.rows, names.PRESENT)) == [
        ("a", 1),
        ("b", 1),
        ("c", 0),
    ]
    source.set([QueueReading("a", depth=1)], missing=["c"])
    clock.advance(30)
    with caplog.at_level(logging.WARNING):
        second = poller.poll()
    assert second.disappeared == ("b",)
    assert sorted((a["queue"], v) for a, v in rows_named(second.rows, names.PRESENT)) == [
        ("a", 1),
        ("b", 0),
        ("c", 0),
    ]
    assert any("queue b disappeared from poller mem" in r.message for r in caplog.records)
    clock.advance(30)
    third = poller.poll()
    assert third.disappeared == ()
    assert sorted((a["queue"], v) for a, v in rows_named(third.rows, names.PRESENT)) == [("a", 1), ("c", 0)]


def test_stuck_turns_on_after_stuck_after_of_growth_without_consumers_and_off_when_drained() -> None:
    source, clock = InMemorySource("redis"), ManualClock(0.0)
    poller = Poller(config(stuck_after=600), source, clock=clock)
    stuck = []
    for minute, (depth, consumers) in enumerate(
        [(5, 1), (6, 0), (8, 0), (10, 0), (12, 0), (14, 0), (16, 0), (18, 0), (3, 1)]
    ):
        clock.now = minute * 150.0
        source.set([QueueReading("q", depth=depth, consumers=consumers)])
        stuck.append(rows_named(poller.poll().rows, names.STUCK)[0][1])
    # 150 s polls: consumers gone from t=150; 600 s of no consumers and growth first at t=750.
    assert stuck == [0, 0, 0, 0, 0, 1, 1, 1, 0]


def test_rename_maps_broker_names_to_vitals_names() -> None:
    source = InMemorySource("redis")
    source.set([QueueReading("CHG_OUT", depth=2)], missing=["ADT_IN"])
    renamed = config(rename={"CHG_OUT": "charges-outbound", "ADT_IN": "adt-inbound"})
    result = Poller(renamed, source, clock=ManualClock(1000.0)).poll()
    assert [s.queue for s in result.samples] == ["charges-outbound"]
    assert result.missing == ("adt-inbound",)

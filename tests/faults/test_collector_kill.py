"""A collector killed with SIGKILL under load: its clients carry on with the other, nothing lost or doubled.

Two ``vitals serve --components none`` over one PostgreSQL take any request (collectors are
stateless); clients send batches without pause to both, each batch until one acknowledges it,
as an OTLP exporter with retries would. One collector is killed mid-run: requests in flight on
it fail (a batch it may have committed but not acknowledged is sent again to the other, and the
store keeps it once), and every acknowledged span is stored.
"""

from __future__ import annotations

import signal
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.collector.harness import served
from tests.faults.helpers import Feeder, stored_ids, wait_for
from vitals.kernel.db import create_engine

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CLIENTS = 4


def test_a_collector_killed_under_load_loses_no_acknowledged_span(pg_url: str, tmp_path: Path) -> None:
    engine = create_engine(pg_url)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        a = stack.enter_context(served(pg_url, tmp_path / "a"))
        b = stack.enter_context(served(pg_url, tmp_path / "b"))
        feeders = [Feeder([a.url, b.url], size=50) for _ in range(CLIENTS)]
        for feeder in feeders:
            feeder.start()

        def sent() -> int:
            assert all(f.error is None for f in feeders), [f.error for f in feeders]
            return sum(f.batches for f in feeders)

        wait_for(lambda: sent() >= 40, 60, "load on both collectors")
        a.process.send_signal(signal.SIGKILL)
        a.process.wait(10)
        at_kill = sent()
        wait_for(lambda: sent() >= at_kill + 40, 90, "the clients carry on with the survivor")
        for feeder in feeders:
            feeder.stopping.set()
        for feeder in feeders:
            feeder.join(120)
        assert all(f.error is None for f in feeders), [f.error for f in feeders]
        assert b.process.poll() is None
        ids = stored_ids(engine)
    acknowledged = set().union(*(f.sender.acknowledged for f in feeders))
    statuses: dict[int, int] = {}
    for feeder in feeders:
        for status, count in feeder.sender.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    assert set(ids) == acknowledged  # acknowledged = stored (no batch is left half sent)
    assert len(ids) == len(set(ids))  # nothing duplicated, though some batches were sent twice
    print(
        f"\ncollector killed under load: {CLIENTS} clients, {sum(f.batches for f in feeders)} batches, "
        f"{len(ids)} spans acknowledged and stored once; answers {dict(sorted(statuses.items()))} "
        "(0 = connection refused or cut)"
    )

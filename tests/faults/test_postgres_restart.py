"""PostgreSQL restarted during ingest: retryable answers while it is down, recovery without help.

A client sends batches without pause, each until acknowledged, to a ``vitals serve`` over a
PostgreSQL of the test's own (``tests.support.private_postgres``: the machine's shared server is
never restarted). While the database is down the collector answers 503 (OTLP/HTTP) and
UNAVAILABLE (OTLP/gRPC), both retryable; once it is back, the same process acknowledges again,
and every acknowledged span is stored, none twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.collector.harness import served
from tests.faults.helpers import Feeder, batch, stored_ids, wait_for
from tests.support.private_postgres import PrivatePostgres, private_postgres
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


def _grpc_status(port: int, body: bytes) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            channel.unary_unary(EXPORT)(body, timeout=30)
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
    return grpc.StatusCode.OK


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restarted_during_ingest_loses_no_acknowledged_span(
    pg: PrivatePostgres, tmp_path: Path, mode: str
) -> None:
    engine = create_engine(pg.url)
    try:
        with served(pg.url, tmp_path) as server:
            feeder = Feeder([server.url])
            feeder.start()
            wait_for(
                lambda: feeder.batches >= 10 or feeder.error is not None, 60, "ingest before the restart"
            )
            pg.stop(mode)
            before = feeder.batches
            # Down: the collector refuses with retryable answers, over both protocols.
            wait_for(
                lambda: feeder.refused() >= 3 or feeder.error is not None, 60, "503s while PostgreSQL is down"
            )
            grpc_code = _grpc_status(server.grpc_port, batch(5).body)
            acknowledged_while_down = feeder.batches - before
            pg.start()
            # Back: the same collector process acknowledges again, by itself.
            after = feeder.batches
            wait_for(
                lambda: feeder.batches >= after + 10 or feeder.error is not None,
                90,
                "ingest after the restart",
            )
            feeder.stopping.set()
            feeder.join(120)
            assert feeder.error is None, feeder.error
            assert server.process.poll() is None  # recovered without a restart of its own
        ids = stored_ids(engine)
    finally:
        engine.dispose()
    assert grpc_code == grpc.StatusCode.UNAVAILABLE
    assert acknowledged_while_down <= 1  # at most the batch committed just before the stop
    assert set(ids) == feeder.sender.acknowledged  # acknowledged = stored
    assert len(ids) == len(set(ids))  # none twice
    print(
        f"\nPostgreSQL {mode} restart during ingest: {feeder.batches} batches, {len(ids)} spans acknowledged "
        f"and stored; answers {dict(sorted(feeder.sender.statuses.items()))}; "
        f"gRPC while down {grpc_code.name}"
    )

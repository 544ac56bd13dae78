"""Through a real ``vitals serve``: queue gauges exported by the OpenTelemetry SDK with the
OpenTelemetry Collector rabbitmq receiver's names land under the standard names, and the
configured pollers sample next to them."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import redis
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from collector.queues import names
from tests.collector.queues.conftest import stored, wait_for
from tests.support.services import free_port, require
from vitals.kernel.db import create_engine

pytestmark = [pytest.mark.e2e, pytest.mark.brokers]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    require("redis")
    stream = f"vitals-test:{uuid.uuid4().hex[:10]}"
    client = redis.Redis()
    client.xadd(stream, {"n": 1})
    client.xgroup_create(stream, "billing", id="0")
    config = tmp_path / "config"
    config.mkdir()
    (config / "collector.yaml").write_text(
        "pollers:\n"
        f"  - {{name: streams, type: redis, interval: 1s, streams: ['{stream}'], system: billing}}\n"
    )
    db = f"sqlite:///{tmp_path / 'vitals.db'}"
    port = free_port()
    env = {**os.environ, "VITALS_COMPONENTS": "queues", "VITALS_HASH_SECRET": "test-secret"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vitals",
            "serve",
            "--db",
            db,
            "--config",
            str(config),
            "--http-port",
            str(port),
            "--grpc-port",
            str(free_port()),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            return False

    try:
        wait_for(healthy, timeout=60)
        yield db, f"http://127.0.0.1:{port}", stream
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()
        client.delete(stream)
        client.close()


def test_pushed_rabbitmq_receiver_gauges_are_mapped_and_pollers_sample(served: tuple[str, str, str]) -> None:
    db, url, stream = served

    def ready(_options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(17, {"state": "ready"})
        yield Observation(3, {"state": "unacknowledged"})

    resource = Resource.create({"service.name": "otel-collector", "rabbitmq.queue.name": "charges-outbound"})
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{url}/v1/metrics"), export_interval_millis=60_000
    )
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    provider.get_meter("rabbitmq").create_observable_gauge(
        "rabbitmq.message.current", [ready], unit="{messages}"
    )
    assert provider.force_flush(timeout_millis=10_000)
    provider.shutdown()

    engine = create_engine(db)
    try:
        depth = wait_for(lambda: stored(engine, names.DEPTH, queue="charges-outbound"), timeout=30)
        unacked = stored(engine, names.UNACKED, queue="charges-outbound")
        # force_flush and shutdown each export once: one or two points, all with the pushed values.
        assert {p["value"] for p in depth} == {17.0} and {p["value"] for p in unacked} == {3.0}
        assert depth[0]["queue"] == "charges-outbound" and depth[0]["service_name"] == "otel-collector"
        assert depth[0]["attributes"] == {"queue": "charges-outbound", "broker": "rabbitmq"}
        polled = wait_for(lambda: stored(engine, names.DEPTH, queue=stream, poller="streams"), timeout=30)
        assert polled[0]["value"] == 1.0 and polled[0]["attributes"]["hc.system"] == "billing"
    finally:
        engine.dispose()

"""/metrics of ``vitals serve --workers N`` covers the instance: every worker's series, labelled."""

from __future__ import annotations

import urllib.request
from collections import Counter as Tally
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.vitals.shell.test_workers import _send, workers
from vitals.shell.worker_metrics import ExpositionServer, InstanceExposition, fetch, merge, socket_path


def worker_registry(requests: int, queue: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("vitals_collector_requests", "requests", ["status"], registry=registry).labels("200").inc(
        requests
    )
    Gauge("vitals_collector_writer_queue_depth", "queue", registry=registry).set(queue)
    return registry


def samples(text: bytes, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_merge_labels_every_sample_with_its_worker_and_notes_who_answered() -> None:
    text = merge(
        {
            "0": generate_latest(worker_registry(3, 1)),
            "1": generate_latest(worker_registry(5, 2)),
            "2": None,  # restarting: no answer
        }
    )
    assert samples(text, "vitals_collector_requests_total") == {
        (("status", "200"), ("worker", "0")): 3.0,
        (("status", "200"), ("worker", "1")): 5.0,
    }
    assert samples(text, "vitals_collector_writer_queue_depth") == {
        (("worker", "0"),): 1.0,
        (("worker", "1"),): 2.0,
    }
    assert samples(text, "vitals_serve_worker_scraped") == {
        (("worker", "0"),): 1.0,
        (("worker", "1"),): 1.0,
        (("worker", "2"),): 0.0,
    }
    # One family per name: a valid exposition, not two workers' texts side by side.
    assert text.decode().count("# TYPE vitals_collector_requests_total counter") == 1


def test_a_sample_that_names_its_worker_keeps_it() -> None:
    registry = CollectorRegistry()
    Gauge("vitals_serve_worker", "w", ["worker", "workers"], registry=registry).labels("1", "2").set(1)
    text = merge({"1": generate_latest(registry)})
    assert samples(text, "vitals_serve_worker") == {(("worker", "1"), ("workers", "2")): 1.0}


def test_a_scrape_of_one_worker_reads_the_others_over_their_sockets(tmp_path: Path) -> None:
    registries = [worker_registry(3, 0), worker_registry(4, 0)]
    server = ExpositionServer(registries[1], socket_path(tmp_path, 1))
    server.start()
    try:
        assert fetch(socket_path(tmp_path, 1)) == generate_latest(registries[1])
        text = InstanceExposition(str(tmp_path), 0, 2)(registries[0])
    finally:
        server.stop()
    assert sum(samples(text, "vitals_collector_requests_total").values()) == 7.0
    assert not Path(socket_path(tmp_path, 1)).exists()
    # Worker 1 gone: its series are missing and the scrape says so, promptly.
    alone = InstanceExposition(str(tmp_path), 0, 2, timeout=0.5)(registries[0])
    assert samples(alone, "vitals_serve_worker_scraped")[(("worker", "1"),)] == 0.0


@pytest.mark.e2e
@pytest.mark.postgres
def test_one_scrape_counts_the_requests_every_worker_took(pg_url: str, tmp_path: Path) -> None:
    with workers(pg_url, tmp_path, 2) as served:
        sent: Tally[str] = Tally()
        while set(sent) != {"0", "1"} or sum(sent.values()) < 10:
            assert sum(sent.values()) < 2000
            sent[_send(served.http_port, sum(sent.values()))] += 1
        for _ in range(4):  # whichever worker answers the scrape, it counts both
            with urllib.request.urlopen(
                f"http://127.0.0.1:{served.http_port}/metrics", timeout=30
            ) as response:
                text = response.read()
            counted = samples(text, "vitals_collector_requests_total")
            per_worker = {
                dict(labels)["worker"]: value
                for labels, value in counted.items()
                if dict(labels).get("transport") == "http" and dict(labels).get("status") == "200"
                and dict(labels).get("signal") == "traces"
            }  # fmt: skip
            assert per_worker == {"0": sent["0"], "1": sent["1"]}
            assert samples(text, "vitals_serve_worker_scraped") == {
                (("worker", "0"),): 1.0,
                (("worker", "1"),): 1.0,
            }

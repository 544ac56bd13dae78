"""/metrics for the whole of ``vitals serve --workers N``, whichever worker a scrape lands on.

The workers share the port with ``SO_REUSEPORT``, so a scrape reaches one of them at random: a
counter that came from that worker alone would jump up and down between scrapes and miss most of
the instance's work. Each worker therefore serves its own registry's exposition on a Unix socket
in a directory private to the serve instance (the parent makes it at start, fresh and mode 0700,
and removes it at exit), and the worker that answers a scrape reads every other worker's there
and returns them all, each sample labelled ``worker="<index>"``: one scrape covers the instance,
and ``sum without (worker) (...)`` gives its totals. A worker's series restart at zero when the
worker is restarted, which Prometheus reads as a counter reset of that worker's series only.

Why not prometheus_client's multiprocess mode: it keeps only what its file-backed values hold, so
the gauges computed at scrape time (the writer's queue, the job leases, the process's memory and
CPU) would vanish or be wrong, and it needs its directory set before the library is imported in
every process. Asking each worker for its own full exposition keeps every metric as it is.

``vitals_serve_worker_scraped{worker="i"}`` is 1 when worker ``i`` answered the scrape, 0 when it
did not within ``FETCH_TIMEOUT_S`` (starting or being restarted): its series are missing from
that scrape only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = [
    "FETCH_TIMEOUT_S",
    "ExpositionServer",
    "InstanceExposition",
    "fetch",
    "merge",
    "socket_path",
]

log = logging.getLogger(__name__)

#: How long the answering worker waits for another worker's exposition.
FETCH_TIMEOUT_S = 2.0
SCRAPED = "vitals_serve_worker_scraped"
SCRAPED_HELP = (
    "1 when this scrape got the metrics of this worker of vitals serve, 0 when it did not answer in time"
)


def socket_path(directory: str | Path, index: int) -> str:
    """Where worker ``index`` serves its own exposition."""
    return str(Path(directory) / f"worker-{index}.sock")


class ExpositionServer:
    """One worker's registry, served as Prometheus text to whoever connects to its socket (the
    other workers of the instance: the socket's directory is the serve instance's, mode 0700)."""

    def __init__(self, registry: CollectorRegistry, path: str) -> None:
        self.registry = registry
        self.path = path
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a restarted worker's predecessor left its socket
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.path)
        sock.listen(8)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="worker-metrics", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed by stop()
            with conn:
                try:
                    conn.sendall(generate_latest(self.registry))
                except OSError as exc:
                    log.debug("worker metrics: the reader went away: %s", exc)

    def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def fetch(path: str, timeout: float = FETCH_TIMEOUT_S) -> bytes | None:
    """Another worker's exposition, or None when it does not answer in time."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
    except OSError:
        return None


class _Families(Collector):
    """A registry collector that yields already-built metric families (for rendering)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def _labelled(sample: Sample, worker: str) -> Sample:
    """``sample`` with its worker's label (a sample that names its worker already keeps it)."""
    return (
        sample if "worker" in sample.labels else sample._replace(labels={**sample.labels, "worker": worker})
    )


def merge(expositions: Mapping[str, bytes | None]) -> bytes:
    """One exposition from each worker's (worker index -> its text, None when it did not
    answer): every sample labelled with its worker (a sample that names its worker already keeps
    it), families of one name joined, and ``vitals_serve_worker_scraped`` per worker. Pure."""
    families: dict[str, Metric] = {}
    for worker, text in expositions.items():
        if text is None:
            continue
        for family in text_string_to_metric_families(text.decode("utf-8")):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type)
            elif merged.type != family.type:
                log.warning("worker %s: %s is a %s elsewhere; left out", worker, family.name, merged.type)
                continue
            merged.samples.extend(_labelled(sample, worker) for sample in family.samples)
    scraped = Metric(SCRAPED, SCRAPED_HELP, "gauge")
    for worker, text in expositions.items():
        scraped.add_sample(SCRAPED, {"worker": worker}, 0.0 if text is None else 1.0)
    families[SCRAPED] = scraped
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families.values()))
    return generate_latest(registry)


class InstanceExposition:
    """The /metrics body of worker ``index`` of ``count``: its own registry and every other
    worker's, read from their sockets in ``directory`` (``collector.service.ServeOptions``)."""

    def __init__(self, directory: str, index: int, count: int, timeout: float = FETCH_TIMEOUT_S) -> None:
        self.directory = directory
        self.index = index
        self.count = count
        self.timeout = timeout

    def __call__(self, registry: CollectorRegistry) -> bytes:
        texts: dict[str, bytes | None] = {}
        for worker in range(self.count):
            if worker == self.index:
                texts[str(worker)] = generate_latest(registry)
            else:
                texts[str(worker)] = fetch(socket_path(self.directory, worker), self.timeout)
        return merge(texts)

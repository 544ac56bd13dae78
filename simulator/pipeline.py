"""Export jobs in background threads that never drop data: retried until acknowledged or failed loudly.

The OpenTelemetry SDK's batch processors drop telemetry when their queue is full and forget a
failed export; a back-fill pushes far faster than a collector commits, so the simulator needs the
opposite: the producer waits when exports fall behind, and an export that keeps failing stops the
run with an error that says so.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """The collector kept refusing or could not be reached until the retry deadline."""


@dataclass
class ExportStats:
    spans: int = 0
    metric_points: int = 0
    requests: int = 0
    retries: int = 0


class ExportPipeline:
    """Background threads that run export jobs, retrying each until it succeeds.

    ``submit`` blocks while ``workers`` jobs wait, so at most ``2 * workers + 1`` batches are in
    memory and nothing is ever dropped; several requests in flight hide the collector's commit
    latency. With ``workers=0`` jobs run in the caller's thread (deterministic unit tests). A job
    that still fails at its deadline becomes an ``ExportError`` raised in the submitting thread at
    its next ``submit``, ``flush`` or ``close``.
    """

    def __init__(self, retry_for_s: float, workers: int = 2, first_retry_s: float = 0.5) -> None:
        self.retry_for_s = retry_for_s
        self.first_retry_s = first_retry_s
        self.stats = ExportStats()
        self._error: ExportError | None = None
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Callable[[], bool], str, int, str] | None] = queue.Queue(
            maxsize=max(1, workers)
        )
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"vitals-simulator-export-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Callable[[], bool], what: str, count: int, signal: str) -> None:
        self.raise_if_failed()
        if not self._threads:
            self._run(job, what, count, signal)
            self.raise_if_failed()
            return
        self._queue.put((job, what, count, signal))

    def flush(self) -> None:
        if self._threads:
            self._queue.join()
        self.raise_if_failed()

    def close(self) -> None:
        alive = [thread for thread in self._threads if thread.is_alive()]
        if alive:
            self._queue.join()
            for _ in alive:
                self._queue.put(None)
            for thread in alive:
                thread.join()
        self.raise_if_failed()

    def abort(self) -> None:
        """Stop retrying (Ctrl-C while the collector is down): pending jobs fail at once."""
        self._stopping.set()

    @property
    def failed(self) -> bool:
        return self._error is not None or self._stopping.is_set()

    def raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    self._run(*job)
            finally:
                self._queue.task_done()

    def _run(self, job: Callable[[], bool], what: str, count: int, signal: str) -> None:
        deadline = time.monotonic() + self.retry_for_s
        delay = self.first_retry_s
        while True:
            with self._lock:
                self.stats.requests += 1
            try:
                ok = job()
            except Exception as exc:  # an exporter bug must not hang the run
                log.debug("export raised", exc_info=True)
                ok, reason = False, f"{type(exc).__name__}: {exc}"
            else:
                reason = "the collector refused it or could not be reached (see the exporter's log above)"
            if ok:
                with self._lock:
                    if signal == "spans":
                        self.stats.spans += count
                    else:
                        self.stats.metric_points += count
                return
            if self._stopping.is_set() or time.monotonic() + delay > deadline:
                self._error = ExportError(f"exporting {what} failed for {self.retry_for_s:.0f}s: {reason}")
                return
            with self._lock:
                self.stats.retries += 1
            log.warning("exporting %s failed; retrying in %.1fs", what, delay)
            self._stopping.wait(delay)
            delay = min(delay * 2, 8.0)


__all__ = ["ExportError", "ExportPipeline", "ExportStats"]

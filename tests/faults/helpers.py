"""What the fault tests share: OTLP batches with known ids, sending with retries, counting what is stored."""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.tables import spans
from tests.collector.otlp import span, trace_request
from vitals.kernel.lease import Lease, all_leases

#: Statuses a collector answers when the request may be sent again as it is (OTLP/HTTP).
RETRYABLE = {429, 502, 503, 504}


@dataclass
class Batch:
    """One OTLP/HTTP request body and the ``trace_id:span_id`` of the spans in it."""

    body: bytes
    ids: frozenset[str]


def batch(size: int, name: str = "erp.gl.post") -> Batch:
    """``size`` spans with fresh ids, timed now (so no retention deletes them mid-test)."""
    now = time.time_ns()
    made = [span(name, trace_id=os.urandom(16), span_id=os.urandom(8), start=now) for _ in range(size)]
    ids = frozenset(f"{s.trace_id.hex()}:{s.span_id.hex()}" for s in made)
    return Batch(trace_request(*made).SerializeToString(), ids)


def post_once(url: str, body: bytes, timeout: float = 10.0) -> int:
    """The HTTP status of one OTLP/HTTP export; 0 when the connection failed (nobody answered)."""
    request = urllib.request.Request(
        f"{url}/v1/traces", data=body, method="POST", headers={"Content-Type": "application/x-protobuf"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


@dataclass
class Sender:
    """A client that sends each batch until one collector acknowledges it (as an OTLP exporter
    with retries would), round-robin over ``urls``; it remembers what was acknowledged."""

    urls: Sequence[str]
    acknowledged: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    attempts: int = 0
    #: Where the next batch goes first (batches alternate between collectors).
    turn: int = 0

    def send(self, b: Batch, deadline_s: float = 60.0, pause: Callable[[float], object] = time.sleep) -> None:
        deadline = time.monotonic() + deadline_s
        self.turn += 1
        turn = self.turn
        while True:
            status = post_once(self.urls[turn % len(self.urls)], b.body)
            self.attempts += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                self.acknowledged |= b.ids
                return
            assert status in RETRYABLE or status == 0, f"not retryable: HTTP {status}"
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no collector acknowledged a batch within {deadline_s}s: {self.statuses}"
                )
            turn += 1
            pause(0.05)


class Feeder(threading.Thread):
    """Sends batches one after another, each until acknowledged, until told to stop."""

    def __init__(self, urls: Sequence[str], size: int = 25) -> None:
        super().__init__(daemon=True)
        self.sender = Sender(urls)
        self.size = size
        self.stopping = threading.Event()
        self.batches = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.sender.send(batch(self.size), deadline_s=90, pause=self.stopping.wait)
                self.batches += 1
        except BaseException as exc:  # reported by the test
            self.error = exc

    def refused(self) -> int:
        return sum(n for status, n in self.sender.statuses.items() if status in RETRYABLE)


def stored_ids(engine: Engine) -> list[str]:
    """Every stored span as ``trace_id:span_id``, duplicates kept (so a test can count them)."""
    with engine.connect() as conn:
        rows = conn.execute(select(spans.c.trace_id, spans.c.span_id)).all()
    return [f"{r.trace_id}:{r.span_id}" for r in rows]


def span_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(spans)).scalar_one())


def leases_by_name(engine: Engine) -> dict[str, Lease]:
    with engine.connect() as conn:
        return {lease.name: lease for lease in all_leases(conn)}


def wait_for(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> float:
    """Poll ``condition`` until true; the seconds it took (an AssertionError after ``timeout``)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(step)
    return time.monotonic() - started

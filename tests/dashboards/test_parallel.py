"""Page queries started side by side: results in order, errors where they are read."""

from __future__ import annotations

import threading

import pytest

from dashboards.ui.parallel import Batch


def test_calls_run_in_worker_threads_and_the_block_waits_for_all() -> None:
    started = threading.Barrier(3, timeout=10)  # three calls at once, or none gets past the barrier

    def call(n: int, *, times: int) -> tuple[int, str]:
        started.wait()
        return n * times, threading.current_thread().name

    with Batch(workers=3) as batch:
        futures = [batch.submit(call, n, times=10) for n in (1, 2, 3)]
    assert all(f.done() for f in futures)
    results = [f.result() for f in futures]
    assert [value for value, _ in results] == [10, 20, 30]
    assert all(name.startswith("vitals-query") for _, name in results)


def test_an_error_in_one_call_is_raised_where_its_result_is_read() -> None:
    def fail() -> int:
        raise ValueError("no such SLA")

    with Batch() as batch:
        bad, good = batch.submit(fail), batch.submit(lambda: 7)
    assert good.result() == 7
    with pytest.raises(ValueError, match="no such SLA"):
        bad.result()

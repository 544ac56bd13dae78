"""The stop's budget and its last resort, the watchdog (``collector.stopping``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from collector.stopping import EXIT_UNFINISHED, StopBudget, aiohttp_grace


@pytest.mark.parametrize("timeout", [0.0, 0.1, 3.0, 30.0, 600.0])
def test_the_phases_end_in_order_within_the_timeout(timeout: float) -> None:
    budget = StopBudget(100.0, timeout)
    assert budget.started <= budget.requests_end + 1e-9
    assert budget.requests_end <= budget.components_end <= budget.end <= budget.deadline
    assert budget.deadline == 100.0 + timeout
    # aiohttp waits its grace twice before it cancels a handler: both within the requests' share.
    assert aiohttp_grace(timeout) > 0
    assert timeout == 0 or 2 * aiohttp_grace(timeout) <= budget.requests_end - budget.started + 1e-9


def test_the_default_timeout_gives_requests_most_of_it() -> None:
    budget = StopBudget(0.0, 30.0)
    assert (budget.requests_end, budget.components_end, budget.end) == (19.5, 24.5, 29.5)


@pytest.mark.e2e
def test_the_watchdog_ends_a_process_that_a_thread_would_keep_alive() -> None:
    """A non-daemon thread that never ends keeps the interpreter from exiting; the watchdog logs
    what is still running and exits with ``EXIT_UNFINISHED``."""
    script = textwrap.dedent(
        """
        import logging, threading, time
        from collector.stopping import Watchdog
        logging.basicConfig(level=logging.INFO)
        threading.Thread(target=threading.Event().wait, name="never-ends").start()
        Watchdog(time.monotonic() + 0.2, lambda: "the test's thread").start()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == EXIT_UNFINISHED
    assert "the shutdown timeout passed; exiting now. Still running: the test's thread" in done.stderr

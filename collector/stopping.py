"""A stop that ends on time: one deadline for every phase of the collector's stop.

SIGTERM must be honoured within ``--shutdown-timeout`` whatever the process is doing: a request
being redacted, a client that never finishes its body, a store that hangs, a scheduler job
blocked on a broker. Each phase of the stop gets a share of one budget that starts when the
signal arrives; a phase that outlasts its share is left behind and named in the log. Threads
left behind would keep the interpreter from exiting (it joins the worker threads of every
``ThreadPoolExecutor`` at exit, and ``asyncio.run`` waits for its default executor without a
limit), so ``vitals serve`` then ends with ``os._exit`` after flushing its log. That loses
nothing acknowledged: a request is answered only after its commit, and whatever was still in
progress was never answered, so its client retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED, JobEvent

log = logging.getLogger("vitals.serve")

#: The exit status of ``vitals serve`` when the shutdown timeout passed with work still running
#: (named in the log): everything acknowledged is committed, the rest was never acknowledged.
EXIT_UNFINISHED = 3

_exiting = threading.Lock()


@dataclass(frozen=True)
class StopBudget:
    """When each phase of a stop must be over, counted from the signal (``time.monotonic``).

    In order: requests in progress may finish normally until ``requests_end`` (then they are
    cancelled, unanswered); the listeners, the scheduler's running jobs and the components' stop
    hooks must be done by ``components_end``; the writer commits what is queued until ``end``;
    the last ``margin`` is kept for exiting.
    """

    started: float
    timeout: float

    @property
    def margin(self) -> float:
        return min(0.5, self.timeout / 10)

    @property
    def reserve(self) -> float:
        """The writer's share at the end (and the slack for cancelling requests before it)."""
        return min(5.0, self.timeout / 4)

    @property
    def end(self) -> float:
        return self.started + self.timeout - self.margin

    @property
    def components_end(self) -> float:
        return self.end - self.reserve

    @property
    def requests_end(self) -> float:
        return self.components_end - self.reserve

    @property
    def deadline(self) -> float:
        return self.started + self.timeout

    @staticmethod
    def left(until: float) -> float:
        """Seconds from now until ``until`` (0 when it has passed)."""
        return max(0.0, until - time.monotonic())


def aiohttp_grace(timeout: float) -> float:
    """The ``shutdown_timeout`` of the HTTP server's runner for a stop of ``timeout`` seconds.

    aiohttp waits that long for handlers, then fails their body reads and waits as long again
    before it cancels them: half the requests' share each. Never 0, which aiohttp reads as "no
    limit".
    """
    budget = StopBudget(0.0, timeout)
    return max(budget.requests_end / 2, 0.001)


async def within(work: Awaitable[Any], seconds: float) -> bool:
    """Await ``work`` for at most ``seconds``; False if it did not finish (it is left running,
    not cancelled: cancelling can wait as long as the work itself)."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("a stop phase failed: %s", type(task.exception()).__name__)
        return True
    return False


async def in_thread(name: str, work: Callable[[], object], seconds: float) -> bool:
    """Run blocking ``work`` on a daemon thread of its own for at most ``seconds``.

    Not the loop's default executor: ``asyncio.run`` waits for that one without a limit at
    exit. A thread that outlasts ``seconds`` is left behind (daemon threads do not keep the
    process alive). An exception is logged with ``name``; False only when time ran out.
    """
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not finished.done():
            finished.set_result(None)

    def run() -> None:
        try:
            work()
        except Exception:
            log.exception("%s failed", name)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
                loop.call_soon_threadsafe(settle)

    threading.Thread(target=run, name=f"vitals-stop: {name}", daemon=True).start()
    done, _ = await asyncio.wait({finished}, timeout=seconds)
    return finished in done


class RunningJobs:
    """The scheduler's jobs running now, by id (a scheduler listener), to name the ones a stop
    has to leave behind."""

    MASK = EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()

    def observe(self, event: JobEvent) -> None:
        with self._lock:
            if event.code == EVENT_JOB_SUBMITTED:
                self._running[event.job_id] += 1
            else:
                self._running[event.job_id] -= 1
                if self._running[event.job_id] <= 0:
                    del self._running[event.job_id]

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._running)


def lingering_threads() -> list[str]:
    """Threads that would keep the interpreter from exiting (non-daemon, other than this one)."""
    current = threading.current_thread()
    return sorted(
        thread.name
        for thread in threading.enumerate()
        if thread.is_alive() and not thread.daemon and thread is not current
        and thread is not threading.main_thread()
    )  # fmt: skip


def exit_now(code: int) -> NoReturn:
    """Flush the log and end the process at once, without joining threads (``os._exit``)."""
    _exiting.acquire()  # a second caller (the watchdog, the stop) waits here for the first to exit
    with contextlib.suppress(Exception):
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class Watchdog:
    """The last resort: at ``deadline`` (monotonic), if the process is still alive, log what is
    still running and exit with ``EXIT_UNFINISHED``. The stop is meant to end before it; this
    covers what no phase can bound (an interpreter exit that waits on a thread, say)."""

    def __init__(self, deadline: float, describe: Callable[[], str]) -> None:
        self._deadline = deadline
        self._describe = describe
        self._thread = threading.Thread(target=self._run, name="vitals-stop-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def _run(self) -> None:
        time.sleep(StopBudget.left(self._deadline))
        with contextlib.suppress(Exception):
            log.error("the shutdown timeout passed; exiting now. Still running: %s", self._describe())
        exit_now(EXIT_UNFINISHED)


__all__ = [
    "EXIT_UNFINISHED",
    "RunningJobs",
    "StopBudget",
    "Watchdog",
    "aiohttp_grace",
    "exit_now",
    "in_thread",
    "lingering_threads",
    "within",
]

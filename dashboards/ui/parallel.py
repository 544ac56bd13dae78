"""Run a page's independent queries side by side.

A scorecard asks for a dozen independent things (one trend per SLA, the headline figures); one
after another they add up, while SQLite and PostgreSQL do their work with the GIL released, so
the second core (and the database server) can take a share of them. Each worker thread carries
the page's script-run context, so Streamlit's cache works in it as it does in the script thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import ParamSpec, TypeVar

from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

__all__ = ["WORKERS", "Batch"]

P = ParamSpec("P")
R = TypeVar("R")

#: Enough to overlap database time with Python time on a small machine without crowding it.
WORKERS = 4


class Batch:
    """Start calls now, read their results when the page lays them out; leaving the ``with``
    block waits for every call."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._ctx = get_script_run_ctx()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vitals-query")

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        def call() -> R:
            if self._ctx is not None:
                add_script_run_ctx(threading.current_thread(), self._ctx)
            return fn(*args, **kwargs)

        return self._pool.submit(call)

    def __enter__(self) -> Batch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pool.shutdown(wait=True, cancel_futures=error is not None)

"""Native memory of the processes ``vitals serve`` starts: fewer malloc arenas, freed pages given back.

A long soak showed the serve's resident memory growing (594 -> 1,001 MiB in 20 minutes on SQLite)
while tracemalloc saw no growth of Python objects: the growth was in the C heap. glibc gives every
thread that allocates concurrently an arena of its own, up to eight per core; a serve runs many
threads (the scheduler's pool, the event loop's executor, the writer's pipes, the store's
connections), each arena keeps the high-water mark of what its thread once held, and memory freed
in the middle of an arena is not returned to the system. Two defaults bound that:

- ``MALLOC_ARENA_MAX`` (2 unless already set): put in the environment before any worker or store
  writer process starts (glibc reads it when a process starts), and applied to this process
  with ``mallopt(M_ARENA_MAX)``, which bounds the arenas created from then on.
- ``malloc_trim(0)`` every ``VITALS_MALLOC_TRIM_S`` seconds (60; 0 turns it off) in each collector
  process: it returns the free pages of every arena, not only the top of the main heap. It runs
  only where the C library has it (glibc); elsewhere nothing is done.

The SQLite page cache of each connection is bounded too (``vitals.kernel.db``,
``VITALS_SQLITE_CACHE_MIB``). See docs/how-to/deploy.md for what to watch.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from vitals.kernel.runtime import ServiceContext

__all__ = [
    "ARENA_ENV",
    "DEFAULT_ARENAS",
    "DEFAULT_TRIM_S",
    "TRIM_ENV",
    "MemoryComponent",
    "Trimmer",
    "limit_arenas",
    "trim",
    "trim_interval",
]

log = logging.getLogger(__name__)

ARENA_ENV = "MALLOC_ARENA_MAX"
DEFAULT_ARENAS = "2"
TRIM_ENV = "VITALS_MALLOC_TRIM_S"
DEFAULT_TRIM_S = 60.0
#: mallopt(3) parameter number of M_ARENA_MAX in glibc's malloc.h.
M_ARENA_MAX = -8


def _glibc() -> Any | None:
    """This process's C library when it is glibc with ``malloc_trim`` and ``mallopt``; else None."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        libc = ctypes.CDLL(None)
    except (ValueError, OSError, AttributeError):
        return None
    if not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
        return None
    return libc


def limit_arenas(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Set ``MALLOC_ARENA_MAX`` for the processes started from now on (unless the operator set
    it), and apply it to this one on glibc; the value in effect, None when it is not a number."""
    env = os.environ if environ is None else environ
    value = env.setdefault(ARENA_ENV, DEFAULT_ARENAS).strip()
    if not value.isdigit() or int(value) < 1:
        log.warning("%s=%r is not a positive number: left to the C library", ARENA_ENV, value)
        return None
    libc = _glibc()
    if libc is not None:
        libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(int(value)))
    return value


def trim() -> bool | None:
    """``malloc_trim(0)``: whether memory was given back; None where there is no glibc."""
    libc = _glibc()
    if libc is None:
        return None
    return bool(libc.malloc_trim(ctypes.c_size_t(0)))


def trim_interval(environ: MutableMapping[str, str] | None = None) -> float:
    """Seconds between two trims (``VITALS_MALLOC_TRIM_S``, 60 by default; 0: never)."""
    raw = (os.environ if environ is None else environ).get(TRIM_ENV, "").strip()
    if not raw:
        return DEFAULT_TRIM_S
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{TRIM_ENV}={raw!r}: expected a number of seconds (0: never)") from None
    if seconds < 0:
        raise ValueError(f"{TRIM_ENV}={raw!r}: expected a number of seconds (0: never)")
    return seconds


class Trimmer:
    """``trim`` every ``interval_s`` on a thread of its own (the scheduler's jobs run only in
    worker 0, and every worker's heap needs it)."""

    def __init__(self, interval_s: float, trim_: Callable[[], bool | None] = trim) -> None:
        self.interval_s = interval_s
        self.trim = trim_
        self.trims = 0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        started = time.perf_counter()
        try:
            self.trim()
        except Exception as exc:  # never let a failed trim stop the process
            log.warning("malloc_trim failed: %s", exc)
        self.seconds += time.perf_counter() - started
        self.trims += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vitals-malloc-trim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


class MemoryComponent:
    """Installed by ``vitals serve`` in each collector process: the periodic trim."""

    __name__ = "vitals.shell.memory"

    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        self.environ = environ

    def install(self, ctx: ServiceContext) -> None:
        arenas = (os.environ if self.environ is None else self.environ).get(ARENA_ENV, "glibc's default")
        try:
            interval = trim_interval(self.environ)
        except ValueError as exc:
            log.warning("%s; trimming every %gs", exc, DEFAULT_TRIM_S)
            interval = DEFAULT_TRIM_S
        if interval <= 0 or _glibc() is None:
            why = f"{TRIM_ENV}=0" if interval <= 0 else "not glibc"
            ctx.status["memory"] = f"malloc arenas {arenas}; no periodic malloc_trim ({why})"
            return
        trimmer = Trimmer(interval)
        trimmer.start()
        ctx.on_stop.append(trimmer.stop)
        ctx.status["memory"] = f"malloc arenas {arenas}; malloc_trim every {interval:g}s"

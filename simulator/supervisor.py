"""Child processes for ``vitals demo``: started, logged, watched and stopped in order.

Children run in their own session so a terminal's Ctrl-C reaches only the demo, which then stops
them in the right order (the simulator flushes into a collector that is still running). On Linux a
child also gets SIGTERM if the demo itself dies, so no collector is left orphaned on its port.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return set_death_signal


_PREEXEC = _die_with_parent()


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose_port(host: str, wanted: int, taken: set[int]) -> int:
    """``wanted`` if it is free (0 means any), else a free ephemeral port."""
    if wanted and wanted not in taken and port_free(host, wanted):
        return wanted
    while True:
        port = free_port(host)
        if port not in taken:
            return port


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Child:
    """One child process whose output goes to a log file; chosen lines are echoed to the console."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        echo: Callable[[str], bool] = lambda line: False,
        console: IO[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._echo = echo
        self._console = console if console is not None else sys.stderr
        self._env = env
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.tail: deque[str] = deque(maxlen=30)
        #: Held while the child restarts, so a watcher never sees the planned exit as a crash.
        self._lock = threading.RLock()

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
            preexec_fn=_PREEXEC,  # noqa: PLW1509 - only sets the parent-death signal
            env=self._env,
        )
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                self.tail.append(line.rstrip("\n"))
                if self._echo(line):
                    self._console.write(f"[{self.name}] {line}")
                    self._console.flush()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        with self._lock:
            return self.process.poll() if self.process else None

    def restart(self, argv: Sequence[str]) -> int | None:
        """Stop the child, then start it again with ``argv``; returns the old one's exit code."""
        with self._lock:
            code = self.stop()
            self.argv = list(argv)
            self.start()
            return code

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, wait, then SIGKILL if it would not stop; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        if self.process.stdout is not None and not (self._reader and self._reader.is_alive()):
            self.process.stdout.close()
        return self.process.returncode

    def last_lines(self, count: int = 12) -> str:
        return "\n".join(list(self.tail)[-count:])


def wait_until(
    condition: Callable[[], bool], timeout_s: float, alive: Callable[[], bool], step_s: float = 0.25
) -> bool:
    """Poll ``condition`` until true, the deadline, or ``alive()`` turning false."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        if not alive():
            return False
        time.sleep(step_s)
    return condition()


__all__ = ["Child", "choose_port", "free_port", "http_ok", "port_free", "wait_until"]
